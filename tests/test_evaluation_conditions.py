"""Conditions as data: the standard set, builders per consumer, shared banks, transfer matrix, leakage."""

from __future__ import annotations

import doctest
from dataclasses import asdict

import pytest
from pydantic import TypeAdapter

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation import conditions as conditions_module
from memcollab_langgraph.evaluation.conditions import (
    VANILLA,
    Condition,
    check_no_leakage,
    is_transfer,
    plan_cells,
    standard_conditions,
    transfer_matrix_conditions,
)
from memcollab_langgraph.memory.records import check_bank_name
from memcollab_langgraph.schema import Task

TEAM = ["small", "big", "llama"]


def by_name() -> dict[str, Condition]:
    return {c.name: c for c in standard_conditions()}


def test_standard_conditions_cover_the_papers_baselines() -> None:
    conds = by_name()
    assert list(conds) == [VANILLA, "self_memory", "naive_transfer", "self_contrast", "memcollab"]
    assert not conds[VANILLA].uses_memory
    assert conds[VANILLA].retrieval == "none"
    assert [(c.memory, c.method) for c in conds.values()][1:] == [
        ("self", "self"),
        ("others", "naive_transfer"),
        ("self", "self_contrast"),
        ("all", "contrastive"),
    ]
    assert all(c.retrieval == "task_aware" and c.ranker == "bm25" and c.k == 3 for c in list(conds.values())[1:])
    assert conds["self_contrast"].samples == 2


def test_builders_are_resolved_per_consumer() -> None:
    conds = by_name()
    assert conds[VANILLA].builders_for("small", TEAM) == ()
    assert conds["self_memory"].builders_for("big", TEAM) == ("big",)
    assert conds["naive_transfer"].builders_for("small", TEAM) == ("big", "llama")
    assert conds["memcollab"].builders_for("llama", TEAM) == ("small", "big", "llama")
    explicit = Condition(name="from-big", memory="agents", builders=("llama", "big"), method="contrastive")
    assert explicit.builders_for("small", TEAM) == ("big", "llama")  # team order


def test_single_source_methods_build_one_run_per_builder() -> None:
    conds = by_name()
    assert conds["naive_transfer"].single_source_builds("small", TEAM) == ("big", "llama")
    assert conds["memcollab"].single_source_builds("small", TEAM) == (None,)
    assert conds[VANILLA].single_source_builds("small", TEAM) == ()


def test_banks_are_shared_exactly_when_the_memory_is_the_same() -> None:
    conds = by_name()
    memcollab = {conds["memcollab"].bank_name(a, TEAM) for a in TEAM}
    assert len(memcollab) == 1  # one contrastive bank for every consumer
    selves = {conds["self_memory"].bank_name(a, TEAM) for a in TEAM}
    assert len(selves) == 3
    assert conds[VANILLA].bank_name("small", TEAM) is None
    # Retrieval settings do not change the memory: the ablation reads the same bank.
    ablation = Condition(name="memcollab_flat", memory="all", method="contrastive", retrieval="embedding_only", k=5)
    assert ablation.bank_name("small", TEAM) == conds["memcollab"].bank_name("small", TEAM)
    # Names that slug alike still get distinct banks, and every name is a valid bank name.
    odd = Condition(name="odd", memory="self", method="self")
    a, b = odd.bank_name("qwen.7b", ["qwen.7b", "qwen7b"]), odd.bank_name("qwen7b", ["qwen.7b", "qwen7b"])
    assert a != b
    for name in (a, b, *memcollab, *selves):
        assert name is not None
        check_bank_name(name)


def test_embedding_only_retrieval_skips_the_classifier_and_queries_the_domain() -> None:
    flat = Condition(name="flat", memory="all", method="contrastive", retrieval="embedding_only")
    assert flat.ranker == "auto"
    assert not flat.uses_classifier
    assert by_name()["memcollab"].uses_classifier
    task = Task(id="t", domain="math", question="2 + 2?", category="math/algebra/linear_equations")
    assert str(Condition.fixed_category(task)) == "math"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "condition name"),
        ({"name": "x", "memory": "self"}, "needs a distill method"),
        ({"name": "x", "method": "self"}, "memory='none' takes no method"),
        ({"name": "x", "retrieval": "task_aware"}, "memory='none' takes no method"),
        ({"name": "x", "memory": "agents", "method": "self"}, "builders are given exactly"),
        ({"name": "x", "memory": "self", "method": "self", "builders": ("a",)}, "builders are given exactly"),
        ({"name": "x", "memory": "all", "method": "self_contrast", "samples": 2}, "use memory='self'"),
        ({"name": "x", "memory": "self", "method": "self_contrast"}, "samples >= 2"),
        ({"name": "x", "memory": "self", "method": "self", "k": 0}, "k must be a positive int"),
        ({"name": "x", "memory": "sometimes"}, "memory must be one of"),
        ({"name": "x", "memory": "self", "method": "self", "retrieval": "psychic"}, "retrieval must be one of"),
    ],
)
def test_inconsistent_conditions_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Condition(**kwargs)  # type: ignore[arg-type]


def test_impossible_cells_are_refused() -> None:
    conds = by_name()
    with pytest.raises(ConfigurationError, match="no building agent"):
        conds["naive_transfer"].builders_for("solo", ["solo"])
    with pytest.raises(ConfigurationError, match="at least two agents"):
        conds["memcollab"].builders_for("solo", ["solo"])
    with pytest.raises(ConfigurationError, match="unknown agent"):
        conds["self_memory"].builders_for("ghost", TEAM)
    with pytest.raises(ConfigurationError, match="given twice"):
        plan_cells([conds[VANILLA], conds[VANILLA]], TEAM)
    with pytest.raises(ConfigurationError, match="no building agent"):
        plan_cells(standard_conditions(), ["solo"])


def test_plan_cells_crosses_conditions_and_agents() -> None:
    cells = plan_cells(standard_conditions(), ["small", "big"])
    assert len(cells) == 10
    assert cells[0].condition.name == VANILLA
    assert cells[0].agent == "small"


def test_transfer_matrix_conditions() -> None:
    cells = transfer_matrix_conditions(builders=[["A"], ["B"], ["A", "B"]], consumers=["A", "B", "C"])
    names = [c.condition.name for c in cells]
    assert names == [n for n in [VANILLA, "transfer:A", "transfer:B", "transfer:A+B"] for _ in range(3)]
    assert [c.agent for c in cells[:3]] == ["A", "B", "C"]
    rows = {c.condition.name: c.condition for c in cells}
    assert rows["transfer:A"].method == "self"
    assert rows["transfer:A+B"].method == "contrastive"
    assert rows["transfer:A+B"].builders_for("C", ["A", "B", "C"]) == ("A", "B")
    # The diagonal "A's memory for A" is the same bank as A's self memory.
    assert rows["transfer:A"].bank_name("A", ["A", "B", "C"]) == by_name()["self_memory"].bank_name("A", ["A", "B"])
    assert rows["transfer:A"].bank_name("C", ["A", "B", "C"]) == rows["transfer:A"].bank_name("A", ["A", "B", "C"])
    assert is_transfer("transfer:A+B")
    assert not is_transfer("memcollab")
    assert len(transfer_matrix_conditions([["A"]], ["A"], include_vanilla=False)) == 1
    with pytest.raises(ConfigurationError, match="distinct agents"):
        transfer_matrix_conditions([["A", "A"]], ["B"])
    with pytest.raises(ConfigurationError, match="given twice"):
        transfer_matrix_conditions([["A"], ["A"]], ["B"])


def test_conditions_serialize_as_plain_data() -> None:
    cond = Condition(name="transfer:A+B", memory="agents", builders=("A", "B"), method="contrastive")
    data = TypeAdapter(Condition).dump_python(cond, mode="json")
    assert data["builders"] == ["A", "B"]
    assert TypeAdapter(Condition).validate_python(data) == cond
    assert asdict(cond)["retrieval"] == "task_aware"


def test_leakage_guard_names_the_overlapping_ids() -> None:
    check_no_leakage(["gsm8k/1", "gsm8k/2"], ["gsm8k/3"])
    with pytest.raises(ConfigurationError, match=r"2 evaluation task\(s\).*\['gsm8k/1', 'gsm8k/2'\]"):
        check_no_leakage(["gsm8k/1", "gsm8k/2", "gsm8k/9"], ["gsm8k/2", "gsm8k/1", "gsm8k/3"])
    many = [str(i) for i in range(30)]
    with pytest.raises(ConfigurationError, match="and 10 more"):
        check_no_leakage(many, many)


def test_leakage_guard_catches_the_same_question_under_another_id() -> None:
    train = [Task(id="train-1", domain="math", question="What is  2 + 2?", answer="4")]
    evaluation = [Task(id="test-7", domain="math", question="what is 2 + 2?", answer="4")]
    with pytest.raises(ConfigurationError, match="test-7 \\(same question as training task train-1\\)"):
        check_no_leakage(train, evaluation)
    check_no_leakage(train, [Task(id="test-8", domain="math", question="What is 3 + 3?")])


def test_docstring_examples_run() -> None:
    assert doctest.testmod(conditions_module, optionflags=doctest.ELLIPSIS).failed == 0
