"""Pure helpers behind the nodes: structured parsing, abstraction check, turn planning, reducers."""

from __future__ import annotations

import doctest
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.messages.tool import invalid_tool_call
from pydantic import BaseModel

from memcollab_langgraph.nodes import add_trajectories, parse_structured, plan_turn, source_material, turns
from memcollab_langgraph.nodes.abstraction import task_specific_reason
from memcollab_langgraph.nodes.parsing import raw_text
from memcollab_langgraph.nodes.turns import INVENTED_OUTPUT, cut_invented_output
from memcollab_langgraph.schema import AgentRef, Task, Trajectory
from memcollab_langgraph.testing import ScriptedChatModel


class Label(BaseModel):
    category: str


class Many(BaseModel):
    items: list[Label]


def _result(raw: AIMessage, parsed: Any = None, error: Exception | None = None) -> dict[str, Any]:
    return {"raw": raw, "parsed": parsed, "parsing_error": error}


def test_structured_value_wins() -> None:
    parsed = parse_structured(_result(AIMessage(content=""), Label(category="a")), Label)
    assert (parsed.value, parsed.mode, parsed.reason) == (Label(category="a"), "structured", None)


def test_dict_parsed_value_is_validated() -> None:
    assert parse_structured(_result(AIMessage(content=""), {"category": "b"}), Label).value == Label(category="b")


def test_invalid_tool_call_arguments_are_repaired() -> None:
    raw = AIMessage(content="", invalid_tool_calls=[invalid_tool_call(name="Label", args='{"category": "c', id="1")])
    parsed = parse_structured(_result(raw, error=ValueError("bad json")), Label)
    assert parsed.value == Label(category="c")
    assert parsed.mode == "repaired"
    assert parsed.reason is not None
    assert "ValueError: bad json" in parsed.reason
    assert parsed.raw == '{"category": "c'


def test_bare_list_fills_the_list_field() -> None:
    parsed = parse_structured(
        _result(AIMessage(content='[{"category": "x"}, {"category": "y"}]')), Many, list_key="items"
    )
    assert parsed.value is not None
    assert [i.category for i in parsed.value.items] == ["x", "y"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "the reply is empty"),
        ("no json here", "no JSON object"),
        ('{"cat": 1}', "category: Field required"),
    ],
)
def test_failures_say_why(content: str, reason: str) -> None:
    parsed = parse_structured(_result(AIMessage(content=content)), Label)
    assert parsed.value is None
    assert parsed.mode == "failed"
    assert parsed.reason is not None
    assert reason in parsed.reason
    assert "without the structured output" in parsed.reason


def test_real_fake_model_results_parse() -> None:
    model = ScriptedChatModel(['{"category": "d"}', 'So: {"category": "e"}', AIMessage(content="nope")])
    runnable = model.with_structured_output(Label, include_raw=True)
    modes = [parse_structured(runnable.invoke("q"), Label).mode for _ in range(3)]  # type: ignore[arg-type]
    assert modes == ["structured", "repaired", "failed"]


def test_raw_text_prefers_content_then_tool_arguments() -> None:
    assert raw_text(AIMessage(content="hi")) == "hi"
    assert raw_text(AIMessage(content="", tool_calls=[{"name": "t", "args": {"a": 1}, "id": "1"}])) == '{"a": 1}'
    assert raw_text(None) == ""


def test_abstraction_check_accepts_general_advice_and_small_numbers() -> None:
    task = Task(id="t", domain="math", question="Tom has 12 apples and gives away 2. Then 1 more. How many?")
    source = source_material(task, [])
    assert (
        task_specific_reason(
            "When counting what is left, enforce subtracting each removal once; "
            "avoid counting index 0 or off by 1 twice.",
            source,
        )
        is None
    )
    assert task_specific_reason("When there are 12 apples, enforce care; avoid haste.", source) is not None
    assert task_specific_reason("When a person like Tom gives items away, enforce care; avoid haste.", source) == (
        "copies task-specific name(s) ['Tom']"
    )


def test_abstraction_check_finds_numbers_in_trajectories_and_code_fragments() -> None:
    task = Task(id="c", domain="code", question="sum list", tests=["assert total([1, 2]) == 3"])
    traj = Trajectory(task_id="c", agent=AgentRef(name="a", model="m"), answer="def total(xs):\n    return sum(xs) + 7")
    source = source_material(task, [traj])
    assert "7" in source.numbers
    assert "total" in source.identifiers
    assert "number(s) ['7']" in (task_specific_reason("When summing, enforce adding 7; avoid x.", source) or "")
    assert "code" in (task_specific_reason("When summing, enforce return sum(xs) + only; avoid x.", source) or "")
    assert "identifier" in (task_specific_reason("When summing, enforce calling total( once; avoid x.", source) or "")
    assert task_specific_reason("When summing, enforce using sum(); avoid manual loops.", source) is None


def test_plan_turn_code_and_math() -> None:
    code = Task(id="c", domain="code", question="q", visible_tests=["assert f() == 1"], entry_point="f")
    assert plan_turn(code, "```python\ndef f():\n    return 1\n```").action == "run_tests"
    assert plan_turn(code, "def f(): return 1", run_visible_tests=False).action == "stop"
    assert plan_turn(code, "I refuse.").issue == "no program in the reply"
    math = Task(id="m", domain="math", question="q")
    assert plan_turn(math, "The answer is 5.").answer == "5"
    weak = plan_turn(math, "So we get 12\n```python\nprint(12)\n```")
    assert (weak.action, weak.answer) == ("run_python", "12")
    assert plan_turn(math, "```python\nprint(1)\n```", python_tool=False).action == "stop"
    assert plan_turn(math, "I do not know.").action == "ask_again"


CODE = "```python\nprint(2)\n```"


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        pytest.param("A\n```python\nprint(2)\n```\n```output\n3\n```\n\\boxed{3}", f"A\n{CODE}", id="output"),
        pytest.param("```py\nprint(2)\n```\nOutput:\n```\n3\n```\nSo 3.", "```py\nprint(2)\n```", id="label"),
        pytest.param(f"{CODE}\nThe result is:\n```text\n3\n```", CODE, id="text"),
        pytest.param("```python\nprint(2)\n```\nThis prints 2, so \\boxed{2}.", None, id="own-reasoning"),
        pytest.param("```output\n3\n```\n```python\nprint(2)\n```", None, id="output-first"),
        pytest.param("```python\nprint(2)\n```\n```python\nprint(3)\n```", None, id="two-programs"),
        pytest.param("No code: \\boxed{2}", None, id="no-code"),
    ],
)
def test_cut_invented_output(reply: str, kept: str | None) -> None:
    assert cut_invented_output(reply) == kept
    plan = plan_turn(Task(id="m", domain="math", question="q"), reply)
    assert plan.kept == kept
    if kept is not None:
        assert (plan.action, plan.program, plan.issue) == ("run_python", "print(2)\n", INVENTED_OUTPUT)
    assert plan_turn(Task(id="m", domain="math", question="q"), reply, python_tool=False).kept is None


def test_turns_docstring_examples_run() -> None:
    assert doctest.testmod(turns).failed == 0


def test_add_trajectories_appends_and_replaces_by_agent_and_sample() -> None:
    a0 = Trajectory(task_id="t", agent=AgentRef(name="a", model="m"))
    a1 = a0.model_copy(update={"sample_index": 1})
    b0 = Trajectory(task_id="t", agent=AgentRef(name="b", model="m"))
    merged = add_trajectories(add_trajectories([a0], [b0]), [a1, a0.model_copy(update={"correct": False})])
    assert [(t.agent.name, t.sample_index, t.correct) for t in merged] == [
        ("a", 0, False),
        ("b", 0, None),
        ("a", 1, None),
    ]
    assert add_trajectories(None, None) == []
