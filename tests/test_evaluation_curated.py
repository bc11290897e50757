"""The ``curated`` condition: constraints read from a file, retrieved like distilled ones, nothing distilled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from evaluation_data import CATEGORY, DEV, DEV2, make_config, write_tasks
from evaluation_team import Team, evaluate, latest
from langgraph.store.memory import InMemoryStore

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation import (
    Condition,
    TranscriptLog,
    arun_evaluation,
    curated_condition,
    load_curated,
    load_datasets,
    plan_evaluation,
)
from memcollab_langgraph.evaluation.ledger import Ledger
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.schema import Constraint

PER_CONTAINER = {
    "when": "an amount is given per container and several containers are asked about",
    "enforce": "multiply the amount per container by the number of containers",
    "avoid": "adding the two numbers",
    "category": CATEGORY,
}
ELSEWHERE = {
    "when": "an equation has one unknown",
    "enforce": "isolate the unknown on one side",
    "avoid": "dividing by an expression that can be zero",
    "category": "math/algebra/linear_equations",
}
DEV_IDS = {t["id"] for t in DEV + DEV2}


def write_curated(path: Path, rules: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rules), encoding="utf-8")
    return path


def test_the_curated_condition_is_a_file_memory_without_builders() -> None:
    condition = curated_condition(k=2)
    assert (condition.name, condition.memory, condition.k, condition.method) == ("curated", "file", 2, None)
    assert condition.builders_for("small", ["small", "big"]) == ()
    assert condition.bank_name("small", ["small", "big"]) is None  # named by the file's content, not by agents
    with pytest.raises(ConfigurationError, match="memory='file' reads its constraints from a file"):
        Condition(name="bad", memory="file", method="contrastive")
    with pytest.raises(ConfigurationError, match="needs a retrieval variant"):
        Condition(name="bad", memory="file", retrieval="none")


def test_curated_constraints_are_retrieved_like_distilled_ones_and_nothing_is_distilled(tmp_path: Path) -> None:
    write_curated(tmp_path / "rules.jsonl", [PER_CONTAINER, ELSEWHERE])
    config = make_config(tmp_path, conditions=["vanilla", "curated"], curated="rules.jsonl")
    team = Team()
    store = InMemoryStore()
    run = evaluate(config, team, store)

    assert team.count("distill") == 0
    assert {task for _, task in team.solved} == DEV_IDS  # no training task is solved
    results = latest(run)
    curated = {key: r for key, r in results.items() if key[0] == "curated"}
    assert len(curated) == 2 * len(DEV_IDS)
    [bank] = {r.bank for r in curated.values()}
    assert bank is not None
    assert bank.startswith("curated-rules-")
    expected = Constraint.model_validate(PER_CONTAINER)
    for r in curated.values():
        assert r.memory_source == ["file:rules.jsonl"]
        assert r.retrieved_ids == [expected.fingerprint]  # its category only: the algebra rule is not retrieved
        assert r.correct  # the small fake answers right when constraints are in its prompt
    assert not all(r.correct for key, r in results.items() if key[0] == "vanilla")
    for key, transcript in TranscriptLog(run).latest().items():
        assert (expected.text in transcript.messages[0]["content"]) == (key[0] == "curated")

    entry = Ledger(run).read()[bank]
    assert (entry["complete"], entry["constraints"], entry["read"]) == (True, 2, 2)
    assert entry["file"] == str(tmp_path / "rules.jsonl")
    assert "file:rules.jsonl" in (run / "summary.md").read_text(encoding="utf-8")  # the "memory from" column

    again = Team()
    evaluate(config, again, store)  # finished: nothing solved, nothing imported twice
    assert sum(again.calls.values()) == 0
    assert len(MemoryBank(store, name=bank).list_constraints()) == 2


async def test_the_async_runner_imports_the_curated_constraints_the_same_way(tmp_path: Path) -> None:
    write_curated(tmp_path / "rules.jsonl", [PER_CONTAINER, ELSEWHERE])
    config = make_config(tmp_path, conditions=["vanilla", "curated"], curated="rules.jsonl")
    sync_run = evaluate(config, Team(), InMemoryStore())
    async_config = config.model_copy(update={"run_id": "curated-async"})
    with Runtime(async_config.team_for_run(), models=Team().models(), store=InMemoryStore()) as rt:
        async_run = await arun_evaluation(async_config, rt, progress=False)
    assert Ledger(async_run).read().keys() == Ledger(sync_run).read().keys()
    expected = Constraint.model_validate(PER_CONTAINER).fingerprint
    curated = [r for key, r in latest(async_run).items() if key[0] == "curated"]
    assert curated
    assert all(r.retrieved_ids == [expected] for r in curated)
    assert {k: r.correct for k, r in latest(async_run).items()} == {k: r.correct for k, r in latest(sync_run).items()}


def test_an_interrupted_import_adds_nothing_twice(tmp_path: Path) -> None:
    write_curated(tmp_path / "rules.jsonl", [PER_CONTAINER, ELSEWHERE])
    config = make_config(tmp_path, conditions=["vanilla", "curated"], curated="rules.jsonl")
    store = InMemoryStore()
    first = load_curated(config)
    assert first is not None
    MemoryBank(store, name=first.name, taxonomy="math").add_many(first.constraints)  # imported, ledger not written
    run = evaluate(config, Team(), store)
    [entry] = Ledger(run).read().values()
    assert entry["constraints"] == 2
    assert all(c.support == 1 for c in MemoryBank(store, name=first.name).list_constraints())


def test_another_file_content_is_another_run(tmp_path: Path) -> None:
    path = write_curated(tmp_path / "rules.jsonl", [PER_CONTAINER])
    config = make_config(tmp_path, conditions=["vanilla", "curated"], curated="rules.jsonl")
    evaluate(config, Team(), InMemoryStore())
    spaced = {key: f"  {value}  " if key != "category" else value for key, value in PER_CONTAINER.items()}
    write_curated(path, [spaced])  # the same constraint, written differently: the same bank
    plan = plan_evaluation(config, load_datasets(config), load_curated(config))
    assert plan.curated is not None
    assert plan.curated.name in {i.bank for i in plan.items}
    evaluate(config, Team(), InMemoryStore())
    write_curated(path, [{**PER_CONTAINER, "avoid": "dividing the two numbers"}])
    with pytest.raises(ConfigurationError, match=r"changed: \['curated'\]"):
        evaluate(config, Team(), InMemoryStore())


def test_curated_needs_no_training_tasks_and_no_builder_consumer(tmp_path: Path) -> None:
    write_curated(tmp_path / "rules.jsonl", [PER_CONTAINER])
    write_tasks(tmp_path / "dev.jsonl", DEV)
    config = make_config(
        tmp_path,
        conditions=["vanilla", "curated"],
        curated="rules.jsonl",
        builders=["big"],
        consumers=["small"],
        datasets=[{"name": "toy", "eval": {"path": "dev.jsonl"}}],
    )
    team = Team()
    run = evaluate(config, team, InMemoryStore())
    assert {agent for agent, _ in team.solved} == {"small"}
    assert sum(1 for key in latest(run) if key[0] == "curated") == len(DEV)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"conditions": ["vanilla", "curated"]}, "the 'curated' condition reads its constraints from this file; set"),
        ({"conditions": ["vanilla"], "curated": "rules.jsonl"}, "no condition reads it; add 'curated' to conditions"),
    ],
)
def test_the_curated_condition_and_its_file_come_together(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_config(tmp_path, **overrides)


def test_a_bad_curated_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    path = tmp_path / "rules.jsonl"
    config = make_config(tmp_path, conditions=["vanilla", "curated"], curated="rules.jsonl")
    with pytest.raises(ConfigurationError, match=r"cannot read constraints from .*rules\.jsonl"):
        load_curated(config)
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"holds no constraints; write one JSON object per line"):
        load_curated(config)
    write_curated(path, [PER_CONTAINER, {**ELSEWHERE, "category": "math/algebra/knitting"}])
    with pytest.raises(ConfigurationError, match=r"rules\.jsonl: constraint 2 \('When an equation.*knitting"):
        load_curated(config)
    write_curated(path, [PER_CONTAINER])
    with pytest.raises(
        ConfigurationError, match=r"needs its constraints: plan_evaluation\(config, datasets, load_curated"
    ):
        plan_evaluation(config, load_datasets(config))
    team = Team()
    write_curated(path, [{**PER_CONTAINER, "enforce": ""}])
    with pytest.raises(ConfigurationError, match=r"rules\.jsonl:1: invalid constraint at 'enforce'"):
        evaluate(config, team, InMemoryStore())
    assert sum(team.calls.values()) == 0
