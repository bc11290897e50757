"""A small evaluation run made with the offline fakes, for the ``read_evaluation`` notebook and CI.

:func:`offline_evaluation` runs the real evaluation runner
(:func:`~memcollab_langgraph.evaluation.run_evaluation`) for two conditions, ``vanilla`` and
``memcollab``, with the scripted models of :mod:`graphs.offline`: the numbers are scripted, the run
directory and its reading are real (``items.jsonl``, ``plan.json``, ``banks.json`` and the report).
"""

from __future__ import annotations

from pathlib import Path

from langgraph.store.memory import InMemoryStore

from graphs.offline import fake_models
from graphs.team import DEFAULT_CONFIG
from memcollab_langgraph.config import Config, load_config
from memcollab_langgraph.evaluation import DatasetConfig, EvalConfig, ResultsStore, TaskFileConfig, run_evaluation
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.tasks import demo_tasks, write_tasks

__all__ = ["offline_evaluation"]


def offline_evaluation(root: str | Path, *, run_id: str = "offline", config: Config | None = None) -> ResultsStore:
    """Run a small evaluation with the fakes: ``vanilla`` vs ``memcollab`` on the demo tasks.

    The memory is built from two thirds of the demo training tasks; every agent then solves the rest
    and the held-out tasks, math and code as two data sets sharing that memory, without memory and
    with it. The task files and the run go to ``root`` (the run in ``<root>/<run_id>``).
    """
    config = config or load_config(DEFAULT_CONFIG)
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    train = demo_tasks("train")
    build, evaluate = [t for i, t in enumerate(train) if i % 3], [*train[::3], *demo_tasks("heldout")]
    write_tasks(root / "build.jsonl", build)
    datasets = []
    for domain in ("math", "code"):
        write_tasks(root / f"{domain}.jsonl", [t for t in evaluate if t.domain == domain])
        datasets.append(
            DatasetConfig(
                name=domain,
                train=TaskFileConfig(path=root / "build.jsonl"),
                eval=TaskFileConfig(path=root / f"{domain}.jsonl"),
            )
        )
    evaluation = EvalConfig(
        team=config, run_id=run_id, results=root, conditions=["vanilla", "memcollab"], datasets=datasets
    )
    with Runtime(evaluation.team_for_run(), models=fake_models(config), store=InMemoryStore()) as rt:
        run_evaluation(evaluation, rt, progress=False)
    return ResultsStore(root, run_id)
