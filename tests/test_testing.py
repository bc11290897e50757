"""The test doubles in ``memcollab_langgraph.testing`` behave like the real things they stand in for."""

from __future__ import annotations

import asyncio
import doctest
import json
import math
import os
import subprocess
import sys
from types import ModuleType
from typing import Any, TypedDict

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.store.memory import InMemoryStore
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ValidationError

import memcollab_langgraph._fake_embeddings as fake_embeddings_module
import memcollab_langgraph.testing as testing_module
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.testing import (
    FakeEmbeddings,
    FunctionChatModel,
    ScriptedChatModel,
    StructuredOutputMethod,
    UnexpectedModelCallError,
)

METHODS: list[StructuredOutputMethod | None] = [None, "function_calling", "json_mode", "json_schema"]


class Answer(BaseModel):
    value: int
    reason: str


class AnswerDict(TypedDict):
    value: int


def _raw_result(output: object) -> dict[str, Any]:
    """Narrow an ``include_raw=True`` result, which langchain types as ``dict | BaseModel``."""
    assert isinstance(output, dict)
    return output


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- ScriptedChatModel -----------------------------------------------------------------------------------


def test_scripted_replies_in_order_and_records_calls() -> None:
    model = ScriptedChatModel(["first", "second"])

    assert model.invoke("question one").content == "first"
    assert model.remaining == 1
    assert model.invoke([SystemMessage("be brief"), HumanMessage("question two")]).content == "second"

    assert [[(m.type, m.content) for m in call] for call in model.calls] == [
        [("human", "question one")],
        [("system", "be brief"), ("human", "question two")],
    ]
    assert model.remaining == 0


def test_extra_call_fails_loudly_with_the_prompt() -> None:
    model = ScriptedChatModel(["only one", "and two"], model_name="tiny")
    model.invoke("a")
    model.invoke("b")

    with pytest.raises(UnexpectedModelCallError, match="only 2 responses were scripted") as info:
        model.invoke([HumanMessage("the unexpected question")])

    assert isinstance(info.value, AssertionError)
    assert "call #3" in str(info.value)
    assert "[human] the unexpected question" in str(info.value)
    assert "'tiny'" in str(info.value)
    assert len(model.calls) == 3  # the failed call is recorded too


def test_empty_script_fails_on_first_call() -> None:
    with pytest.raises(UnexpectedModelCallError, match="only 0 responses"):
        ScriptedChatModel([]).invoke("hello")


def test_scripted_exception_is_raised_at_its_turn() -> None:
    model = ScriptedChatModel(["before", ConnectionError("server down"), "after"])

    assert model.invoke("1").content == "before"
    with pytest.raises(ConnectionError, match="server down"):
        model.invoke("2")
    assert model.invoke("3").content == "after"
    assert len(model.calls) == 3


def test_scripted_ai_message_is_returned_with_metadata_added_and_script_untouched() -> None:
    scripted = AIMessage(
        content="", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "t1", "type": "tool_call"}]
    )
    model = ScriptedChatModel([scripted], model_name="m")

    reply = model.invoke("go")

    assert reply.tool_calls == scripted.tool_calls
    assert reply.response_metadata["model_name"] == "m"
    assert reply.usage_metadata is not None
    assert scripted.id is None
    assert scripted.usage_metadata is None


def test_usage_metadata_and_model_name_like_chat_openai() -> None:
    model = ScriptedChatModel(["four words of reply"], model_name="qwen-7b")

    reply = model.invoke([SystemMessage("two words"), HumanMessage("three words here")])

    assert reply.usage_metadata == {"input_tokens": 5, "output_tokens": 4, "total_tokens": 9}
    assert reply.response_metadata["model_name"] == "qwen-7b"
    assert reply.response_metadata["finish_reason"] == "stop"


def test_fixed_usage_is_reported_verbatim() -> None:
    usage = {"input_tokens": 100, "output_tokens": 7, "total_tokens": 107}
    model = ScriptedChatModel(["a", "b"], usage=usage)  # type: ignore[arg-type]

    assert model.invoke("x").usage_metadata == usage
    assert model.invoke("y").usage_metadata == usage


@pytest.mark.parametrize(
    ("responses", "match"),
    [("just a string", "sequence of replies"), ([TimeoutError], "exception instance"), ([42], "#1")],
)
def test_bad_scripts_are_configuration_errors(responses: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ScriptedChatModel(responses)


async def test_scripted_async_paths() -> None:
    model = ScriptedChatModel(["a", ValueError("boom"), "c"])

    assert (await model.ainvoke("1")).content == "a"
    with pytest.raises(ValueError, match="boom"):
        await model.ainvoke("2")
    reply = await model.ainvoke("3")
    assert reply.content == "c"
    assert reply.usage_metadata is not None
    with pytest.raises(UnexpectedModelCallError, match="only 3 responses"):
        await model.ainvoke("4")
    assert [call[0].content for call in model.calls] == ["1", "2", "3", "4"]


def test_concurrent_calls_each_use_one_scripted_reply() -> None:
    script = [f"reply {i}" for i in range(20)]
    model = ScriptedChatModel(script)

    replies = model.batch([f"q {i}" for i in range(20)], config={"max_concurrency": 8})

    assert sorted(str(r.content) for r in replies) == sorted(script)
    assert model.remaining == 0


# --- FunctionChatModel -----------------------------------------------------------------------------------


def test_function_model_passes_the_prompt_and_propagates_failed_asserts() -> None:
    def reply(messages: list[BaseMessage]) -> str:
        assert messages[0].type == "system", "the system prompt is missing"
        return f"saw {len(messages)} messages"

    model = FunctionChatModel(reply, model_name="fn")

    good = model.invoke([SystemMessage("rules"), HumanMessage("q")])
    assert good.content == "saw 2 messages"
    assert good.response_metadata["model_name"] == "fn"
    assert good.usage_metadata == {"input_tokens": 2, "output_tokens": 3, "total_tokens": 5}
    with pytest.raises(AssertionError, match="system prompt is missing"):
        model.invoke([HumanMessage("q")])
    assert len(model.calls) == 2


async def test_function_model_with_async_function_sync_and_async() -> None:
    async def reply(messages: list[BaseMessage]) -> str:
        await asyncio.sleep(0)
        return str(messages[-1].content).upper()

    model = FunctionChatModel(reply)

    assert (await model.ainvoke("hi")).content == "HI"
    # invoke from code that is itself running in an event loop still works
    assert model.invoke("there").content == "THERE"
    assert [call[0].content for call in model.calls] == ["hi", "there"]


def test_function_model_async_function_from_plain_sync_code() -> None:
    async def reply(messages: list[BaseMessage]) -> AIMessage:
        return AIMessage(content="from coroutine")

    assert FunctionChatModel(reply).invoke("x").content == "from coroutine"


def test_function_model_rejects_a_bad_return_value() -> None:
    model = FunctionChatModel(lambda messages: 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must return a str or AIMessage"):
        model.invoke("x")


# --- structured output -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_structured_output_parses_json_replies(method: StructuredOutputMethod | None, use_async: bool) -> None:
    model = ScriptedChatModel(['{"value": 4, "reason": "2 + 2"}'])
    structured = model.with_structured_output(Answer, method=method)

    result = asyncio.run(structured.ainvoke("q")) if use_async else structured.invoke("q")

    assert result == Answer(value=4, reason="2 + 2")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_structured_output_include_raw_reports_junk_as_parsing_error(
    method: StructuredOutputMethod | None, use_async: bool
) -> None:
    model = ScriptedChatModel(["Sure! The answer is four.", '{"value": 4, "reason": "ok"}'])
    structured = model.with_structured_output(Answer, include_raw=True, method=method)

    def run(prompt: str) -> dict[str, Any]:
        return _raw_result(asyncio.run(structured.ainvoke(prompt)) if use_async else structured.invoke(prompt))

    bad = run("first")
    assert set(bad) == {"raw", "parsed", "parsing_error"}
    assert bad["parsed"] is None
    assert isinstance(bad["parsing_error"], OutputParserException)
    assert isinstance(bad["raw"], AIMessage)
    assert bad["raw"].response_metadata["model_name"] == "scripted"

    good = run("second")
    assert good["parsed"] == Answer(value=4, reason="ok")
    assert good["parsing_error"] is None


def test_junk_under_function_calling_looks_like_chat_openai_invalid_tool_call() -> None:
    model = ScriptedChatModel(["not json at all"])

    raw = _raw_result(model.with_structured_output(Answer, include_raw=True).invoke("q"))["raw"]

    assert raw.content == ""
    assert raw.tool_calls == []
    assert raw.invalid_tool_calls[0]["name"] == "Answer"
    assert raw.invalid_tool_calls[0]["args"] == "not json at all"
    assert raw.response_metadata["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("method", METHODS)
def test_structured_output_without_include_raw_raises_on_junk(method: StructuredOutputMethod | None) -> None:
    model = ScriptedChatModel(["junk"])
    with pytest.raises(OutputParserException):
        model.with_structured_output(Answer, method=method).invoke("q")


def test_json_that_fails_validation_is_a_parsing_error() -> None:
    model = ScriptedChatModel(['{"value": "not a number"}'])

    result = _raw_result(model.with_structured_output(Answer, include_raw=True).invoke("q"))

    assert result["parsed"] is None
    assert isinstance(result["parsing_error"], ValidationError)


def test_plain_text_ai_message_under_forced_tool_gives_no_parsed_and_no_error() -> None:
    # Pins langchain-core's behaviour for a model that ignores the forced tool: callers must treat
    # parsed=None as a failure even when parsing_error is None.
    model = ScriptedChatModel([AIMessage(content="I refuse to use tools")])

    result = _raw_result(model.with_structured_output(Answer, include_raw=True).invoke("q"))

    assert result["parsed"] is None
    assert result["parsing_error"] is None
    assert result["raw"].content == "I refuse to use tools"


@pytest.mark.parametrize("method", METHODS)
def test_structured_output_with_typed_dict_and_json_schema_returns_dicts(
    method: StructuredOutputMethod | None,
) -> None:
    schema = {"title": "AnswerDict", "type": "object", "properties": {"value": {"type": "integer"}}}
    model = ScriptedChatModel(['{"value": 1}', '{"value": 2}'])

    assert model.with_structured_output(AnswerDict, method=method).invoke("a") == {"value": 1}
    assert model.with_structured_output(schema, method=method).invoke("b") == {"value": 2}


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_function_model_structured_output_sees_the_prompt(use_async: bool) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        assert "category" in messages[-1].text
        return json.dumps({"value": 7, "reason": "classified"})

    structured = FunctionChatModel(reply).with_structured_output(Answer, include_raw=True)
    prompt = "Pick the category."
    result = _raw_result(asyncio.run(structured.ainvoke(prompt)) if use_async else structured.invoke(prompt))

    assert result["parsed"] == Answer(value=7, reason="classified")
    assert result["raw"].usage_metadata["output_tokens"] > 0


def test_unknown_structured_output_method_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="'xml'"):
        ScriptedChatModel([]).with_structured_output(Answer, method="xml")  # type: ignore[arg-type]


# --- bind_tools ------------------------------------------------------------------------------------------


def test_bind_tools_optional_tool_keeps_text_and_turns_json_into_a_call() -> None:
    model = ScriptedChatModel(["just chatting", '{"value": 3, "reason": "r"}'])
    bound = model.bind_tools([Answer])

    text = bound.invoke("a")
    assert text.content == "just chatting"
    assert text.tool_calls == []
    call = bound.invoke("b")
    assert call.tool_calls == [
        {"name": "Answer", "args": {"value": 3, "reason": "r"}, "id": "call_1", "type": "tool_call"}
    ]


def test_bind_tools_with_several_tools_needs_the_tool_name() -> None:
    model = ScriptedChatModel(['{"name": "AnswerDict", "args": {"value": 1}}', '{"value": 1}'])
    bound = model.bind_tools([Answer, AnswerDict], tool_choice="any")

    assert bound.invoke("a").tool_calls[0]["name"] == "AnswerDict"
    with pytest.raises(ConfigurationError, match="cannot tell which of the bound tools"):
        bound.invoke("b")


def test_bind_tools_forcing_a_named_tool_and_tool_choice_none() -> None:
    model = ScriptedChatModel(['{"value": 1}', '{"value": 1}'])

    forced = model.bind_tools([Answer, AnswerDict], tool_choice="AnswerDict").invoke("a")
    assert forced.tool_calls[0]["name"] == "AnswerDict"
    plain = model.bind_tools([Answer], tool_choice="none").invoke("b")
    assert plain.content == '{"value": 1}'
    assert plain.tool_calls == []


def test_bind_tools_rejects_an_unknown_tool_choice() -> None:
    with pytest.raises(ConfigurationError, match="does not name a bound tool"):
        ScriptedChatModel([]).bind_tools([Answer], tool_choice="Missing")


# --- inside a LangGraph graph ----------------------------------------------------------------------------


class _State(TypedDict, total=False):
    question: str
    draft: str
    answer: Answer | None


def _graph(
    model: ScriptedChatModel | FunctionChatModel, retry: RetryPolicy | None = None
) -> StateGraph[_State, None, _State, _State]:
    structured = model.with_structured_output(Answer, include_raw=True)

    def draft(state: _State) -> _State:
        return {"draft": model.invoke([HumanMessage(state["question"])]).text}

    async def adraft(state: _State) -> _State:
        return {"draft": (await model.ainvoke([HumanMessage(state["question"])])).text}

    def answer(state: _State) -> _State:
        return {"answer": _raw_result(structured.invoke([HumanMessage(f"Format: {state['draft']}")]))["parsed"]}

    async def aanswer(state: _State) -> _State:
        result = await structured.ainvoke([HumanMessage(f"Format: {state['draft']}")])
        return {"answer": _raw_result(result)["parsed"]}

    graph = StateGraph(_State)
    graph.add_node("draft", RunnableLambda(draft, afunc=adraft), retry_policy=retry)
    graph.add_node("answer", RunnableLambda(answer, afunc=aanswer))
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "answer")
    graph.add_edge("answer", END)
    return graph


def _function_model_for_graph() -> FunctionChatModel:
    def reply(messages: list[BaseMessage]) -> str:
        prompt = messages[-1].text
        if prompt.startswith("Format:"):
            assert "it is 4" in prompt, "the draft did not reach the formatting prompt"
            return '{"value": 4, "reason": "drafted"}'
        return "it is 4"

    return FunctionChatModel(reply)


@pytest.mark.parametrize("kind", ["scripted", "function"])
@pytest.mark.parametrize("use_async", [False, True], ids=["invoke", "ainvoke"])
def test_fakes_drive_a_langgraph_graph(kind: str, use_async: bool) -> None:
    model = (
        ScriptedChatModel(["it is 4", '{"value": 4, "reason": "drafted"}'])
        if kind == "scripted"
        else _function_model_for_graph()
    )
    app = _graph(model).compile()

    state: _State = {"question": "2 + 2?"}
    final = asyncio.run(app.ainvoke(state)) if use_async else app.invoke(state)

    assert final["answer"] == Answer(value=4, reason="drafted")
    assert [call[0].content for call in model.calls] == ["2 + 2?", "Format: it is 4"]


def test_scripted_error_exercises_a_node_retry_policy() -> None:
    model = ScriptedChatModel([ConnectionError("flaky"), "it is 4", '{"value": 4, "reason": "r"}'])
    retry = RetryPolicy(max_attempts=2, initial_interval=0.0, jitter=False, retry_on=ConnectionError)

    final = _graph(model, retry).compile().invoke({"question": "2 + 2?"})

    assert final["answer"] == Answer(value=4, reason="r")
    assert len(model.calls) == 3


def test_extra_call_inside_a_graph_is_not_swallowed() -> None:
    app = _graph(ScriptedChatModel(["it is 4"])).compile()
    with pytest.raises(UnexpectedModelCallError, match="Format: it is 4"):
        app.invoke({"question": "2 + 2?"})


# --- FakeEmbeddings --------------------------------------------------------------------------------------

_PINNED_HELLO_WORLD = {  # FakeEmbeddings(size=64).embed_query("Hello, world"), rounded to 6 places
    2: -0.235702,
    6: 0.235702,
    9: 0.471405,
    20: 0.235702,
    21: -0.235702,
    28: 0.235702,
    37: 0.235702,
    39: 0.235702,
    42: -0.235702,
    45: 0.471405,
    56: 0.235702,
    57: 0.235702,
}


def test_embeddings_match_a_pinned_vector() -> None:
    vector = FakeEmbeddings(size=64).embed_query("Hello, world")
    assert {i: round(x, 6) for i, x in enumerate(vector) if x} == _PINNED_HELLO_WORLD


def test_embeddings_are_identical_across_processes_with_different_hash_seeds() -> None:
    texts = ["When the sum is negative, re-check signs.", "Strings: handle the empty case.", ""]
    code = (
        "import json, sys; from memcollab_langgraph.testing import FakeEmbeddings; "
        "print(json.dumps(FakeEmbeddings(size=48).embed_documents(json.loads(sys.argv[1]))))"
    )
    expected = FakeEmbeddings(size=48).embed_documents(texts)
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(texts)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert json.loads(out.stdout) == expected


def test_embeddings_rank_related_text_above_unrelated() -> None:
    emb = FakeEmbeddings()
    query = emb.embed_query("When adding fractions, find a common denominator first")
    related, morphological, unrelated = emb.embed_documents(
        [
            "Always find the common denominator before adding fractions",
            "fraction addition denominators",
            "The weather is sunny today",
        ]
    )

    assert _cosine(query, related) > _cosine(query, morphological) > _cosine(query, unrelated)
    assert _cosine(query, related) > 0.5
    assert abs(_cosine(query, unrelated)) < 0.2


def test_embeddings_are_unit_length_even_without_words() -> None:
    emb = FakeEmbeddings(size=16)
    for text in ["some words", "", "?!"]:
        vector = emb.embed_query(text)
        assert len(vector) == 16
        assert math.isclose(sum(x * x for x in vector), 1.0)
    assert emb.embed_query("") == emb.embed_query("?!")


def test_embeddings_size_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="got 0"):
        FakeEmbeddings(size=0)


async def test_embeddings_async_twins_match_sync() -> None:
    emb = FakeEmbeddings(size=32)
    assert await emb.aembed_documents(["a b", "c"]) == emb.embed_documents(["a b", "c"])
    assert await emb.aembed_query("a b") == emb.embed_query("a b")


async def test_embeddings_drive_a_langgraph_store_search() -> None:
    store = InMemoryStore(index={"dims": 64, "embed": FakeEmbeddings(size=64), "fields": ["text"]})
    await store.aput(("c",), "fractions", {"text": "add fractions over a common denominator"})
    await store.aput(("c",), "strings", {"text": "reverse a string with slicing"})

    hits = await store.asearch(("c",), query="common denominator of two fractions")

    assert [hit.key for hit in hits] == ["fractions", "strings"]
    assert hits[0].score is not None
    assert hits[1].score is not None
    assert hits[0].score > hits[1].score


# --- docs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [testing_module, fake_embeddings_module], ids=["testing", "fake_embeddings"])
def test_docstring_examples_run(module: ModuleType) -> None:
    results = doctest.testmod(module)
    assert results.attempted >= 3
    assert results.failed == 0
