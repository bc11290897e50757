"""The example graphs: topology snapshots, end-to-end runs on fakes, resumable builds, the ReAct hook."""

from __future__ import annotations

import _thread
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import create_react_agent
from langgraph.store.base import BaseStore
from pydantic import BaseModel

from memcollab_langgraph import MemoryBank
from memcollab_langgraph.graphs import (
    MEMORY_PREAMBLE,
    arun_tasks,
    create_build_graph,
    create_memory_hook,
    create_solve_graph,
    run_tasks,
    sqlite_checkpointer,
)
from memcollab_langgraph.models import Agent
from memcollab_langgraph.nodes import DistillationReport, checkpoint_serde
from memcollab_langgraph.schema import CategoryPath, Task, Trajectory
from memcollab_langgraph.testing import FunctionChatModel, ScriptedChatModel

SNAPSHOTS = Path(__file__).parent / "snapshots"

TASKS = [
    Task(
        id="shop",
        domain="math",
        question="Pens cost 3 dollars each. How much do 5 pens cost?",
        answer="15",
        category="math/prealgebra/arithmetic_word_problems",
    ),
    Task(
        id="sale",
        domain="math",
        question="A 40 dollar shirt is 25 percent off. What is the new price?",
        answer="30",
        category="math/prealgebra/percentages",
    ),
    Task(
        id="trip",
        domain="math",
        question="A car drives 60 km per hour for 3 hours. How far does it go?",
        answer="180",
        category="math/prealgebra/rates",
    ),
]
RULES = {
    "shop": ("a price is given per item", "multiply the unit price by the count", "adding price and count"),
    "sale": (
        "a price is reduced by a percent",
        "take the percent of the original",
        "subtracting the percent",
    ),
    "trip": ("a speed and a duration are given", "multiply speed by time", "dividing speed by time"),
}


def _task_of(text: str) -> Task:
    return next(t for t in TASKS if t.question in text)


class Team:
    """Deterministic fakes: ``big`` is right, ``small`` is wrong, the distiller writes one rule per task.

    ``fail_once`` makes ``small`` raise once on that task, as a crashed call would.
    """

    def __init__(self, fail_once: str | None = None) -> None:
        self.fail_once = fail_once
        self.calls: list[tuple[str, str]] = []
        self.big = Agent(name="big", model=FunctionChatModel(self._big, model_name="big-1.5b"), strength=2)
        self.small = Agent(name="small", model=FunctionChatModel(self._small, model_name="small-0.5b"))
        self.distiller = FunctionChatModel(self._distill, model_name="big-1.5b")

    def _big(self, messages: list[BaseMessage]) -> str:
        task = _task_of(messages[-1].text)
        self.calls.append(("big", task.id))
        return f"Working it out step by step. #### {task.answer}"

    def _small(self, messages: list[BaseMessage]) -> str:
        task = _task_of(messages[-1].text)
        self.calls.append(("small", task.id))
        if self.fail_once == task.id:
            self.fail_once = None
            raise ConnectionError("the model server went away")
        return "I add the numbers. #### 7"

    def _distill(self, messages: list[BaseMessage]) -> str:
        task = _task_of(messages[-1].text)
        self.calls.append(("distill", task.id))
        when, enforce, avoid = RULES[task.id]
        assert task.category is not None
        draft = {
            "when": when,
            "enforce": enforce,
            "avoid": avoid,
            "category": task.category.category,
            "subcategory": task.category.subcategory,
        }
        return json.dumps({"constraints": [draft]})

    def graph(self, store: BaseStore, checkpointer: Any = None) -> Any:
        graph = create_build_graph([self.big, self.small], distiller=self.distiller, taxonomy="math")
        return graph.compile(store=store, checkpointer=checkpointer)


def _bank_snapshot(store: BaseStore) -> list[tuple[Any, ...]]:
    return sorted(
        (
            c.text,
            str(c.category),
            c.support,
            c.status,
            tuple(c.provenance.source_task_ids),
            tuple(a.name for a in c.provenance.preferred_agents),
            tuple(a.name for a in c.provenance.unpreferred_agents),
        )
        for c in MemoryBank(store).list_constraints()
    )


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_build_graph_end_to_end(store: BaseStore, mode: str) -> None:
    team = Team()
    graph = team.graph(store)
    task = TASKS[0]
    out = graph.invoke({"task": task}) if mode == "sync" else asyncio.run(graph.ainvoke({"task": task}))
    assert sorted((t.agent.name, t.correct) for t in out["trajectories"]) == [("big", True), ("small", False)]
    report = out["distillations"][0]
    assert report.rule == "one_correct"
    assert [a.name for a in report.preferred] == ["big"]
    assert [a.name for a in report.unpreferred] == ["small"]
    stored = MemoryBank(store).list_constraints()
    assert len(stored) == 1
    assert {a.name for a in stored[0].provenance.agents} == {"big", "small"}
    assert stored[0].provenance.source_task_ids == ["shop"]
    assert {(c.step, c.usage.model) for c in out["usage_log"]} == {
        ("solve", "big-1.5b"),
        ("solve", "small-0.5b"),
        ("distill", "big-1.5b"),
    }


def test_solve_graph_end_to_end_sends_constraints_and_records_utility(store: BaseStore, mode: str) -> None:
    Team().graph(store).invoke({"task": TASKS[1]})  # distil one rule about percentages
    rule = MemoryBank(store).list_constraints()[0]

    def answer(messages: list[BaseMessage]) -> str:
        assert rule.text in messages[0].text, "the retrieved constraint must reach the solver's prompt"
        return "10 percent of 80 is 8, so 80 - 8 = 72. #### 72"

    model = FunctionChatModel(answer, model_name="consumer-7b")
    classify = ScriptedChatModel(['{"category": "prealgebra", "subcategory": "percentages"}'])
    graph = create_solve_graph(Agent(name="c", model=model), classifier=classify, taxonomy="math")
    task = Task(id="dev-1", domain="math", question="A 80 dollar coat is 10 percent off. Price?", answer="72")
    run = graph.compile(store=store)
    out = run.invoke({"task": task}) if mode == "sync" else asyncio.run(run.ainvoke({"task": task}))
    assert [h.constraint.id for h in out["hits"]] == [rule.id]
    assert out["verdict"].correct is True
    assert out["outcome_ids"] == [rule.id]
    assert MemoryBank(store).get(rule.id).utility["consumer-7b"].successes == 1  # type: ignore[union-attr]
    assert len(model.calls) == 1


def test_interrupted_build_resumes_and_ends_with_the_same_bank(
    store_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    reference = store_factory()
    clean = run_tasks(Team().graph(reference, InMemorySaver()), TASKS, progress=False)
    assert sorted(clean.completed) == ["sale", "shop", "trip"]

    store, saver = store_factory(), InMemorySaver()
    team = Team(fail_once="sale")
    first = run_tasks(team.graph(store, saver), TASKS, progress=False, max_concurrency=1)
    assert sorted(first.completed) == ["shop", "trip"]
    assert "ConnectionError" in first.failed["sale"]
    calls_before = list(team.calls)

    second = run_tasks(team.graph(store, saver), TASKS, progress=False, max_concurrency=1)
    assert sorted(second.skipped) == ["shop", "trip"]
    assert second.completed == ["sale"]
    assert second.resumed == ["sale"]
    redone = team.calls[len(calls_before) :]
    assert ("big", "sale") not in redone, "the branch that had finished must not run again"
    assert sorted(redone) == [("distill", "sale"), ("small", "sale")]

    third = run_tasks(team.graph(store, saver), TASKS, progress=False)
    assert sorted(third.skipped) == ["sale", "shop", "trip"]
    assert not third.completed
    assert _bank_snapshot(store) == _bank_snapshot(reference)
    assert second.usage["big-1.5b"].calls == 2  # the whole task: the earlier solve and the distillation
    assert second.usage["small-0.5b"].calls == 1
    blocked = [r.getMessage() for r in caplog.records if "Blocked deserialization" in r.getMessage()]
    assert not blocked, f"state values the checkpointer could not restore: {blocked}"


def test_ctrl_c_stops_a_batch_without_running_the_queued_tasks(store: BaseStore) -> None:
    """Ctrl-C (KeyboardInterrupt in the main thread) during a batch: the task in flight finishes, the
    queued ones are not started, and the next run does only what is left."""
    team, saver = Team(), InMemorySaver()
    big = team._big

    def interrupt_on_sale(messages: list[BaseMessage]) -> str:
        if _task_of(messages[-1].text).id == "sale":
            _thread.interrupt_main()  # Ctrl-C; the main thread sees it when it next wakes
        return big(messages)

    team.big = Agent(name="big", model=FunctionChatModel(interrupt_on_sale, model_name="big-1.5b"), strength=2)
    with pytest.raises(KeyboardInterrupt):
        run_tasks(team.graph(store, saver), TASKS, progress=False, max_concurrency=1)
    assert {task for _, task in team.calls} == {"shop", "sale"}, "the queued task must not start"
    team.big = Agent(name="big", model=FunctionChatModel(big, model_name="big-1.5b"), strength=2)
    report = run_tasks(team.graph(store, saver), TASKS, progress=False, max_concurrency=1)
    assert (report.skipped, sorted(report.completed)) == (["shop", "sale"], ["trip"])


def test_resume_works_with_strict_checkpoint_deserialization() -> None:
    """With LANGGRAPH_STRICT_MSGPACK=true LangGraph restores only types it finds in the state schema:
    every value the nodes put in the state must be declared there, or a resumed build breaks."""
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    test = f"{__file__}::test_interrupted_build_resumes_and_ends_with_the_same_bank"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", test],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_the_library_checkpointer_restores_state_types_silently_and_blocks_others(
    store: BaseStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="langgraph"), sqlite_checkpointer(tmp_path / "c.sqlite") as saver:
        graph = Team().graph(store, saver)
        config = {"configurable": {"thread_id": "shop"}}
        graph.invoke({"task": TASKS[0]}, config)
        state = graph.get_state(config).values
    assert [type(t) for t in state["trajectories"]] == [Trajectory, Trajectory]
    assert type(state["category"]) is CategoryPath
    assert type(state["distillations"][0]) is DistillationReport
    assert not [r.getMessage() for r in caplog.records], "no unregistered or blocked types"

    class Foreign(BaseModel):
        x: int = 1

    serde = checkpoint_serde()
    assert serde.loads_typed(serde.dumps_typed({"a": Foreign()})) == {"a": {"x": 1}}, "not turned into an object"


def test_rerunning_a_finished_distillation_does_not_inflate_support(store: BaseStore) -> None:
    team = Team()
    graph = team.graph(store)
    graph.invoke({"task": TASKS[0]})
    graph.invoke({"task": TASKS[0]})  # no checkpointer: the whole task runs again
    [entry] = MemoryBank(store).list_constraints()
    assert entry.support == 1


def test_async_batch_runner(store: BaseStore) -> None:
    graph = Team().graph(store, InMemorySaver())
    report = asyncio.run(arun_tasks(graph, TASKS, progress=False))
    assert sorted(report.completed) == ["sale", "shop", "trip"]
    assert report.usage["small-0.5b"].calls == 3
    assert asyncio.run(arun_tasks(graph, TASKS, progress=False)).skipped == [t.id for t in TASKS]


def test_retrieval_variants(store: BaseStore) -> None:
    Team().graph(store).invoke({"task": TASKS[1]})  # one rule about percentages
    rule = MemoryBank(store).list_constraints()[0]
    prompts: list[str] = []

    def answer(messages: list[BaseMessage]) -> str:
        prompts.append(messages[0].text)
        return "#### 72"

    agent = Agent(name="c", model=FunctionChatModel(answer))
    # A task labelled with another category: task-aware retrieval would look there first.
    task = Task(id="d", domain="math", question="A coat costs 80 and is 10 percent off.", answer="72")
    vanilla = create_solve_graph(agent, taxonomy="math", retrieval="none").compile(store=store)
    out = vanilla.invoke({"task": task})
    assert "hits" not in out
    assert rule.text not in prompts[-1]
    flat = create_solve_graph(agent, taxonomy="math", retrieval="embedding_only").compile(store=store)
    out = flat.invoke({"task": task})
    assert str(out["category"]) == "math"
    assert [h.constraint.id for h in out["hits"]] == [rule.id]
    assert rule.text in prompts[-1]
    with pytest.raises(ValueError, match="retrieval must be one of"):
        create_solve_graph(agent, retrieval="flat")  # type: ignore[arg-type]


def test_batch_runner_needs_a_checkpointer(store: BaseStore) -> None:
    with pytest.raises(ValueError, match="checkpointer"):
        run_tasks(Team().graph(store), TASKS, progress=False)


def test_react_agent_gets_the_memory_through_the_pre_model_hook(store: BaseStore, mode: str) -> None:
    Team().graph(store).invoke({"task": TASKS[2]})  # a rule about speed and time
    rule = MemoryBank(store).list_constraints()[0]
    seen: list[list[BaseMessage]] = []

    def reply(messages: list[BaseMessage]) -> str:
        seen.append(messages)
        return "It goes 100 km."

    hook = create_memory_hook(domain="math", taxonomy="math")
    agent = create_react_agent(FunctionChatModel(reply), tools=[], pre_model_hook=hook, store=store)
    question = {"messages": [("user", "A train keeps a speed of 50 km per hour for 2 hours. How far?")]}
    out = agent.invoke(question) if mode == "sync" else asyncio.run(agent.ainvoke(question))
    first = seen[0][0]
    assert isinstance(first, SystemMessage)
    assert first.text.startswith(MEMORY_PREAMBLE)
    assert rule.text in first.text
    assert [m.type for m in out["messages"]] == ["human", "ai"], "the stored conversation is unchanged"


@pytest.mark.parametrize(
    "name",
    ["build", "solve", "solve_no_outcomes", "solve_vanilla", "solve_embedding_only"],
)
def test_graph_topology_snapshot(name: str) -> None:
    team = Team()
    graphs = {
        "build": create_build_graph([team.big, team.small], taxonomy="math"),
        "solve": create_solve_graph(team.big, taxonomy="math"),
        "solve_no_outcomes": create_solve_graph(team.big, taxonomy="math", record_outcomes=False),
        "solve_vanilla": create_solve_graph(team.big, taxonomy="math", retrieval="none", record_outcomes=False),
        "solve_embedding_only": create_solve_graph(team.big, taxonomy="math", retrieval="embedding_only"),
    }
    mermaid = graphs[name].compile().get_graph().draw_mermaid()
    path = SNAPSHOTS / f"{name}.mmd"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"snapshot {path.name} is missing; run the tests with UPDATE_SNAPSHOTS=1 and commit it")
        path.parent.mkdir(exist_ok=True)
        path.write_text(mermaid)
    assert mermaid == path.read_text(), f"graph topology changed; if intended, UPDATE_SNAPSHOTS=1 ({path})"
