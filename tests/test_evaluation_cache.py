"""SqliteLLMCache: identical requests call the model once, across cache objects; settings never collide."""

from __future__ import annotations

import asyncio
import doctest
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import Generation
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from memcollab_langgraph.errors import StoreError
from memcollab_langgraph.evaluation import cache as cache_module
from memcollab_langgraph.evaluation.cache import SqliteLLMCache
from memcollab_langgraph.local.chat import chat_model
from memcollab_langgraph.openai_compat import portable_llm_string
from memcollab_langgraph.testing import FunctionChatModel, ScriptedChatModel


def echo(messages: list[BaseMessage]) -> str:
    return f"reply to {messages[-1].text}"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "llm.sqlite"


def test_identical_requests_call_the_model_once(path: Path) -> None:
    cache = SqliteLLMCache(path)
    model = FunctionChatModel(echo, cache=cache)
    first, second = model.invoke("2 + 2?"), model.invoke("2 + 2?")
    assert first.content == second.content == "reply to 2 + 2?"
    assert len(model.calls) == 1
    assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 1, 1)
    model.invoke("3 + 3?")
    assert len(model.calls) == 2
    assert len(cache) == 2


def test_the_cache_persists_across_cache_objects_on_one_file(path: Path) -> None:
    first = FunctionChatModel(echo, cache=SqliteLLMCache(path))
    first.invoke("What is 6 * 7?")
    second_cache = SqliteLLMCache(path)  # e.g. the re-run of an interrupted evaluation
    second = FunctionChatModel(lambda m: pytest.fail("must be served from the cache"), cache=second_cache)
    assert second.invoke("What is 6 * 7?").content == "reply to What is 6 * 7?"
    assert second.calls == []
    assert second_cache.stats.hits == 1


def test_scripted_model_is_not_asked_twice(path: Path) -> None:
    model = ScriptedChatModel(["only once"], cache=SqliteLLMCache(path))
    assert model.invoke("hello").content == "only once"
    assert model.invoke("hello").content == "only once"  # a second real call would raise


def test_model_and_temperature_differences_do_not_collide(path: Path) -> None:
    cache = SqliteLLMCache(path)
    small = FunctionChatModel(lambda m: "small says 1", model_name="qwen-7b", cache=cache)
    big = FunctionChatModel(lambda m: "big says 2", model_name="qwen-32b", cache=cache)
    assert small.invoke("q").content == "small says 1"
    assert big.invoke("q").content == "big says 2"
    hot = small.bind(temperature=0.7)
    hot.invoke("q")
    assert len(small.calls) == 2  # temperature is part of llm_string: a miss, not small's cached reply
    assert hot.invoke("q").content == "small says 1"
    assert len(small.calls) == 2
    seeded = [small.bind(temperature=0.7, seed=i) for i in range(2)]
    for model in seeded:
        model.invoke("q")
    assert len(small.calls) == 4  # a per-sample seed keeps self-contrast samples apart
    assert len(cache) == 5


def test_replies_round_trip_with_tool_calls_usage_and_structured_output(path: Path) -> None:
    class Answer(BaseModel):
        value: int

    def reply(messages: list[BaseMessage]) -> str:
        return '{"value": 42}'

    model = FunctionChatModel(reply, model_name="m", cache=SqliteLLMCache(path))
    structured = model.with_structured_output(Answer)
    assert structured.invoke("answer?") == Answer(value=42)
    again = FunctionChatModel(lambda m: pytest.fail("cached"), model_name="m", cache=SqliteLLMCache(path))
    assert again.with_structured_output(Answer).invoke("answer?") == Answer(value=42)
    out = again.with_structured_output(Answer, include_raw=True).invoke("answer?")
    assert isinstance(out, dict)
    raw = out["raw"]
    assert isinstance(raw, AIMessage)
    assert raw.tool_calls[0]["args"] == {"value": 42}
    assert raw.usage_metadata is not None
    assert raw.usage_metadata["input_tokens"] > 0
    assert raw.response_metadata["model_name"] == "m"


async def test_async_calls_use_the_cache(path: Path) -> None:
    cache = SqliteLLMCache(path)
    model = FunctionChatModel(echo, cache=cache)
    a = await model.ainvoke("async?")
    b = await model.ainvoke("async?")
    assert a.content == b.content
    assert len(model.calls) == 1
    await cache.aupdate("p", "llm", [Generation(text="plain")])
    assert await cache.alookup("p", "llm") == [Generation(text="plain")]
    await cache.aclear()
    assert len(cache) == 0


@pytest.fixture
def global_cache(path: Path) -> Iterator[SqliteLLMCache]:
    previous = get_llm_cache()
    cache = SqliteLLMCache(path)
    set_llm_cache(cache)
    yield cache
    set_llm_cache(previous)


def test_works_as_the_global_llm_cache(global_cache: SqliteLLMCache) -> None:
    model = FunctionChatModel(echo)  # no cache= : the global one applies
    model.invoke("global?")
    model.invoke("global?")
    assert len(model.calls) == 1
    assert global_cache.stats.hits == 1


def test_clear_all_or_one_llm_string(path: Path) -> None:
    cache = SqliteLLMCache(path)
    cache.update("p1", "model-a", [Generation(text="1")])
    cache.update("p2", "model-b", [Generation(text="2")])
    cache.clear(llm_string="model-a")
    assert cache.lookup("p1", "model-a") is None
    assert cache.lookup("p2", "model-b") == [Generation(text="2")]
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(TypeError, match="unexpected keyword"):
        cache.clear(prompt="p")


def test_prompt_and_llm_string_are_kept_apart(path: Path) -> None:
    cache = SqliteLLMCache(path)
    cache.update("ab", "c", [Generation(text="first")])
    assert cache.lookup("a", "bc") is None


def test_threads_share_one_cache(path: Path) -> None:
    cache = SqliteLLMCache(path)
    model = FunctionChatModel(echo, cache=cache)

    def work(worker: int) -> None:
        for i in range(10):
            model.invoke(f"question {worker}-{i}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 40
    assert len(model.calls) == 40
    asyncio.run(model.ainvoke("question 0-0"))
    assert len(model.calls) == 40


def test_nothing_is_opened_before_use_and_a_bad_file_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not a database at all" * 100)
    cache = SqliteLLMCache(bad)  # no I/O yet
    with pytest.raises(StoreError, match=r"not-a-db\.sqlite"):
        cache.lookup("p", "l")


def test_close_and_reopen(path: Path) -> None:
    cache = SqliteLLMCache(path)
    cache.update("p", "l", [Generation(text="kept")])
    cache.close()
    assert cache.lookup("p", "l") == [Generation(text="kept")]


def test_docstring_examples_run() -> None:
    assert doctest.testmod(cache_module).failed == 0


def test_entries_keyed_by_a_local_servers_port_are_rekeyed_once_and_served(tmp_path: Path) -> None:
    """Files written before the fix of OpenAICompatibleChat.model_copy keyed local models by the port."""
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    endpoint = SimpleNamespace(base_url="http://127.0.0.1:41001/v1", aliases=("m",), model_paths={"m": gguf})
    model = chat_model(endpoint, max_tokens=16)
    legacy = ChatOpenAI._get_llm_string(model)  # what the memoized serialization produced: URL and endpoint_id
    assert "127.0.0.1:41001" in legacy
    assert '"endpoint_id": ' in legacy
    assert portable_llm_string(legacy) == model._get_llm_string()

    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(cache_module._SCHEMA)
        rows = [("hello", legacy, "portable"), ("taken", legacy, "stale"), ("taken", model._get_llm_string(), "kept")]
        for prompt, llm_string, text in rows:
            value = cache_module._encode([Generation(text=text)])
            conn.execute(
                "INSERT INTO llm_cache (key, llm_string, prompt, value) VALUES (?, ?, ?, ?)",
                (cache_module._key(prompt, llm_string), llm_string, prompt, value),
            )
        conn.execute("INSERT INTO llm_cache (key, llm_string, prompt, value) VALUES ('k', 'other', 'p', 'v')")
        conn.commit()

    cache = SqliteLLMCache(path)
    assert cache.lookup("hello", model._get_llm_string()) == [Generation(text="portable")]
    assert cache.lookup("taken", model._get_llm_string()) == [Generation(text="kept")]  # never overwritten
    assert cache.lookup("hello", legacy) is None
    assert len(cache) == 3  # the stale duplicate is gone, the unrelated entry stays
    cache.update("again", legacy, [Generation(text="legacy written after the upgrade")])
    cache.close()
    reopened = SqliteLLMCache(path)  # the upgrade runs once per file: later entries are left alone
    assert reopened.lookup("again", legacy) == [Generation(text="legacy written after the upgrade")]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == cache_module._KEYS
