"""Classifier node: structured output, robust parsing, deterministic fallback, usage; sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.nodes import create_classifier_node, deterministic_classify
from memcollab_langgraph.schema import CategoryPath, Task
from memcollab_langgraph.taxonomy import get_taxonomy
from memcollab_langgraph.testing import ContextOverflowError, FunctionChatModel, ScriptedChatModel

Call = Callable[[Runnable[Any, Any], dict[str, Any]], dict[str, Any]]

MODULAR = Task(id="m1", domain="math", question="What is the remainder when 2^100 is divided by 7 (modulo 7)?")


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Call:
    def run(node: Runnable[Any, Any], state: dict[str, Any]) -> dict[str, Any]:
        if request.param == "sync":
            return node.invoke(state)  # type: ignore[no-any-return]
        return asyncio.run(node.ainvoke(state))

    return run


def test_model_label_is_used_and_usage_recorded(call: Call) -> None:
    model = ScriptedChatModel(
        ['{"category": "number_theory", "subcategory": "modular_arithmetic"}'], model_name="tiny-7b"
    )
    update = call(create_classifier_node(model, "math"), {"task": MODULAR})
    assert str(update["category"]) == "math/number_theory/modular_arithmetic"
    c = update["classification"]
    assert (c.source, c.fell_back, c.reason, c.model) == ("model", False, None, "tiny-7b")
    [record] = update["usage_log"]
    assert record.step == "classify"
    assert record.ok
    assert record.usage.model == "tiny-7b"
    assert record.usage.calls == 1
    assert record.usage.prompt_tokens > 0
    assert record.usage.completion_tokens > 0
    assert record.usage.latency_s >= 0.0


def test_prompt_lists_the_domain_labels_and_the_question(call: Call) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        prompt = "\n".join(m.text for m in messages)
        assert "modular_arithmetic" in prompt
        assert MODULAR.question in prompt
        assert "strings" not in prompt  # only the task's domain is offered
        return '{"category": "number_theory"}'

    update = call(create_classifier_node(FunctionChatModel(reply), "default"), {"task": MODULAR})
    assert str(update["category"]) == "math/number_theory"


def test_display_names_resolve_to_slugs(call: Call) -> None:
    model = ScriptedChatModel(['{"category": "Number Theory", "subcategory": "Modular Arithmetic"}'])
    update = call(create_classifier_node(model, "math"), {"task": MODULAR})
    assert str(update["category"]) == "math/number_theory/modular_arithmetic"


def test_unknown_subcategory_keeps_category_with_a_note(call: Call) -> None:
    model = ScriptedChatModel(['{"category": "number_theory", "subcategory": "elliptic_curves"}'])
    update = call(create_classifier_node(model, "math"), {"task": MODULAR})
    assert str(update["category"]) == "math/number_theory"
    assert not update["classification"].fell_back
    assert "elliptic_curves" in update["classification"].reason


def test_prose_around_valid_json_is_repaired_not_a_fallback(call: Call) -> None:
    model = ScriptedChatModel(['Sure! Here it is: {"category": "geometry"} Hope that helps.'])
    update = call(create_classifier_node(model, "math"), {"task": MODULAR})
    c = update["classification"]
    assert str(c.path) == "math/geometry"
    assert c.source == "model"
    assert not c.fell_back
    assert "JSON repair" in c.reason


@pytest.mark.parametrize(
    ("reply", "reason_part"),
    [
        pytest.param('{"category": "numb', "'numb' is not in taxonomy", id="truncated-json"),
        pytest.param('I would say {"category": "calculus"} honestly', "'calculus' is not in", id="prose"),
        pytest.param('{"category": "calculus", "subcategory": "limits"}', "'calculus'", id="wrong-enum"),
        pytest.param("", "the reply is empty", id="empty"),
        pytest.param(AIMessage(content="It is number theory."), "without the structured output", id="no-tool"),
        pytest.param(AIMessage(content=""), "the reply is empty", id="empty-message"),
        pytest.param("[1, 2, 3]", "no JSON object", id="json-list"),
        pytest.param('{"label": "algebra"}', "category: Field required", id="wrong-field"),
    ],
)
def test_unusable_reply_falls_back_with_a_reason(call: Call, reply: str | AIMessage, reason_part: str) -> None:
    model = ScriptedChatModel([reply], model_name="tiny")
    update = call(create_classifier_node(model, "math"), {"task": MODULAR})
    c = update["classification"]
    assert c.fell_back
    assert c.source == "keyword"
    assert str(c.path) == "math/number_theory/modular_arithmetic"  # BM25 over the descriptions
    assert c.reason is not None
    assert reason_part in c.reason
    [record] = update["usage_log"]
    assert not record.ok
    assert record.reason == c.reason
    assert record.usage.model == "tiny"


def test_a_task_too_long_for_the_context_is_classified_without_the_model(call: Call) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        raise ContextOverflowError

    update = call(create_classifier_node(FunctionChatModel(reply), "math"), {"task": MODULAR})
    c = update["classification"]
    assert (str(c.path), c.source, c.fell_back) == ("math/number_theory/modular_arithmetic", "keyword", True)
    assert c.reason is not None
    assert "does not fit the model's context" in c.reason
    assert "maximum context length" in c.reason
    assert "usage_log" not in update  # the refused call cost no tokens


def test_other_model_errors_of_the_classifier_propagate(call: Call) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        raise TimeoutError("Request timed out.")

    with pytest.raises(TimeoutError):
        call(create_classifier_node(FunctionChatModel(reply), "math"), {"task": MODULAR})


def test_fallback_prefers_the_tasks_own_label(call: Call) -> None:
    labelled = MODULAR.model_copy(update={"category": CategoryPath(domain="math", category="algebra")})
    update = call(create_classifier_node(ScriptedChatModel([""]), "math"), {"task": labelled})
    c = update["classification"]
    assert (str(c.path), c.source, c.fell_back) == ("math/algebra", "task_label", True)


def test_prefer_task_label_makes_no_model_call(call: Call) -> None:
    labelled = MODULAR.model_copy(update={"category": CategoryPath(domain="math", category="algebra")})
    model = ScriptedChatModel([])  # any call would fail the test
    update = call(create_classifier_node(model, "math", use_task_label="prefer"), {"task": labelled})
    assert str(update["category"]) == "math/algebra"
    assert update["classification"].source == "task_label"
    assert "usage_log" not in update
    assert model.calls == []


def test_never_use_task_label_ignores_it_on_fallback(call: Call) -> None:
    labelled = MODULAR.model_copy(update={"category": CategoryPath(domain="math", category="algebra")})
    node = create_classifier_node(ScriptedChatModel(["junk"]), "math", use_task_label="never")
    assert call(node, {"task": labelled})["classification"].source == "keyword"


def test_task_as_plain_dict_is_accepted(call: Call) -> None:
    model = ScriptedChatModel(['{"category": "number_theory"}'])
    update = call(create_classifier_node(model, "math"), {"task": MODULAR.model_dump()})
    assert str(update["category"]) == "math/number_theory"


def test_domain_outside_taxonomy_is_a_configuration_error(call: Call) -> None:
    code_task = Task(id="c", domain="code", question="Reverse a string.")
    with pytest.raises(ConfigurationError, match="domain 'code'"):
        call(create_classifier_node(ScriptedChatModel([]), "math"), {"task": code_task})


def test_missing_task_is_a_configuration_error(call: Call) -> None:
    with pytest.raises(ConfigurationError, match=r"state\['task'\]"):
        call(create_classifier_node(ScriptedChatModel([]), "math"), {})


class _NoStructuredOutput(ScriptedChatModel):
    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("no tool calling")


def test_model_without_structured_output_is_parsed_from_its_text(call: Call) -> None:
    model = _NoStructuredOutput(['Label: {"category": "number_theory"}', "no idea"])
    node = create_classifier_node(model, "math")
    c = call(node, {"task": MODULAR})["classification"]
    assert (str(c.path), c.source) == ("math/number_theory", "model")
    c = call(node, {"task": MODULAR})["classification"]
    assert c.fell_back
    assert c.raw == "no idea"


def test_bad_settings_are_rejected_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="use_task_label"):
        create_classifier_node(ScriptedChatModel([]), "math", use_task_label="always")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown taxonomy"):
        create_classifier_node(ScriptedChatModel([]), "physics")


def test_deterministic_classify_code_and_no_overlap() -> None:
    tax = get_taxonomy("default")
    task = Task(id="c", domain="code", question="Write a function to check whether a string is a palindrome.")
    path, source = deterministic_classify(task, tax)
    assert (str(path), source) == ("code/strings/palindromes_anagrams", "keyword")
    blank = Task(id="z", domain="math", question="Zyx qwv?")
    assert deterministic_classify(blank, tax) == (CategoryPath(domain="math"), "domain")
