"""A small evaluation run made with the offline fakes, for the ``read_evaluation`` notebook and CI.

:func:`offline_evaluation` writes what an evaluation run writes (``items.jsonl`` and ``plan.json`` of
:class:`~memcollab_langgraph.evaluation.ResultsStore`) for two conditions, ``vanilla`` and
``memcollab``, with the scripted models of :mod:`graphs.offline`: the numbers are scripted, the files
and their reading are real.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from graphs import build_memory, solve_with_memory
from graphs.offline import fake_models
from graphs.team import DEFAULT_CONFIG
from memcollab_langgraph import run_tasks
from memcollab_langgraph.config import Config, load_config
from memcollab_langgraph.evaluation import (
    VANILLA,
    ItemKey,
    ResultsStore,
    RunPlan,
    check_no_leakage,
    result_from_solve,
    standard_conditions,
)
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.tasks import demo_tasks

__all__ = ["offline_evaluation"]


def offline_evaluation(root: str | Path, *, run_id: str = "offline", config: Config | None = None) -> ResultsStore:
    """Write a small evaluation run made with the fakes: ``vanilla`` vs ``memcollab`` on demo tasks.

    A stand-in until the evaluation runner lands. The memory is built from two thirds of the demo
    training tasks; every agent then solves the rest and the held-out tasks without memory (an empty
    bank) and with it. Results go to ``<root>/<run_id>/items.jsonl`` with a ``plan.json``.
    """
    config = config or load_config(DEFAULT_CONFIG)
    train = demo_tasks("train")
    build, evaluate = [t for i, t in enumerate(train) if i % 3], [*train[::3], *demo_tasks("heldout")]
    check_no_leakage(build, evaluate)
    conditions = {c.name: c for c in standard_conditions()}
    banks = {VANILLA: "offline-empty", "memcollab": "offline-memcollab"}
    results = ResultsStore(root, run_id)
    with Runtime(config, models=fake_models(config), store=InMemoryStore()) as rt:
        builder = build_memory.build_graph(rt, bank_name=banks["memcollab"])
        run_tasks(builder.compile(checkpointer=InMemorySaver(), store=rt.store), build, progress=False)
        keys = [ItemKey(c, a, t.domain, t.id) for c in banks for a in rt.agents for t in evaluate]
        results.write_plan(RunPlan.of(run_id, keys, [conditions[c] for c in banks], {"models": "offline fakes"}))
        for condition, bank in banks.items():
            solver = solve_with_memory.build_graph(rt, bank_name=bank).compile(store=rt.store)
            for key in (k for k in keys if k.condition == condition):
                task = next(t for t in evaluate if t.id == key.task_id)
                started = datetime.now(UTC)
                output = solver.invoke({"task": task, "agent": key.agent})
                results.append(
                    result_from_solve(
                        output,
                        run_id=run_id,
                        condition=condition,
                        dataset=key.dataset,
                        started_at=started,
                        finished_at=datetime.now(UTC),
                        memory_source=list(rt.agents) if condition != VANILLA else [],
                        bank=bank,
                    )
                )
    return results
