"""The analysis scripts under ``scripts/`` on a run of fake models."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from evaluation_data import CATEGORY, DEV, make_config
from evaluation_team import Team, evaluate
from langgraph.store.memory import InMemoryStore

from memcollab_langgraph.evaluation import ItemResult, ResultsStore, Transcript
from memcollab_langgraph.evaluation.config import RUN_MEMORY_COLLECTION
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.schema import Constraint, Task
from memcollab_langgraph.store import ChromaStore
from memcollab_langgraph.tasks import load_tasks

REPO = Path(__file__).resolve().parents[1]


def script(name: str) -> ModuleType:
    if str(REPO / "scripts") not in sys.path:  # as when run as `python scripts/NAME.py`: its helpers import
        sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_memory_by_category_counts_gains_and_losses_per_classified_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_category = script("memory_by_category")
    run = evaluate(make_config(tmp_path, conditions=["vanilla", "memcollab"]), Team(), InMemoryStore())
    hard = sum(1 for t in DEV if not t["metadata"]["easy"])
    # The fake classifier files every task under prealgebra; small is right with memory, or on easy tasks.
    by_category.main([str(run), "--dataset", "toy"])
    table = capsys.readouterr().out
    assert (
        f"| small | memcollab | listed categories | {len(DEV)} | {len(DEV) - hard} | {len(DEV)} | {hard} | 0 |" in table
    )
    assert f"| big | memcollab | listed categories | {len(DEV)} | {len(DEV)} | {len(DEV)} | 0 | 0 |" in table
    by_category.main([str(run), "--dataset", "toy", "--group", "math/algebra"])
    assert f"| small | memcollab | other categories | {len(DEV)} |" in capsys.readouterr().out
    assert by_category.group_of("math", ["math/algebra"]) == "domain only"


def test_constraints_by_preference_joins_the_build_reports_with_annotations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_preference = script("constraints_by_preference")
    run = evaluate(make_config(tmp_path, conditions=["vanilla", "memcollab"]), Team(), InMemoryStore())
    reports = by_preference.read_reports(run / "checkpoints.sqlite")
    added = [
        (thread.split(":", 1)[0], r.rule, o.id)
        for thread, found in reports.items()
        for r in found
        for o in r.accepted
        if o.action == "added"
    ]
    assert added, "the fake build stored constraints"
    assert {rule for _, rule, _ in added} <= {"one_correct", "strongest_correct", "strongest_incorrect"}
    # One file judges wrongness for every constraint, the other for none: only the first gets the column.
    first, rest = added[:1], added[1:]
    judged = tmp_path / "judged.jsonl"
    judged.write_text("".join(json.dumps({"id": i, "label": "useful", "wrong": True}) + "\n" for *_, i in first))
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps({"id": i, "label": "specific"}) + "\n" for *_, i in rest))

    table = by_preference.tally(reports, by_preference.read_labels([judged, plain]))
    assert sum(row["constraints"] for row in table.values()) == len(added)
    bank, rule, _ = first[0]
    assert table[bank, rule]["useful"] == 1
    assert table[bank, rule]["wrong"] == 1
    assert table[bank, rule]["correct useful"] == 0
    assert sum(row["specific"] for row in table.values()) == len(rest)

    by_preference.main([str(run), str(judged)])
    out = capsys.readouterr().out
    assert f"| {bank} | {rule} | {table[bank, rule]['tasks']} | 1 | 1 (0) | 0 | 0 | 1 |" in out


def test_retrieved_labels_groups_memory_items_by_the_annotation_of_what_they_retrieved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    retrieved_labels = script("retrieved_labels")
    run = evaluate(make_config(tmp_path, conditions=["vanilla", "memcollab"]), Team(), InMemoryStore())
    every = ResultsStore(run.parent, run.name).latest()
    memory = sorted((r for r in every if r.dataset == "toy" and r.condition == "memcollab"), key=lambda r: r.key)
    assert len(memory) >= 5
    # The fake bank holds one constraint: give the items other retrievals, one per group.
    retrieved = [["w", "u"], ["u", "v"], ["v", "s"], ["u", "unknown"], []]
    items = [r for r in every if r.condition == "vanilla"] + [
        r.model_copy(update={"retrieved_ids": ids}) for r, ids in zip(memory, retrieved, strict=False)
    ]
    labels = tmp_path / "labels.jsonl"
    rows = [("w", "useful", True), ("u", "useful", False), ("v", "vacuous", False), ("s", "specific", False)]
    labels.write_text("".join(json.dumps({"id": i, "label": label, "wrong": wrong}) + "\n" for i, label, wrong in rows))
    table = retrieved_labels.tally(items, "toy", retrieved_labels.read_labels([labels]))
    counted: Counter[str] = Counter()
    for (_, _, group), (n, *_) in table.items():
        counted[group] += n
    assert counted == Counter({"a wrong one": 1, "a useful one": 1, "none useful": 1, "not annotated": 1, "nothing": 1})
    first = memory[0]
    base = next(r for r in every if r.key == first.key._replace(condition="vanilla"))
    before, now = bool(base.correct), bool(first.correct)
    assert table[first.agent, "memcollab", "a wrong one"] == [1, before, now, now and not before, before and not now]

    retrieved_labels.main([str(run), str(labels), "--dataset", "toy"])  # the run's own items: one unlabelled id
    out = capsys.readouterr().out
    assert "| memcollab | not annotated |" in out
    assert "a wrong one" not in out


def test_constraint_echo_groups_memory_items_by_words_copied_from_their_constraints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    echo = script("constraint_echo")
    run = evaluate(make_config(tmp_path, conditions=["vanilla", "memcollab"]), Team(), InMemoryStore())
    every = [r for r in ResultsStore(run.parent, run.name).latest() if r.dataset == "toy"]
    tasks = {t.id: t for t in load_tasks(tmp_path / "dev.jsonl")}
    first, second, third = sorted(tasks)
    constraints = {
        "steps": "the loop walks a list | iterate in steps of n | stepping by one",
        "multiply": "two counts are given | multiply the two numbers | adding them",
        "story": f"{tasks[second].question} | count every box | guessing",
    }
    answers = {  # (agent, condition, task) -> (answer, retrieved ids)
        ("big", "vanilla", third): ("So we multiply the two numbers.", []),
        ("big", "memcollab", first): ("# iterate in steps of n\nprint(56)", ["steps"]),
        ("big", "memcollab", second): ("We multiply the two numbers: 54.", ["multiply"]),  # big wrote it alone
        ("big", "memcollab", third): ("60", []),
        ("small", "memcollab", first): ("We multiply the two numbers: 56.", ["multiply"]),  # small never did
        ("small", "memcollab", second): (f"{tasks[second].question} 54", ["story"]),  # words of the task
        ("small", "memcollab", third): ("60", ["steps"]),
    }

    def rewrite(r: ItemResult, found: tuple[str, list[str]] | None) -> ItemResult:
        return r if found is None else r.model_copy(update={"answer": found[0], "retrieved_ids": found[1]})

    items = [rewrite(r, answers.get((r.agent, r.condition, r.task_id))) for r in every]
    table = echo.tally(items, "toy", tasks, constraints)
    counted = {(agent, group): row[0] for (agent, _, group), row in table.items()}
    assert counted == {
        ("big", "echoes"): 1,
        ("big", "no echo"): 1,
        ("big", "nothing"): 1,
        ("small", "echoes"): 1,
        ("small", "no echo"): 2,
    }
    mine = next(r for r in items if r.agent == "small" and r.condition == "memcollab" and r.task_id == first)
    base = next(r for r in items if r.agent == "small" and r.condition == "vanilla" and r.task_id == first)
    before, now = bool(base.correct), bool(mine.correct)
    assert table["small", "memcollab", "echoes"] == [1, before, now, now and not before, before and not now]
    by_echo = echo.losses_by_echo(table)
    assert set(by_echo) == {("big", "memcollab"), ("small", "memcollab")}
    # Among the tasks right without memory, all 10 echoing answers lost and none of the 10 others.
    assert echo.losses_by_echo(
        {("a", "m", "echoes"): [20, 10, 0, 0, 10], ("a", "m", "no echo"): [20, 10, 10, 0, 0]}
    ) == {("a", "m"): (10, 10, 0, 10, 2 / math.comb(20, 10))}
    # Three-word runs catch what four-word runs miss: "steps of n" alone.
    shorter = [rewrite(r, ("steps of n", ["steps"])) if r is mine else r for r in items]
    assert echo.tally(shorter, "toy", tasks, constraints)["small", "memcollab", "no echo"][0] == 3
    assert echo.tally(shorter, "toy", tasks, constraints, n=3)["small", "memcollab", "echoes"][0] == 1
    # A kept transcript is read instead of the answer: every reply, not the system prompt.
    last = next(r for r in items if r.agent == "small" and r.condition == "memcollab" and r.task_id == third)
    messages = [
        {"role": "system", "content": "Constraints: iterate in steps of n"},
        {"role": "assistant", "content": "60"},
    ]
    kept = {last.key: Transcript(run_id="smoke", **last.key._asdict(), messages=messages)}
    assert echo.tally(items, "toy", tasks, constraints, transcripts=kept)["small", "memcollab", "no echo"][0] == 2
    messages.append({"role": "assistant", "content": "Let me iterate in steps of n. 60"})
    kept = {last.key: Transcript(run_id="smoke", **last.key._asdict(), messages=messages)}
    assert echo.tally(items, "toy", tasks, constraints, transcripts=kept)["small", "memcollab", "echoes"][0] == 2
    with pytest.raises(ValueError, match="retrieved constraint 'multiply' is not among the constraints read"):
        echo.tally(items, "toy", tasks, {k: v for k, v in constraints.items() if k != "multiply"})
    with pytest.raises(ValueError, match=f"task '{first}' is not in the task file"):
        echo.tally(items, "toy", {k: v for k, v in tasks.items() if k != first}, constraints)

    # From the command line, on the run's own items and constraint texts written for their ids.
    retrieved = {i for r in every for i in r.retrieved_ids}
    assert retrieved
    texts = tmp_path / "constraints.jsonl"
    rows = [
        {"id": i, "when": "a box holds pens", "enforce": "count pens in every box", "avoid": "guessing"}
        for i in retrieved
    ]
    texts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    echo.main([str(run), str(texts), "--dataset", "toy", "--tasks", str(tmp_path / "dev.jsonl")])
    out = capsys.readouterr().out
    assert "| memcollab | no echo |" in out
    assert "| echoes |" not in out
    texts.write_text(json.dumps({"id": "x", "when": "w"}) + "\n")
    with pytest.raises(ValueError, match=r"constraints.jsonl:1: a constraint record needs enforce, avoid"):
        echo.main([str(run), str(texts), "--dataset", "toy", "--tasks", str(tmp_path / "dev.jsonl")])


def test_constraint_echo_reads_every_bank_of_the_run_memory_store(tmp_path: Path) -> None:
    echo = script("constraint_echo")
    run = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match=r"banks\.json not found"):
        echo.read_run_constraints(run)
    kept = Constraint(when="a list is walked", enforce="step by one", avoid="skipping", category=CATEGORY)
    gone = Constraint(when="two counts", enforce="multiply them", avoid="adding", category=CATEGORY)
    with ChromaStore(path=run / "memory", collection_name=RUN_MEMORY_COLLECTION) as store:
        MemoryBank(store, name="first", taxonomy="math").add(kept)
        second = MemoryBank(store, name="second", taxonomy="math")
        second.add(gone)
        second.archive(gone.id)
        MemoryBank(store, name="unlisted", taxonomy="math").add(
            Constraint(when="w", enforce="e", avoid="a", category=CATEGORY)
        )
    (run / "banks.json").write_text(json.dumps({"first": {"complete": True}, "second": {"complete": True}}))
    assert echo.read_run_constraints(run) == {
        kept.id: "a list is walked | step by one | skipping",
        gone.id: "two counts | multiply them | adding",
    }


def _code_task(**kw: object) -> Task:
    fields: dict[str, object] = {
        "id": "code/square",
        "domain": "code",
        "question": "Write square(x).",
        "tests": ["assert square(2) == 4", "assert square(3) == 9"],
        "visible_tests": ["assert square(2) == 4"],
        "entry_point": "square",
    }
    return Task.model_validate(fields | kw)


@pytest.mark.parametrize(
    ("program", "mode"),
    [
        ("", "no program"),
        ("def square(x:\n    return x", "not Python"),
        ("def cube(x):\n    return x ** 3", "no entry point"),
        ("def square(x):\n    return x + 1\n\nassert square(1) == 1", "crashes on load"),
        ("def square(x):\n    raise ValueError(x)", "error on visible tests"),
        ("def square(x):\n    return 0", "wrong on visible tests"),
        ("def square(x):\n    return 2 * x", "passes visible, fails hidden"),
        ("def square(x):\n    while True:\n        pass", "timeout"),
        ("def square(x):\n    return x * x", "passes on re-run"),
        ("square = lambda x: x * x", "passes on re-run"),
        ("try:\n    from operator import neg as square\nexcept ImportError:\n    pass", "wrong on visible tests"),
    ],
)
def test_code_failures_files_a_program_under_the_first_mode_that_describes_it(program: str, mode: str) -> None:
    failures = script("code_failures")
    assert failures.failure_mode(_code_task(), program, timeout_s=3) == mode


def test_code_failures_without_visible_tests_and_the_function_alone() -> None:
    failures = script("code_failures")
    hidden_only = _code_task(visible_tests=[])
    assert failures.failure_mode(hidden_only, "def square(x):\n    return 0", timeout_s=3) == "no visible tests"
    pasted = "import math\nLIMIT = 3\n\ndef square(x):\n    return x * x\n\nprint(square(2))\nassert square(2) == 5\n"
    alone = failures.definitions_only(pasted)
    assert alone is not None
    assert "import math" in alone
    assert "LIMIT = 3" in alone
    assert "assert" not in alone
    assert "print" not in alone
    assert failures.failure_mode(_code_task(), pasted, timeout_s=3) == "crashes on load"
    assert failures.failure_mode(_code_task(), alone, timeout_s=3) == "passes on re-run"
    assert failures.definitions_only("def (") is None
    # The visible test passes and the hidden one runs out of time: a timeout, not a wrong value.
    slow = _code_task(tests=["assert square(2) == 4", "assert square(-1) == 1"])
    looping = "def square(x):\n    while x < 0:\n        pass\n    return x * x"
    assert failures.failure_mode(slow, looping, timeout_s=3) == "timeout"


def test_code_failures_reports_lost_items_and_feedback_repairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = script("code_failures")
    tasks = tmp_path / "tasks.jsonl"
    rows = [_code_task(id=f"code/{n}").model_dump(exclude_none=True) for n in ("a", "b", "c")]
    tasks.write_text("".join(json.dumps(row) + "\n" for row in rows))
    right, wrong = "def square(x):\n    return x * x", "def square(x):\n    return 0"

    def item(task: str, condition: str, answer: str, correct: bool, turns: int = 1) -> ItemResult:
        return ItemResult(
            run_id="run", condition=condition, agent="small", model="m", dataset="code", task_id=f"code/{task}",
            correct=correct, answer=answer, turns=turns,
        )  # fmt: skip

    items = [
        item("a", "vanilla", right, True),
        item("b", "vanilla", right, True, turns=2),  # repaired by feedback
        item("c", "vanilla", wrong, False, turns=3),
        item("a", "memcollab", wrong, False, turns=3),  # lost
        item("b", "memcollab", right, True),
        item("c", "memcollab", wrong, False, turns=3),  # never solved: not lost
    ]
    assert [r.task_id for r in failures.lost_items(items, "code")] == ["code/a"]
    repairs = failures.feedback_repairs(items, "code")
    assert repairs == {("small", "memcollab"): (3, 2, 0), ("small", "vanilla"): (3, 2, 1)}
    ResultsStore(tmp_path, "run").extend(items)

    failures.main([str(tmp_path / "run"), "--dataset", "code", "--tasks", str(tasks), "--list"])
    out = capsys.readouterr().out
    assert "| small | memcollab | 1 | 1 |" in out  # one lost, wrong on its visible test
    assert "| small | memcollab | code/a | 3 | wrong on visible tests | wrong on visible tests |" in out
    assert "| small | vanilla | 3 | 2 | 1 |" in out
    with pytest.raises(SystemExit, match=r"no 'mbpp' items; --dataset is one of \['code'\]"):
        failures.main([str(tmp_path / "run"), "--dataset", "mbpp", "--tasks", str(tasks)])
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(rows[1]) + "\n")
    with pytest.raises(SystemExit, match=r"task 'code/a' of the run is not in .*other\.jsonl"):
        failures.main([str(tmp_path / "run"), "--dataset", "code", "--tasks", str(other)])
