"""Solver node: prompt with constraints, multi-turn feedback from the sandbox, robust to bad replies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryHit
from memcollab_langgraph.models import Agent
from memcollab_langgraph.nodes import create_solver_node, fan_out_to_agents, route_after_solve
from memcollab_langgraph.nodes.turns import INVENTED_OUTPUT
from memcollab_langgraph.schema import CategoryPath, Constraint, Task
from memcollab_langgraph.testing import ContextOverflowError, FunctionChatModel, ScriptedChatModel

Call = Callable[[Runnable[Any, Any], dict[str, Any]], dict[str, Any]]

MATH = Task(id="m", domain="math", question="What is 6 * 7?", answer="42")
CODE = Task(
    id="c",
    domain="code",
    question="Write a function add(a, b) returning the sum.",
    tests=["assert add(1, 2) == 3", "assert add(-1, 1) == 0"],
    visible_tests=["assert add(1, 2) == 3"],
    entry_point="add",
)
GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
BAD = "```python\ndef add(a, b):\n    return a - b\n```"


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Call:
    def run(node: Runnable[Any, Any], state: dict[str, Any]) -> dict[str, Any]:
        if request.param == "sync":
            return node.invoke(state)  # type: ignore[no-any-return]
        return asyncio.run(node.ainvoke(state))

    return run


def _agent(model: ScriptedChatModel | FunctionChatModel, name: str = "small") -> Agent:
    return Agent(name=name, model=model, family="qwen", strength=1)


def _hit(when: str, enforce: str, avoid: str) -> MemoryHit:
    path = CategoryPath(domain="math", category="prealgebra")
    c = Constraint(when=when, enforce=enforce, avoid=avoid, category=path)
    return MemoryHit(constraint=c, score=1.0, score_kind="bm25", level="exact", filter_path=path, namespace=("x",))


def test_single_turn_math_records_a_full_trajectory(call: Call) -> None:
    model = ScriptedChatModel(["6 * 7 = 42, so the answer is \\boxed{42}."], model_name="qwen2.5-7b")
    update = call(create_solver_node(_agent(model)), {"task": MATH})
    t = update["trajectory"]
    assert (t.task_id, t.answer, t.turns, update["stop_reason"]) == ("m", "42", 1, "final_answer")
    assert t.agent.name == "small"
    assert t.agent.model == "qwen2.5-7b"
    assert t.agent.family == "qwen"
    assert [m["role"] for m in t.messages] == ["system", "user", "assistant"]
    assert t.usage.calls == 1
    assert t.usage.prompt_tokens > 0
    assert t.usage.model == "qwen2.5-7b"
    assert t.latency_s >= t.usage.latency_s >= 0.0
    assert update["trajectories"] == [t]
    [record] = update["usage_log"]
    assert record.step == "solve"
    assert record.agent == "small"
    assert record.ok


def test_retrieved_constraints_are_rendered_into_the_prompt(call: Call) -> None:
    hits = [
        _hit("multiplying whole numbers", "double-check the product", "adding instead of multiplying"),
        _hit("answering a word problem", "state units", "dropping units"),
    ]

    def reply(messages: list[BaseMessage]) -> str:
        system = messages[0].text
        for h in hits:
            assert h.constraint.text in system, f"constraint missing from the prompt: {h.constraint.text}"
        assert MATH.question in messages[1].text
        return "\\boxed{42}"

    model = FunctionChatModel(reply)
    update = call(create_solver_node(_agent(model)), {"task": MATH, "hits": hits})
    assert update["trajectory"].answer == "42"
    assert len(model.calls) == 1


@pytest.mark.parametrize("preamble", [None, "These may not apply; use one only if its situation is this task's:"])
def test_the_constraints_come_after_the_preamble(call: Call, preamble: str | None) -> None:
    hit = _hit("multiplying whole numbers", "double-check the product", "adding instead of multiplying")
    expected = (
        preamble or "Constraints distilled from earlier solutions of similar tasks. Follow them where they apply:"
    )

    def reply(messages: list[BaseMessage]) -> str:
        assert f"{expected}\n1. {hit.constraint.text}" in messages[0].text
        return "\\boxed{42}"

    node = create_solver_node(
        _agent(FunctionChatModel(reply)), **({"constraints_preamble": preamble} if preamble else {})
    )
    assert call(node, {"task": MATH, "hits": [hit]})["trajectory"].answer == "42"


def test_no_constraints_means_no_constraint_block(call: Call) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        assert "Constraints" not in messages[0].text
        return "\\boxed{42}"

    call(create_solver_node(_agent(FunctionChatModel(reply))), {"task": MATH})


def test_math_python_block_runs_in_the_sandbox_and_output_is_fed_back(call: Call) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        if len(messages) == 2:
            return "Let me compute it.\n```python\nprint(6 * 7 * 1000 + 1)\n```"
        assert "Output of your Python code" in messages[-1].text
        assert "42001" in messages[-1].text
        return "So 6 * 7 = 42 and the answer is \\boxed{42}."

    model = FunctionChatModel(reply)
    update = call(create_solver_node(_agent(model), max_turns=3), {"task": MATH})
    t = update["trajectory"]
    assert (t.answer, t.turns, update["stop_reason"]) == ("42", 2, "final_answer")
    assert [m["role"] for m in t.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert t.usage.calls == 2
    assert len(update["usage_log"]) == 2


INVENTED = (
    "Let me compute it.\n```python\nprint(6 * 7 * 1000 + 1)\n```\n```output\n41999\n```\n"
    "So the answer is \\boxed{41999}."
)


def test_an_output_the_model_wrote_itself_is_replaced_by_the_real_one(call: Call) -> None:
    """Qwen models write ```output blocks after their code and answer from them; the solver cuts the
    reply there, runs the code and shows the real output instead of accepting the invented answer."""

    def reply(messages: list[BaseMessage]) -> str:
        if len(messages) == 2:
            return INVENTED
        assert messages[-2].text == "Let me compute it.\n```python\nprint(6 * 7 * 1000 + 1)\n```"
        assert "42001" in messages[-1].text
        return "The output is 42001, so 6 * 7 = 42 and the answer is \\boxed{42}."

    update = call(create_solver_node(_agent(FunctionChatModel(reply)), max_turns=3), {"task": MATH})
    t = update["trajectory"]
    assert (t.answer, t.turns, update["stop_reason"]) == ("42", 2, "final_answer")
    assert "41999" not in "".join(m["content"] for m in t.messages)
    first, second = update["usage_log"]
    assert (first.ok, first.reason, second.ok) == (False, INVENTED_OUTPUT, True)


def test_the_invented_answer_is_kept_only_when_the_budget_runs_out(call: Call) -> None:
    update = call(create_solver_node(_agent(ScriptedChatModel([INVENTED])), max_turns=1), {"task": MATH})
    assert (update["trajectory"].answer, update["stop_reason"]) == ("41999", "max_turns")


def test_python_error_is_fed_back(call: Call) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        if len(messages) == 2:
            return "```python\nraise ValueError('boom')\n```"
        assert "ValueError: boom" in messages[-1].text
        return "\\boxed{42}"

    assert call(create_solver_node(_agent(FunctionChatModel(reply))), {"task": MATH})["trajectory"].turns == 2


def test_code_visible_test_failure_is_fed_back_then_fixed(call: Call) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        if len(messages) == 2:
            assert "assert add(1, 2) == 3" in messages[1].text  # visible tests shown
            assert "assert add(-1, 1) == 0" not in messages[1].text  # hidden tests are not
            return BAD
        assert "did not pass" in messages[-1].text
        assert "got -1, expected 3" in messages[-1].text
        return GOOD

    update = call(create_solver_node(_agent(FunctionChatModel(reply))), {"task": CODE})
    t = update["trajectory"]
    assert (t.turns, update["stop_reason"]) == (2, "passed_visible_tests")
    assert t.answer is not None
    assert "return a + b" in t.answer


def test_turn_budget_ends_the_solve_without_a_useless_last_run(call: Call) -> None:
    model = ScriptedChatModel([BAD, BAD])
    update = call(create_solver_node(_agent(model), max_turns=2), {"task": CODE})
    t = update["trajectory"]
    assert (t.turns, update["stop_reason"]) == (2, "max_turns")
    assert t.answer is not None
    assert "a - b" in t.answer
    assert t.messages[-1]["role"] == "assistant"  # no feedback after the last call


@pytest.mark.parametrize("stop_on_repeat", [False, True])
def test_a_repeated_program_ends_the_solve_only_with_stop_on_repeat(call: Call, stop_on_repeat: bool) -> None:
    # The second reply is the first program in other words: the same program, the same failing test.
    again = "Here is the corrected version:\n" + BAD
    model = ScriptedChatModel([BAD, again, GOOD])
    update = call(create_solver_node(_agent(model), max_turns=3, stop_on_repeat=stop_on_repeat), {"task": CODE})
    t = update["trajectory"]
    if stop_on_repeat:
        assert (t.turns, update["stop_reason"]) == (2, "repeated_answer")
        assert t.answer is not None
        assert "a - b" in t.answer
        assert t.messages[-1] == {"role": "assistant", "content": again}  # no feedback after it
    else:  # the third call is made, and its program is the answer (the last turn runs no tests)
        assert (t.turns, update["stop_reason"]) == (3, "max_turns")
        assert t.answer is not None
        assert "a + b" in t.answer


def test_stop_on_repeat_compares_with_the_previous_reply_only(call: Call) -> None:
    other = BAD.replace("a - b", "a * b")
    model = ScriptedChatModel([BAD, other, BAD, BAD])
    update = call(create_solver_node(_agent(model), max_turns=5, stop_on_repeat=True), {"task": CODE})
    assert (update["trajectory"].turns, update["stop_reason"]) == (4, "repeated_answer")
    # A repeat in the last turn saves no call: the budget ran out.
    model = ScriptedChatModel([BAD, other, BAD, BAD])
    update = call(create_solver_node(_agent(model), max_turns=4, stop_on_repeat=True), {"task": CODE})
    assert (update["trajectory"].turns, update["stop_reason"]) == (4, "max_turns")
    # A math reply without a Python block repeats by its text.
    model = ScriptedChatModel(["I think it is big.", "I think it is big.", "\\boxed{42}"])
    update = call(create_solver_node(_agent(model), stop_on_repeat=True), {"task": MATH})
    assert (update["trajectory"].turns, update["stop_reason"]) == (2, "repeated_answer")


def test_code_without_visible_tests_stops_at_the_first_program(call: Call) -> None:
    task = CODE.model_copy(update={"visible_tests": []})
    update = call(create_solver_node(_agent(ScriptedChatModel([BAD]))), {"task": task})
    assert (update["trajectory"].turns, update["stop_reason"]) == (1, "final_answer")


@pytest.mark.parametrize(
    ("first", "issue"),
    [
        pytest.param("", "empty reply", id="empty"),
        pytest.param(
            AIMessage(content="", tool_calls=[{"name": "x", "args": {}, "id": "1"}]), "empty reply", id="tool"
        ),
        pytest.param("I am not sure what to do here.", "no program in the reply", id="prose"),
        pytest.param("```python\ndef add(a, b):\n    return (", None, id="truncated-code"),
    ],
)
def test_malformed_code_replies_are_recorded_not_fatal(call: Call, first: str | AIMessage, issue: str | None) -> None:
    model = ScriptedChatModel([first, GOOD])
    update = call(create_solver_node(_agent(model)), {"task": CODE})
    t = update["trajectory"]
    assert update["stop_reason"] == "passed_visible_tests"
    assert t.turns == 2
    first_call = update["usage_log"][0]
    assert first_call.reason == issue
    assert first_call.ok is (issue is None)
    assert "return a + b" in (t.answer or "")


@pytest.mark.parametrize("reply", ["", "Hmm, no idea.", AIMessage(content=[])])
def test_math_reply_without_answer_until_the_end_gives_no_answer(call: Call, reply: str | AIMessage) -> None:
    model = ScriptedChatModel([reply, reply])
    update = call(create_solver_node(_agent(model), max_turns=2), {"task": MATH})
    t = update["trajectory"]
    assert (t.answer, t.turns, update["stop_reason"]) == (None, 2, "max_turns")
    assert all(not r.ok and r.reason for r in update["usage_log"])
    assert "No final answer" in t.messages[3]["content"] or "empty" in t.messages[3]["content"]


def test_multi_agent_solver_picks_the_agent_from_state(call: Call) -> None:
    a = _agent(ScriptedChatModel([]), "a")
    b = _agent(ScriptedChatModel(["\\boxed{42}"], model_name="b-model"), "b")
    update = call(create_solver_node([a, b]), {"task": MATH, "agent": "b", "sample_index": 3})
    t = update["trajectory"]
    assert (t.agent.name, t.agent.model, t.sample_index) == ("b", "b-model", 3)
    with pytest.raises(ConfigurationError, match="several agents"):
        call(create_solver_node([a, b]), {"task": MATH})
    with pytest.raises(ConfigurationError, match="'c'"):
        call(create_solver_node([a, b]), {"task": MATH, "agent": "c"})


def test_settings_are_validated() -> None:
    agent = _agent(ScriptedChatModel([]))
    with pytest.raises(ConfigurationError, match="max_turns"):
        create_solver_node(agent, max_turns=0)
    with pytest.raises(ConfigurationError, match="unique"):
        create_solver_node([agent, agent])
    with pytest.raises(ConfigurationError, match="constraints_preamble must say what the constraints are"):
        create_solver_node(agent, constraints_preamble="  ")
    with pytest.raises(ConfigurationError, match="BaseChatModel"):
        Agent(name="x", model="gpt-4")  # type: ignore[arg-type]


def test_routing_helpers() -> None:
    assert route_after_solve({"task": MATH, "trajectory": object()}) == "verify"
    assert route_after_solve({"task": MATH}) == "__end__"
    no_truth = Task(id="n", domain="math", question="?")
    assert route_after_solve({"task": no_truth, "trajectory": object()}) == "__end__"
    sends = fan_out_to_agents(["a", "b"], samples=2)({"task": MATH, "hits": []})
    assert [(s.node, s.arg["agent"], s.arg["sample_index"]) for s in sends] == [
        ("solve", "a", 0),
        ("solve", "a", 1),
        ("solve", "b", 0),
        ("solve", "b", 1),
    ]
    assert all(s.arg["task"] is MATH and "hits" in s.arg for s in sends)


class _ServerError(Exception):
    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def test_a_feedback_turn_that_outgrows_the_context_ends_the_solve_with_the_last_answer(call: Call) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        if len(messages) == 2:
            return BAD
        raise ContextOverflowError

    update = call(create_solver_node(_agent(FunctionChatModel(reply))), {"task": CODE})
    t = update["trajectory"]
    assert (t.turns, update["stop_reason"]) == (1, "context_full")
    assert t.answer is not None
    assert "a - b" in t.answer
    assert [c.step for c in update["usage_log"]] == ["solve"]
    assert "did not pass" in t.messages[-1]["content"]  # the feedback it could not read stays in the record


@pytest.mark.parametrize(
    ("first", "error"),
    [(True, ContextOverflowError()), (False, _ServerError("upstream unavailable", 503)), (False, TimeoutError())],
    ids=["first-prompt-too-long", "server-error", "timeout"],
)
def test_other_model_errors_propagate(call: Call, first: bool, error: Exception) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        if len(messages) == 2 and not first:
            return BAD
        raise error

    with pytest.raises(type(error)):
        call(create_solver_node(_agent(FunctionChatModel(reply))), {"task": CODE})
