"""The analysis scripts under ``scripts/`` on a run of fake models."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from evaluation_data import DEV, make_config
from evaluation_team import Team, evaluate
from langgraph.store.memory import InMemoryStore

from memcollab_langgraph.evaluation import ResultsStore

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
