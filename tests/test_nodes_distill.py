"""Distiller node: preference rules, parsing, abstraction check, provenance, baselines; sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from langgraph.graph import START, StateGraph
from langgraph.store.base import BaseStore

from memcollab_langgraph.cli.render import distillation_summary
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.models import Agent
from memcollab_langgraph.nodes import (
    BuildState,
    StoryCheck,
    choose_preference,
    create_distiller_node,
    route_to_distiller,
)
from memcollab_langgraph.nodes.prompts import (
    WORKED_EXAMPLE,
    contrastive_distiller_messages,
    single_distiller_messages,
)
from memcollab_langgraph.schema import CategoryPath, ConstraintLabels, Task, Trajectory
from memcollab_langgraph.taxonomy import get_taxonomy
from memcollab_langgraph.testing import ContextOverflowError, FunctionChatModel, ScriptedChatModel

RATES = CategoryPath(domain="math", category="prealgebra", subcategory="rates")
TASK = Task(
    id="gsm-7",
    domain="math",
    question="Janet sells 16 eggs at $3 each. How much does she earn?",
    answer="48",
    category=str(RATES),  # with the default labels="task", constraints are filed under the task's category
)
BIG = Agent(name="big", model=ScriptedChatModel([]), family="qwen", strength=3)
MID = Agent(name="mid", model=ScriptedChatModel([]), family="llama", strength=2)
SMALL = Agent(name="small", model=ScriptedChatModel([]), family="qwen", strength=1)
AGENTS = [BIG, MID, SMALL]


def _traj(agent: Agent, answer: str, correct: bool | None, text: str = "", sample: int = 0) -> Trajectory:
    messages = [
        {"role": "system", "content": "You are a careful problem solver."},
        {"role": "user", "content": TASK.question},
        {"role": "assistant", "content": text or f"The answer is {answer}."},
    ]
    return Trajectory(
        task_id=TASK.id,
        agent=agent.ref,
        answer=answer,
        correct=correct,
        messages=messages,
        sample_index=sample,
    )


def _draft(
    when: str, enforce: str, avoid: str, category: str = "prealgebra", sub: str | None = "rates"
) -> dict[str, Any]:
    return {"when": when, "enforce": enforce, "avoid": avoid, "category": category, "subcategory": sub}


GOOD_DRAFT = _draft("a price is given per item", "multiply the unit price by the count", "adding price and count")
OTHER_DRAFT = _draft("a quantity is sold", "track units through each step", "mixing totals with per-unit values")


def _reply(*drafts: dict[str, Any]) -> str:
    return json.dumps({"constraints": list(drafts)})


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _run(node: Runnable[Any, Any], store: BaseStore, state: dict[str, Any], mode: str) -> dict[str, Any]:
    graph: Any = StateGraph(BuildState).add_node("distill", node).add_edge(START, "distill")
    compiled = graph.compile(store=store)
    if mode == "sync":
        return compiled.invoke(state)  # type: ignore[no-any-return]
    return asyncio.run(compiled.ainvoke(state))


# --- preference rules ----------------------------------------------------------------------------

STRENGTH = {a.name: a.strength for a in AGENTS}


def test_one_correct_is_preferred_even_from_the_weakest_agent() -> None:
    p = choose_preference([_traj(BIG, "45", False), _traj(SMALL, "48", True), _traj(MID, "19", False)], STRENGTH)
    assert p.rule == "one_correct"
    assert p.preferred is not None
    assert p.preferred.agent.name == "small"
    assert [t.agent.name for t in p.unpreferred] == ["big", "mid"]


def test_several_correct_prefers_the_strongest_correct() -> None:
    trajs = [_traj(SMALL, "48", True, "16 times 3 is 48"), _traj(MID, "48", True, "3 per egg, 16 eggs: 48")]
    p = choose_preference([*trajs, _traj(BIG, "19", False)], STRENGTH)
    assert p.rule == "strongest_correct"
    assert p.preferred is not None
    assert p.preferred.agent.name == "mid"
    assert {t.agent.name for t in p.unpreferred} == {"small", "big"}


def test_none_correct_prefers_the_strongest_agent() -> None:
    p = choose_preference([_traj(SMALL, "19", False), _traj(BIG, "45", False)], STRENGTH)
    assert p.rule == "strongest_incorrect"
    assert p.preferred is not None
    assert p.preferred.agent.name == "big"


def test_all_correct_and_identical_is_skipped_unless_disabled() -> None:
    trajs = [_traj(BIG, "48", True), _traj(SMALL, "48", True)]
    assert choose_preference(trajs, STRENGTH).rule == "all_correct_identical"
    assert choose_preference(trajs, STRENGTH, identical_threshold=None).rule == "strongest_correct"
    assert choose_preference(trajs[:1], STRENGTH).rule == "too_few"


def test_unverified_or_unranked_trajectories_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="not verified"):
        choose_preference([_traj(BIG, "48", None), _traj(SMALL, "48", True)], STRENGTH)
    with pytest.raises(ConfigurationError, match="no strength rank"):
        choose_preference([_traj(BIG, "48", True), _traj(SMALL, "4", False)], {"big": 1})


# --- contrastive distillation ----------------------------------------------------------------------


def test_contrastive_distillation_stores_constraints_with_full_provenance(store: BaseStore, mode: str) -> None:
    trajs = [_traj(BIG, "19", False), _traj(MID, "45", False), _traj(SMALL, "48", True)]

    def reply(messages: list[BaseMessage]) -> str:
        prompt = messages[-1].text
        assert "PREFERRED SOLUTION" in prompt
        assert prompt.count("UNPREFERRED SOLUTION") == 2
        assert prompt.index("'48'") < prompt.index("UNPREFERRED")  # the correct one is preferred
        return _reply(GOOD_DRAFT, OTHER_DRAFT)

    distiller = FunctionChatModel(reply, model_name="distiller-32b")
    node = create_distiller_node(distiller, agents=AGENTS, taxonomy="math")
    out = _run(node, store, {"task": TASK, "trajectories": trajs}, mode)
    [report] = out["distillations"]
    assert (report.rule, report.parse_mode, report.skipped) == ("one_correct", "structured", False)
    assert [a.name for a in report.preferred] == ["small"]
    assert {a.name for a in report.unpreferred} == {"big", "mid"}
    assert [o.action for o in report.accepted] == ["added", "added"]
    assert report.rejected == []
    stored = MemoryBank(store).list_constraints()
    assert len(stored) == 2
    for c in stored:  # every stored constraint names the agents whose trajectories it came from
        assert c.category == RATES
        assert {a.name for a in c.provenance.agents} == {t.agent.name for t in trajs}
        assert [a.name for a in c.provenance.preferred_agents] == ["small"]
        assert c.provenance.source_task_ids == [TASK.id]
        assert c.provenance.distiller_models == ["distiller-32b"]
        assert c.provenance.methods == ["contrastive"]
    [record] = out["usage_log"]
    assert record.step == "distill"
    assert record.usage.model == "distiller-32b"
    assert record.ok


def test_skipped_distillation_makes_no_call(store: BaseStore, mode: str) -> None:
    node = create_distiller_node(ScriptedChatModel([]), agents=AGENTS, taxonomy="math")
    out = _run(node, store, {"task": TASK, "trajectories": [_traj(BIG, "48", True), _traj(SMALL, "48", True)]}, mode)
    [report] = out["distillations"]
    assert report.skipped
    assert report.rule == "all_correct_identical"
    assert report.parse_mode is None
    assert out.get("usage_log", []) == []


def test_one_agent_is_not_a_contrast(store: BaseStore, mode: str) -> None:
    node = create_distiller_node(ScriptedChatModel([]), agents=AGENTS, taxonomy="math")
    trajs = [_traj(BIG, "48", True), _traj(BIG, "19", False, sample=1)]
    [report] = _run(node, store, {"task": TASK, "trajectories": trajs}, mode)["distillations"]
    assert report.skipped
    assert "self_contrast" in report.explanation


@pytest.mark.parametrize(
    ("reply", "mode_", "reason_part", "stored"),
    [
        pytest.param(_reply(GOOD_DRAFT)[:-30], "repaired", "not valid JSON", 1, id="truncated-json"),
        pytest.param(
            f"Here you go:\n```json\n{_reply(GOOD_DRAFT)}\n```\nDone.",
            "repaired",
            "JSON repair",
            1,
            id="prose",
        ),
        pytest.param(json.dumps([GOOD_DRAFT]), "repaired", "JSON repair", 1, id="bare-list"),
        pytest.param("", "failed", "the reply is empty", 0, id="empty"),
        pytest.param(AIMessage(content="Nothing to learn."), "failed", "no JSON object", 0, id="prose-no-json"),
        pytest.param('{"constraints": [{"when": "x"}]}', "failed", "Field required", 0, id="missing-fields"),
    ],
)
def test_malformed_distiller_output_is_repaired_or_rejected_with_a_reason(
    store: BaseStore, mode: str, reply: str | AIMessage, mode_: str, reason_part: str, stored: int
) -> None:
    node = create_distiller_node(ScriptedChatModel([reply]), agents=AGENTS, taxonomy="math")
    out = _run(node, store, {"task": TASK, "trajectories": [_traj(BIG, "45", False), _traj(SMALL, "48", True)]}, mode)
    [report] = out["distillations"]
    assert report.parse_mode == mode_
    assert report.reason is not None
    assert reason_part in report.reason
    assert len(report.accepted) == stored == len(MemoryBank(store).list_constraints())
    assert out["usage_log"][0].ok is (mode_ != "failed")
    if mode_ == "failed":
        assert report.raw is not None


def test_drafts_are_checked_one_by_one(store: BaseStore, mode: str) -> None:
    drafts = [
        _draft("selling 16 eggs", "multiply 16 by the price", "adding"),  # copies a number
        _draft("Janet sells things", "multiply price by count", "adding them"),  # copies a name
        _draft("a price is given", "multiply price by count", "adding", category="calculus", sub=None),  # fallback
        _draft("a rate is given", "", "guessing"),  # empty field
        GOOD_DRAFT,  # beyond k=3 (checked in order)
    ]
    node = create_distiller_node(
        ScriptedChatModel([_reply(*drafts)]), agents=AGENTS, taxonomy="math", k=4, labels="distiller"
    )
    state = {
        "task": TASK,
        "category": RATES,
        "trajectories": [_traj(BIG, "45", False), _traj(SMALL, "48", True)],
    }
    [report] = _run(node, store, state, mode)["distillations"]
    reasons = [r.reason for r in report.rejected]
    assert "number(s) ['16']" in reasons[0]
    assert "name(s) ['Janet']" in reasons[1]
    assert "enforce" in reasons[2]
    assert "beyond the limit of k=4" in reasons[3]
    assert len(report.accepted) == 1
    assert "used the task's category" in report.notes[0]
    [stored] = MemoryBank(store).list_constraints()
    assert stored.category == RATES
    assert stored.when == "a price is given"


def test_code_identifiers_are_not_copied(store: BaseStore, mode: str) -> None:
    task = Task(
        id="mbpp-1",
        domain="code",
        question="Remove first and last occurrence of a char.",
        tests=["assert remove_Occ('hello','l') == 'heo'"],
        entry_point="remove_Occ",
    )
    a = Trajectory(
        task_id=task.id,
        agent=BIG.ref,
        answer="def remove_Occ(s, ch):\n    return s.replace(ch, '')",
        correct=False,
    )
    b = Trajectory(task_id=task.id, agent=SMALL.ref, answer="def remove_Occ(s, ch):\n    i = s.find(ch)", correct=True)
    drafts = [
        _draft("removing characters", "call remove_Occ carefully", "x", category="strings", sub="manipulation"),
        _draft("removing characters", "use `s.replace(ch, '')` once", "y", category="strings", sub="manipulation"),
        _draft(
            "removing occurrences",
            "remove only the first and last match",
            "replacing every match",
            category="strings",
            sub="manipulation",
        ),
    ]
    node = create_distiller_node(
        ScriptedChatModel([_reply(*drafts)]), agents=AGENTS, taxonomy="code", labels="distiller"
    )
    [report] = _run(node, store, {"task": task, "trajectories": [a, b]}, mode)["distillations"]
    assert "remove_Occ" in report.rejected[0].reason
    assert "code" in report.rejected[1].reason
    assert len(report.accepted) == 1


# --- baselines -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["self", "naive_transfer"])
def test_single_trajectory_baselines(store: BaseStore, mode: str, method: str) -> None:
    model = ScriptedChatModel([_reply(GOOD_DRAFT), _reply(OTHER_DRAFT)])
    node = create_distiller_node(model, method=method, taxonomy="math")  # type: ignore[arg-type]
    trajs = [_traj(BIG, "45", False), _traj(SMALL, "48", True)]
    reports = _run(node, store, {"task": TASK, "trajectories": trajs}, mode)["distillations"]
    assert [r.rule for r in reports] == ["single", "single"]
    assert ([a.name for a in reports[0].unpreferred], reports[0].preferred) == (["big"], [])
    assert [a.name for a in reports[1].preferred] == ["small"]
    assert "UNPREFERRED" not in model.calls[0][-1].text
    for c in MemoryBank(store).list_constraints():
        assert c.provenance.methods == [method]
        assert len(c.provenance.agents) == 1


def test_self_contrast_contrasts_one_agents_samples(store: BaseStore, mode: str) -> None:
    node = create_distiller_node(ScriptedChatModel([_reply(GOOD_DRAFT)]), method="self_contrast", taxonomy="math")
    trajs = [_traj(SMALL, "45", False, sample=0), _traj(SMALL, "48", True, sample=1)]
    [report] = _run(node, store, {"task": TASK, "trajectories": trajs}, mode)["distillations"]
    assert report.rule == "one_correct"
    assert report.method == "self_contrast"
    [c] = MemoryBank(store).list_constraints()
    assert [a.name for a in c.provenance.agents] == ["small"]
    assert c.provenance.methods == ["self_contrast"]
    with pytest.raises(ConfigurationError, match="source_agent"):
        _run(node, store, {"task": TASK, "trajectories": [*trajs, _traj(BIG, "1", False)]}, "sync")


def test_repeated_distillation_merges_into_one_entry(store: BaseStore) -> None:
    model = ScriptedChatModel([_reply(GOOD_DRAFT), _reply(GOOD_DRAFT)])
    node = create_distiller_node(model, agents=AGENTS, taxonomy="math")
    trajs = [_traj(BIG, "45", False), _traj(SMALL, "48", True)]
    _run(node, store, {"task": TASK, "trajectories": trajs}, "sync")
    other = TASK.model_copy(update={"id": "gsm-8"})
    out = _run(
        node,
        store,
        {"task": other, "trajectories": [t.model_copy(update={"task_id": "gsm-8"}) for t in trajs]},
        "sync",
    )
    assert [o.action for o in out["distillations"][0].accepted] == ["merged"]
    [c] = MemoryBank(store).list_constraints()
    assert c.support == 2
    assert c.status == "validated"
    assert c.provenance.source_task_ids == ["gsm-7", "gsm-8"]


def test_missing_store_fails_before_any_model_call() -> None:
    model = ScriptedChatModel([])  # a model call would raise UnexpectedModelCallError instead
    node = create_distiller_node(model, agents=AGENTS, taxonomy="math")
    with pytest.raises(ConfigurationError, match="store"):
        node.invoke({"task": TASK, "trajectories": [_traj(BIG, "45", False), _traj(SMALL, "48", True)]})
    assert model.calls == []


def test_settings_and_routing() -> None:
    with pytest.raises(ConfigurationError, match="agents"):
        create_distiller_node(ScriptedChatModel([]))
    with pytest.raises(ConfigurationError, match="method"):
        create_distiller_node(ScriptedChatModel([]), method="magic", agents=AGENTS)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="k must be"):
        create_distiller_node(ScriptedChatModel([]), agents=AGENTS, k=0)
    assert route_to_distiller({"task": TASK, "trajectories": [_traj(BIG, "1", True)]}) == "distill"
    assert route_to_distiller({"task": TASK, "trajectories": [_traj(BIG, "1", None)]}) == "__end__"
    assert route_to_distiller({"task": TASK}) == "__end__"


@pytest.mark.parametrize("labels", ["task", "distiller"])
def test_distiller_prompts_start_with_a_prefix_shared_by_every_task(labels: ConstraintLabels) -> None:
    """The rules (and with labels="distiller" the taxonomy) lead the prompt and are the same for every task
    of a build, so a server's prompt cache evaluates them once; everything task-specific follows them."""
    taxonomy = get_taxonomy("math")
    other = Task(id="gsm-8", domain="math", question="A train covers 120 km in 2 hours. Speed?", answer="60")
    traj = _traj(BIG, "48", True)
    for build in (
        lambda task, cat: contrastive_distiller_messages(
            task, traj, [_traj(SMALL, "19", False)], taxonomy=taxonomy, k=3, category=cat, max_chars=2000, labels=labels
        ),
        lambda task, cat: single_distiller_messages(
            task, traj, taxonomy=taxonomy, k=3, category=cat, max_chars=2000, labels=labels
        ),
    ):
        first, second = build(TASK, RATES), build(other, None)
        assert first[0].text == second[0].text
        # The taxonomy only when the distiller labels: a small model shown it writes about the category names.
        assert (taxonomy.render("math") in first[0].text) is (labels == "distiller")
        assert ('"category"' in first[0].text) is (labels == "distiller")
        assert "Write at most 3 constraints" in first[0].text
        # The reply format and one worked example (three were returned verbatim by Qwen2.5-Coder-1.5B).
        assert first[0].text.count('{"when": ') == 2
        assert first[0].text.count(WORKED_EXAMPLE["enforce"]) == 1
        assert TASK.question not in first[0].text
        assert TASK.question in first[1].text
        assert f"(The task was classified as {RATES}.)" in first[1].text
        assert "classified" not in second[1].text


@pytest.mark.parametrize("category", [RATES, None])
def test_task_labels_file_every_constraint_under_the_tasks_category(
    store: BaseStore, mode: str, category: CategoryPath | None
) -> None:
    seen: list[list[BaseMessage]] = []

    def reply(messages: list[BaseMessage]) -> str:
        seen.append(messages)
        # A label the model was not asked for is ignored, a missing one is not needed.
        return _reply(GOOD_DRAFT | {"category": "calculus"}, {k: OTHER_DRAFT[k] for k in ("when", "enforce", "avoid")})

    node = create_distiller_node(FunctionChatModel(reply), agents=AGENTS, taxonomy="math")
    task = TASK.model_copy(update={"category": None})
    state = {"task": task, "trajectories": [_traj(BIG, "45", False), _traj(SMALL, "48", True)], "category": category}
    [report] = _run(node, store, state, mode)["distillations"]
    assert get_taxonomy("math").render("math") not in seen[0][0].text
    stored = MemoryBank(store).list_constraints()
    if category is None:
        assert stored == []
        assert [r.reason for r in report.rejected] == [
            "the task has no category, and constraints take the task's category (labels='task')"
        ] * 2
    else:
        assert sorted(c.when for c in stored) == sorted([GOOD_DRAFT["when"], OTHER_DRAFT["when"]])
        assert {c.category for c in stored} == {RATES}
        assert report.notes == []


def test_labels_must_be_task_or_distiller() -> None:
    with pytest.raises(ConfigurationError, match=r"labels must be one of \['task', 'distiller'\].*got 'model'"):
        create_distiller_node(ScriptedChatModel([]), agents=AGENTS, labels="model")  # type: ignore[arg-type]


def test_drafts_that_repeat_the_prompts_template_are_rejected(store: BaseStore, mode: str) -> None:
    drafts = [
        {"when": "<condition>", "enforce": "multiply price by count", "avoid": "adding them"},
        {"when": "a price is given", "enforce": "The reasoning invariant to keep.", "avoid": "adding them"},
        {"when": "a price is given per item", "enforce": "multiply the unit price by the count", "avoid": "..."},
        dict(WORKED_EXAMPLE),  # the prompt's example, not something learned from the task
        GOOD_DRAFT,
    ]
    node = create_distiller_node(ScriptedChatModel([_reply(*drafts)]), agents=AGENTS, taxonomy="math", k=5)
    [report] = _run(
        node, store, {"task": TASK, "trajectories": [_traj(BIG, "45", False), _traj(SMALL, "48", True)]}, mode
    )["distillations"]
    assert [r.reason for r in report.rejected] == [
        "the when field repeats the prompt's template: '<condition>'",
        "the enforce field repeats the prompt's template: 'The reasoning invariant to keep.'",
        "the avoid field repeats the prompt's template: '...'",
        f"the when field repeats the prompt's template: {WORKED_EXAMPLE['when']!r}",
    ]
    assert [c.when for c in MemoryBank(store).list_constraints()] == [GOOD_DRAFT["when"]]


@pytest.mark.parametrize("checked", [True, False])
def test_the_story_check_rejects_drafts_that_retell_the_task(store: BaseStore, mode: str, checked: bool) -> None:
    reference = [f"A train travels for {n} hours at a steady speed. How far does it go?" for n in range(120)]
    story = StoryCheck.from_texts([*reference, TASK.question]) if checked else None
    retold = _draft("eggs are sold each day", "multiply the eggs by what each one earns", "adding them")
    node = create_distiller_node(
        ScriptedChatModel([_reply(retold, GOOD_DRAFT)]), agents=AGENTS, taxonomy="math", story_check=story
    )
    state = {"task": TASK, "trajectories": [_traj(BIG, "45", False), _traj(SMALL, "48", True)]}
    [report] = _run(node, store, state, mode)["distillations"]
    stored = sorted(c.when for c in MemoryBank(store).list_constraints())
    if checked:
        assert [r.reason for r in report.rejected] == [
            "restates its task's situation: shares the rare words ['each', 'earn', 'egg'] with the task (each in "
            "at most 1 of the 121 reference tasks); describe the kind of situation instead"
        ]
        assert stored == [GOOD_DRAFT["when"]]
    else:
        assert report.rejected == []
        assert stored == sorted([retold["when"], GOOD_DRAFT["when"]])


def test_the_demo_summary_says_what_was_stored_and_why_drafts_were_rejected(store: BaseStore) -> None:
    drafts = [
        dict(WORKED_EXAMPLE),
        _draft("selling 16 eggs", "multiply 16 by the price", "adding"),
        _draft("items sold at 3 each", "multiply 3 by the count", "adding"),
        GOOD_DRAFT,
    ]
    node = create_distiller_node(ScriptedChatModel([_reply(*drafts), _reply(GOOD_DRAFT)]), agents=AGENTS, k=4)
    state = {"task": TASK, "trajectories": [_traj(BIG, "45", False), _traj(SMALL, "48", True)]}
    first = _run(node, store, state, "sync")["distillations"]
    again = _run(node, store, state, "sync")["distillations"]  # the same rule from the same task: merged
    skipped = _run(node, store, {**state, "trajectories": [_traj(BIG, "48", True), _traj(SMALL, "48", True)]}, "sync")
    assert distillation_summary([*first, *again, *skipped["distillations"]]) == (
        "distiller: 3 distillation(s), 1 constraint(s) stored, 1 already in memory (merged), "
        "1 skipped (nothing to contrast); 3 draft(s) rejected, mostly: copies task-specific number(s) (2); "
        "the when field repeats the prompt's template (1)"
    )
    assert distillation_summary([]) == "distiller: no distillation"


def test_a_prompt_too_long_for_the_context_is_sent_again_with_shorter_transcripts(store: BaseStore, mode: str) -> None:
    long = "I add the numbers one by one. " * 200  # 6,000 characters per transcript
    trajs = [_traj(BIG, "45", False, text=long), _traj(SMALL, "48", True, text=long)]
    lengths: list[int] = []

    def reply(messages: list[BaseMessage]) -> str:
        lengths.append(len(messages[-1].text))
        if lengths[-1] > 3000:  # the server's context holds prompts of up to 3,000 characters
            raise ContextOverflowError
        return _reply(GOOD_DRAFT)

    node = create_distiller_node(FunctionChatModel(reply), agents=AGENTS, taxonomy="math")
    out = _run(node, store, {"task": TASK, "trajectories": trajs}, mode)
    [report] = out["distillations"]
    assert report.notes == ["transcripts clipped to 1000 characters (from 4000) to fit the distiller's context window"]
    assert [o.action for o in report.accepted] == ["added"]
    assert len(lengths) == 3
    assert lengths[0] > lengths[1] > lengths[2]
    assert [r.step for r in out["usage_log"]] == ["distill"]  # the refused calls cost no tokens


def test_a_prompt_that_never_fits_is_an_error(store: BaseStore, mode: str) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        raise ContextOverflowError

    node = create_distiller_node(FunctionChatModel(reply), agents=AGENTS, taxonomy="math")
    with pytest.raises(ContextOverflowError):
        _run(node, store, {"task": TASK, "trajectories": [_traj(BIG, "45", False), _traj(SMALL, "48", True)]}, mode)
    assert MemoryBank(store).list_constraints() == []
