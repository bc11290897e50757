"""Loaders and verifiers fit together on the real benchmark files: each dataset's own reference passes.

Reads the public files in ``../shared/data`` (never copied into the project) and skips a file that is
absent. The sandbox is real; only the first records of each file are run, a few at a time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from memcollab_langgraph.schema import Task
from memcollab_langgraph.tasks import HUMANEVAL_ERRATA, detect_format, load_tasks
from memcollab_langgraph.verifiers import Verdict, verify_code, verify_math

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
N_CODE = 20
N_MATH = 50

pytestmark = pytest.mark.slow


def data_file(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path


def run_all(check: Callable[[Task], Verdict], tasks: list[Task]) -> dict[str, Verdict]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip([t.id for t in tasks], pool.map(check, tasks), strict=True))


def assert_all_correct(verdicts: dict[str, Verdict]) -> None:
    failed = {task_id: v.detail for task_id, v in verdicts.items() if not v.correct}
    assert not failed, failed


@pytest.mark.parametrize("name", ["gsm8k_train.jsonl", "gsm8k_dev.jsonl"])
def test_gsm8k_ground_truth_verifies_against_itself(name: str) -> None:
    path = data_file(name)
    tasks = load_tasks(path, limit=N_MATH)
    assert len(tasks) == N_MATH
    assert len({t.id for t in tasks}) == N_MATH
    for task in tasks:
        assert task.id.startswith("gsm8k/")
        assert task.domain == "math"
        assert task.answer is not None
        assert verify_math(task, task.answer).correct, task.id
        # The whole worked solution counts too: its "#### x" line is the answer.
        verdict = verify_math(task, task.metadata["reference_solution"])
        assert verdict.correct, (task.id, verdict.detail)
        assert verdict.rule == "gsm8k_marker"
        assert not verify_math(task, str(float(task.answer.replace(",", "")) + 1)).correct


def test_gsm8k_ids_are_stable_and_distinct_across_files() -> None:
    train, dev = data_file("gsm8k_train.jsonl"), data_file("gsm8k_dev.jsonl")
    first = [t.id for t in load_tasks(dev, limit=N_MATH)]
    assert [t.id for t in load_tasks(dev, limit=N_MATH)] == first
    assert [t.id for t in load_tasks(dev, offset=10, limit=5)] == first[10:15]
    assert not set(first) & {t.id for t in load_tasks(train, limit=N_MATH)}


@pytest.mark.parametrize("name", ["mbpp_train.jsonl", "mbpp_dev.jsonl"])
def test_mbpp_reference_code_passes_its_tests(name: str) -> None:
    path = data_file(name)
    tasks = load_tasks(path, limit=N_CODE)
    assert detect_format(json.loads(path.read_text().splitlines()[0])) == "mbpp"
    assert len(tasks) == N_CODE
    for task in tasks:
        assert task.id.startswith("mbpp/")
        assert len(task.tests) >= 3
        assert task.visible_tests == task.tests[:1]  # so the hidden run covers the visible test too
        assert task.entry_point is not None
        assert f"`def {task.entry_point}(" in task.question
    verdicts = run_all(lambda t: verify_code(t, t.metadata["reference_solution"], timeout_s=20), tasks)
    assert_all_correct(verdicts)
    assert all(v.passed == len(t.tests) for t, v in zip(tasks, verdicts.values(), strict=True))


def _humaneval_all_tests(task: Task) -> Verdict:
    """One sandbox run of the visible asserts followed by the hidden check()."""
    combined = task.model_copy(update={"tests": [*task.visible_tests, *task.tests]})
    return verify_code(combined, task.metadata["reference_solution"], timeout_s=20)


def test_humaneval_canonical_solution_passes_hidden_and_visible_tests() -> None:
    path = data_file("humaneval.jsonl")
    tasks = load_tasks(path, limit=N_CODE)
    assert [t.id for t in tasks] == [f"HumanEval/{i}" for i in range(N_CODE)]
    for task in tasks:
        assert task.tests == [f"check({task.entry_point})"]
        assert task.test_setup is not None
        assert "def check(" in task.test_setup
        assert task.metadata["reference_solution"].startswith(task.question)
    assert sum(bool(t.visible_tests) for t in tasks) >= 15  # most prompts have parseable examples
    assert_all_correct(run_all(_humaneval_all_tests, tasks))


def test_humaneval_errata_are_dropped_and_the_rest_still_pass() -> None:
    path = data_file("humaneval.jsonl")
    by_id = {t.id: t for t in load_tasks(path) if t.id in HUMANEVAL_ERRATA}
    assert sorted(by_id) == sorted(HUMANEVAL_ERRATA)
    for task_id, task in by_id.items():
        assert not HUMANEVAL_ERRATA[task_id] & set(task.visible_tests)
    assert_all_correct(run_all(_humaneval_all_tests, list(by_id.values())))
    # The dropped examples really contradict the canonical solution.
    wrong = [t.model_copy(update={"tests": sorted(HUMANEVAL_ERRATA[t.id])}) for t in by_id.values()]
    verdicts = run_all(lambda t: verify_code(t, t.metadata["reference_solution"]), wrong)
    assert not any(v.correct for v in verdicts.values())
