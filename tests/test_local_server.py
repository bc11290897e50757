"""The real llama.cpp server on loopback with the bundled SmolLM2 (and Qwen2.5-Coder-0.5B when present).

These tests never skip for a missing ``local`` extra: SmolLM2 ships with it, so its absence is a failure.
Only the two-model test skips, when the Qwen GGUF is not in the models directory
(``../shared/models/fetch-models`` puts it there).
"""

from __future__ import annotations

import doctest
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from memcollab_langgraph.config import parse_config
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.local import LocalServer, chat_model, find_model, read_state, stop_detached
from memcollab_langgraph.local import chat as chat_module
from memcollab_langgraph.local import detached as detached_module
from memcollab_langgraph.local import server as server_module
from memcollab_langgraph.local.detached import _pid_alive, serve_detached
from memcollab_langgraph.local.server import fetch_aliases
from memcollab_langgraph.nodes.llm import is_context_overflow
from memcollab_langgraph.runtime import Runtime

pytestmark = pytest.mark.integration

SMOLLM2 = "smollm2-135m"


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _qwen_or_skip() -> Path:
    try:
        return find_model("qwen2.5-coder-0.5b")
    except ConfigurationError as error:
        pytest.skip(f"Qwen2.5-Coder-0.5B GGUF not in the models dir: {error}")


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(SMOLLM2, run_dir=tmp_path_factory.mktemp("run")) as server:
        yield server


def test_the_server_lists_its_alias(smollm2: LocalServer) -> None:
    assert smollm2.is_running()
    assert fetch_aliases(smollm2.port) == [SMOLLM2]
    assert smollm2.base_url == f"http://127.0.0.1:{smollm2.port}/v1"


def test_chat_completion_answers_sensibly_with_token_usage(smollm2: LocalServer) -> None:
    reply = chat_model(smollm2, max_tokens=20).invoke("What is the capital of France? Answer in one word.")
    assert isinstance(reply.content, str)
    assert "paris" in reply.content.lower(), reply.content
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 5
    assert 0 < usage["output_tokens"] <= 20
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert reply.response_metadata["model_name"] == SMOLLM2


def test_the_gguf_chat_template_is_used(smollm2: LocalServer) -> None:
    # chat_format=None: llama-cpp-python formats prompts with the template stored in the GGUF.
    assert smollm2.log_path is not None
    assert "Using gguf chat template" in smollm2.log_path.read_text(errors="replace")


def test_max_tokens_caps_the_completion(smollm2: LocalServer) -> None:
    reply = chat_model(smollm2, max_tokens=5).invoke("Write a long story about a dragon.")
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] <= 5
    assert reply.response_metadata["finish_reason"] == "length"


def test_a_conversation_longer_than_the_context_is_recognized_as_an_overflow(smollm2: LocalServer) -> None:
    # The solver ends a solve at such a refusal (stop reason "context_full") instead of failing it; this
    # pins the server's actual error to the recognizer.
    long = "Count the words in this text. " + "word " * 3000  # over the server's 2048-token context
    with pytest.raises(Exception) as refused:  # noqa: PT011 (the client library's own error type)
        chat_model(smollm2, max_tokens=10).invoke(long)
    assert is_context_overflow(refused.value), repr(refused.value)


async def test_async_chat_reports_usage(smollm2: LocalServer) -> None:
    reply = await chat_model(smollm2, max_tokens=10).ainvoke("Say hello.")
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] > 0


def test_stop_leaves_no_process_and_frees_the_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # llama_cpp.server would let these override the config file's host and port.
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "1")
    server = LocalServer(SMOLLM2, run_dir=tmp_path).start()
    pid, port = server.pid, server.port
    assert pid is not None
    assert port != 1
    assert fetch_aliases(port) == [SMOLLM2]
    assert server.stop() is not None
    assert not server.is_running()
    assert _wait_gone(pid, 1.0)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_two_aliases_from_one_process(tmp_path: Path) -> None:
    qwen = _qwen_or_skip()
    with LocalServer({"small": SMOLLM2, "coder": qwen}, run_dir=tmp_path) as server:
        pid = server.pid
        assert fetch_aliases(server.port) == ["small", "coder"]
        answers = {}
        # coder then small again: llama.cpp swaps the loaded model on each change of alias.
        for alias in ("small", "coder", "small"):
            reply = chat_model(server, alias, max_tokens=16).invoke("What is 2 + 3? Answer with a number.")
            assert reply.usage_metadata is not None
            assert reply.usage_metadata["output_tokens"] > 0
            assert reply.response_metadata["model_name"] == alias
            answers[alias] = reply.content
        assert "5" in str(answers["coder"]), answers
        assert server.pid == pid
        assert server.model_paths == {"small": find_model(SMOLLM2), "coder": qwen}


def test_a_runtime_with_one_server_per_model_answers_from_each(tmp_path: Path) -> None:
    config = parse_config(
        {
            "agents": [{"name": "a", "base_url": "local:one"}, {"name": "b", "base_url": "local:two"}],
            "local": {"models": {"one": SMOLLM2, "two": SMOLLM2}, "servers": "per_model", "n_ctx": 1024},
            "memory": {"store": ":memory:"},
        }
    )
    with Runtime(config) as rt:
        servers = [rt.endpoints["one"], rt.endpoints["two"]] if rt.agents else []
        assert [fetch_aliases(server.port) for server in servers] == [["one"], ["two"]]
        assert servers[0].pid != servers[1].pid
        for name in ("a", "b"):
            reply = rt.agent(name).model.invoke("What is 2 + 3? Answer with a number.")
            assert reply.usage_metadata is not None
            assert reply.usage_metadata["output_tokens"] > 0
    assert not any(server.is_running() for server in servers)


def test_the_prompt_cache_restores_a_shared_prefix_with_identical_replies(smollm2: LocalServer, tmp_path: Path) -> None:
    # Two questions under one long system prompt, an unrelated request in between: llama.cpp alone would
    # evaluate the system prompt again for the second question; the cache restores it from the first.
    system = SystemMessage(" ".join(f"Rule {i}: answer in one short sentence about topic {i}." for i in range(60)))
    first = [system, HumanMessage("What is 2 + 2?")]
    second = [system, HumanMessage("What is the capital of Italy?")]
    with LocalServer(SMOLLM2, run_dir=tmp_path, prompt_cache_mib=32) as cached:
        llm = chat_model(cached, max_tokens=16)
        llm.invoke(first)
        llm.invoke([HumanMessage("Name a colour.")])
        reply = llm.invoke(second)
        assert cached.log_path is not None
        log = cached.log_path.read_text(errors="replace")
    reference = chat_model(smollm2, max_tokens=16).invoke(second)  # the same request without the cache
    assert reply.content == reference.content
    assert reply.usage_metadata is not None
    prompt_tokens = reply.usage_metadata["input_tokens"]
    assert prompt_tokens > 600
    evaluated = [int(n) for n in re.findall(r"prompt eval time =\s+[\d.]+ ms /\s+(\d+) tokens", log)]
    assert len(evaluated) == 3, log[-3000:]
    assert evaluated[2] < prompt_tokens // 4, evaluated  # only the question after the shared prefix
    assert log.count("Llama._create_completion: cache hit") == 1
    # Each stored state is small (no logits copy, 100 MB for SmolLM2) and the total stays in the budget.
    stored = re.findall(r"state of \d+ tokens, (\d+) bytes, kept; \d+ states, (\d+) of (\d+) bytes", log)
    assert len(stored) == 3, log[-3000:]
    for state_bytes, total, capacity in stored:
        assert int(state_bytes) < 32 * 2**20
        assert int(total) <= int(capacity) == 32 * 2**20


CHILD = textwrap.dedent(
    """
    import sys, time
    from memcollab_langgraph.local import LocalServer
    server = LocalServer("smollm2-135m", run_dir=sys.argv[1]).start()
    print(server.pid, flush=True)
    time.sleep(300)
    """
)


def test_the_server_dies_with_a_sigkilled_parent(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    server_pid = int(child.stdout.readline())
    assert _pid_alive(server_pid)
    child.kill()
    child.wait()
    assert _wait_gone(server_pid, 5.0), "the server survived its SIGKILLed parent"


DETACH = textwrap.dedent(
    """
    import json, sys
    from memcollab_langgraph.local import serve_detached
    state = serve_detached("smollm2-135m", name="it", run_dir=sys.argv[1])
    print(json.dumps(state.to_json()), flush=True)
    """
)


def test_detached_server_outlives_its_starter_and_is_stopped_from_elsewhere(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DETACH, str(tmp_path)], capture_output=True, text=True, timeout=300, check=True
    )
    started = json.loads(done.stdout)
    state = read_state("it", run_dir=tmp_path)
    try:
        assert state is not None
        assert state.to_json() == started
        assert _pid_alive(state.pid)
        reply = chat_model(state, max_tokens=8).invoke("Say yes.")
        assert reply.usage_metadata is not None
        assert reply.usage_metadata["output_tokens"] > 0
        with pytest.raises(ConfigurationError, match="already running"):
            serve_detached(SMOLLM2, name="it", run_dir=tmp_path)
    finally:
        stopped = stop_detached("it", run_dir=tmp_path)
    assert stopped == state
    assert _wait_gone(state.pid, 5.0)
    assert read_state("it", run_dir=tmp_path) is None
    assert not (tmp_path / "it.state.json").exists()
    assert (tmp_path / "it.log").exists()


@pytest.mark.parametrize("module", [server_module, chat_module, detached_module], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCOLLAB_RUN_DIR", str(tmp_path))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
    assert not list(tmp_path.glob("*.state.json")), os.listdir(tmp_path)
