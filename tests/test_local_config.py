"""Model specs, the llama.cpp config file, the server's environment, chat models, state files, the bounded prompt
cache (no server)."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from langchain_core.messages import HumanMessage
from llama_cpp.llama import LlamaState

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation.cache import SqliteLLMCache
from memcollab_langgraph.local import ModelSpec, config, normalize_models, prompt_cache, server_config
from memcollab_langgraph.local.chat import chat_model
from memcollab_langgraph.local.config import validate_port
from memcollab_langgraph.local.detached import ServerState, read_state, serve_detached
from memcollab_langgraph.local.prompt_cache import BoundedRAMCache, state_nbytes
from memcollab_langgraph.local.server import LocalServer, child_env, server_command
from memcollab_langgraph.openai_compat import OpenAICompatibleChat


def test_a_bare_name_or_path_gets_an_alias() -> None:
    specs = normalize_models(["smollm2-135m", Path("/m/qwen2.5-coder-0.5b-instruct.gguf"), "/m/raw-model"])
    assert [spec.alias for spec in specs] == ["smollm2-135m", "qwen2.5-coder-0.5b-instruct", "raw-model"]
    assert specs[1].model == Path("/m/qwen2.5-coder-0.5b-instruct.gguf")
    assert normalize_models("SmolLM2-135M")[0].alias == "smollm2-135m"


def test_mapping_and_specs_keep_their_order() -> None:
    spec = ModelSpec(alias="coder", model="qwen2.5-coder-0.5b", n_ctx=4096)
    assert normalize_models(spec) == (spec,)
    specs = normalize_models({"small": "smollm2-135m", "big": Path("/m/b.gguf")})
    assert [(s.alias, s.model) for s in specs] == [("small", "smollm2-135m"), ("big", Path("/m/b.gguf"))]
    assert normalize_models([spec, "smollm2-135m"])[0] is spec


@pytest.mark.parametrize(
    ("models", "match"),
    [
        ([], "no model to serve"),
        ({}, "no model to serve"),
        (["smollm2-135m", "smollm2-135m"], "alias 'smollm2-135m' is used twice"),
        ([3], "is not a name, path or ModelSpec"),
        (3, "is not a name, path, ModelSpec, mapping"),
        ({"x": 3}, "for alias 'x' is not a name or path"),
        ({1: "a.gguf"}, "alias 1 is not a string"),
    ],
)
def test_bad_model_arguments_are_rejected(models: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        normalize_models(models)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alias": ""}, "alias '' is invalid"),
        ({"alias": " x"}, "surrounding spaces"),
        ({"model": " "}, "model for alias 'a' is empty"),
        ({"n_ctx": 0}, "n_ctx of 'a' must be a positive int"),
        ({"n_threads": True}, "n_threads of 'a' must be a positive int"),
        ({"settings": {"n_ctx": 8}}, r"set \['n_ctx'\]"),
    ],
)
def test_model_spec_validates(kwargs: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {"alias": "a", "model": "a.gguf", **kwargs}
    with pytest.raises(ConfigurationError, match=match):
        ModelSpec(**fields)  # type: ignore[arg-type]


def test_server_config_shape() -> None:
    specs = [
        (ModelSpec(alias="small", model="s"), Path("/m/s.gguf")),
        (
            ModelSpec(
                alias="coder",
                model="c",
                n_ctx=4096,
                n_threads=1,
                chat_format="chatml",
                settings={"seed": 7, "cache": False},
            ),
            Path("/m/c.gguf"),
        ),
    ]
    got = server_config(specs, port=8123, n_ctx=1024, n_threads=2, prompt_cache_mib=64)
    assert got == {
        "host": "127.0.0.1",
        "port": 8123,
        "interrupt_requests": False,
        "models": [
            {
                "model": "/m/s.gguf",
                "model_alias": "small",
                "n_ctx": 1024,
                "n_threads": 2,
                "n_threads_batch": 2,
                "logits_all": False,
                "verbose": True,
                "cache": True,
                "cache_type": "ram",
                "cache_size": 64 * 2**20,
            },
            {
                "model": "/m/c.gguf",
                "model_alias": "coder",
                "n_ctx": 4096,
                "n_threads": 1,
                "n_threads_batch": 1,
                "logits_all": False,
                "verbose": True,
                "cache": False,  # the spec's settings win
                "cache_type": "ram",
                "cache_size": 64 * 2**20,
                "seed": 7,
                "chat_format": "chatml",
            },
        ],
    }
    json.dumps(got)  # serialisable as is
    assert all("cache" not in m for m in server_config(specs[:1], port=8123, prompt_cache_mib=0)["models"])
    assert all("cache" not in m for m in server_config(specs[:1], port=8123)["models"]), "off by default"


def test_server_config_is_accepted_by_llama_cpp() -> None:
    # llama-cpp-python is part of the local extra: the config must validate against its own schema.
    # Checked in a child process so this test process does not load llama.cpp's native library.
    config_json = json.dumps(
        server_config(
            [(ModelSpec(alias="a", model="a", settings={"n_batch": 256}), Path("/m/a.gguf"))],
            port=9000,
            prompt_cache_mib=128,
        )
    )
    code = (
        "import json, sys\n"
        "from llama_cpp.server.settings import ConfigFileSettings\n"
        "s = ConfigFileSettings.model_validate_json(sys.stdin.read())\n"
        "m = s.models[0]\n"
        "print(json.dumps([s.host, s.port, s.interrupt_requests, m.model_alias, m.n_ctx, m.n_threads,"
        " m.n_threads_batch, m.n_batch, m.chat_format, m.cache, m.cache_type, m.cache_size, m.logits_all]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=config_json,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == [
        "127.0.0.1",
        9000,
        False,
        "a",
        2048,
        2,
        2,
        256,
        None,
        True,
        "ram",
        128 * 2**20,
        False,  # llama_cpp.server's own default is True: every prompt token's logits kept
    ]


@pytest.mark.parametrize("port", [0, 65536, -1, True, "80", 1.5])
def test_bad_ports_are_rejected(port: object) -> None:
    with pytest.raises(ConfigurationError, match="is not a TCP port"):
        validate_port(port)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="is not a TCP port"):
        LocalServer("a.gguf", port=port)  # type: ignore[arg-type]


def test_server_env_drops_variables_that_override_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "CONFIG_FILE"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("KEEP_ME", "1")
    env = child_env()
    assert not {"HOST", "PORT", "CONFIG_FILE"} & set(env)
    assert env["KEEP_ME"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert child_env()["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's choice wins


def test_server_command_runs_the_llama_cpp_server_module_with_the_bounded_cache() -> None:
    command = server_command(Path("/r/c.json"))
    assert command == [
        sys.executable,
        "-P",
        str(Path(prompt_cache.__file__)),
        "llama_cpp.server",
        "--config_file",
        "/r/c.json",
    ]
    # Detached servers are recognised by these two arguments in /proc/<pid>/cmdline.
    assert "llama_cpp.server" in command
    assert "/r/c.json" in command


def test_the_launcher_script_does_not_import_this_package() -> None:
    # The server process should not pay seconds and 100+ MB for langchain, langgraph, chromadb...
    code = (
        "import runpy, sys\n"
        f"runpy.run_path({str(Path(prompt_cache.__file__))!r}, run_name='not_main')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('memcollab_langgraph', 'langchain', 'chromadb'))))\n"
    )
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_a_spec_can_ask_for_logits_of_every_token() -> None:
    spec = ModelSpec(alias="a", model="a", settings={"logits_all": True})
    assert server_config([(spec, Path("/m/a.gguf"))], port=9000)["models"][0]["logits_all"] is True


def test_constructor_does_no_io(tmp_path: Path) -> None:
    server = LocalServer(
        {"a": tmp_path / "missing.gguf"},
        models_dir=tmp_path / "models",
        log_path=tmp_path / "logs" / "x.log",
        run_dir=tmp_path / "run",
        n_ctx=512,
        n_threads=1,
    )
    assert list(tmp_path.iterdir()) == []
    assert server.aliases == ("a",)
    assert not server.is_running()
    assert server.pid is None
    assert server.log_path == tmp_path / "logs" / "x.log"
    assert server.model_paths == {}
    assert server.stop() is None
    with pytest.raises(ConfigurationError, match="call start"):
        _ = server.base_url
    assert LocalServer("a.gguf", port=8111).base_url == "http://127.0.0.1:8111/v1"
    assert "not started" in repr(server)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_ctx": 0}, "n_ctx must be a positive int"),
        ({"n_threads": -1}, "n_threads must be a positive int"),
        ({"startup_timeout": 0}, "startup_timeout must be a positive number"),
        ({"stop_timeout": -1.0}, "stop_timeout must be a positive number"),
        ({"prompt_cache_mib": -1}, r"prompt_cache_mib must be an int >= 0 \(0 turns the cache off\), got -1"),
    ],
)
def test_constructor_validates_sizes(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        LocalServer("a.gguf", **kwargs)  # type: ignore[arg-type]


def test_start_with_a_missing_model_fails_before_launching(tmp_path: Path) -> None:
    server = LocalServer("no-such-model", models_dir=tmp_path, run_dir=tmp_path / "run")
    with pytest.raises(ConfigurationError, match="no GGUF model 'no-such-model'"):
        server.start()
    assert not server.is_running()
    assert not (tmp_path / "run").exists()


@dataclass(frozen=True)
class _Endpoint:
    base_url: str
    aliases: tuple[str, ...]
    model_paths: dict[str, Path] = field(default_factory=dict)


def test_chat_model_points_at_the_alias() -> None:
    endpoint = _Endpoint("http://127.0.0.1:9/v1", ("small", "coder"))
    model = chat_model(endpoint, "coder", max_tokens=16)
    assert model.model_name == "coder"
    assert model.openai_api_base == "http://127.0.0.1:9/v1"
    assert model.temperature == 0.0
    assert chat_model(endpoint).model_name == "small"


def test_cached_replies_of_a_local_model_survive_a_restart_on_another_port(tmp_path: Path) -> None:
    """LLM-cache keys name the GGUF file, not the port, which changes at every server start."""
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(80))

    def key(port: int, path: Path) -> str:
        model = chat_model(_Endpoint(f"http://127.0.0.1:{port}/v1", ("m",), {"m": path}), max_tokens=16)
        assert model.openai_api_base == f"http://127.0.0.1:{port}/v1"  # requests still go to the server
        return model._get_llm_string()

    assert key(41001, gguf) == key(52002, gguf)
    assert "m.gguf:64" in key(41001, gguf)
    assert key(41001, gguf) != key(41001, other)
    without_path = chat_model(_Endpoint("http://127.0.0.1:41001/v1", ("m",)), max_tokens=16)._get_llm_string()
    assert "127.0.0.1:41001" in without_path


def test_a_model_that_has_already_run_still_keys_its_cache_by_the_gguf_file(tmp_path: Path) -> None:
    """Regression: any call memoizes the model's serialization (URL included) in the instance, and
    ``model_copy`` copied it, so the evaluation runner's copy (cache and seed added) keyed by the port."""
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    cache = SqliteLLMCache(tmp_path / "llm.sqlite")
    requests: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        return httpx.Response(200, json=_completion("4"))

    def model_on_port(port: int) -> OpenAICompatibleChat:
        client = httpx.Client(transport=httpx.MockTransport(reply))
        model = chat_model(_Endpoint(f"http://127.0.0.1:{port}/v1", ("m",), {"m": gguf}), http_client=client)
        model.invoke("warm up")  # memoizes the serialization, as every call does
        return model.model_copy(update={"cache": cache, "seed": 7})

    first = model_on_port(41001)
    assert first.invoke("2 + 2?").content == "4"
    assert '"seed": 7' in first._get_llm_string()  # the copy's settings, not the original's
    second = model_on_port(52002)  # the server restarted on another port
    assert second.invoke("2 + 2?").content == "4"
    assert requests == [f"http://127.0.0.1:{port}/v1/chat/completions" for port in (41001, 41001, 52002)]
    assert cache.stats.hits == 1


def _completion(content: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def test_chat_model_sends_max_tokens_which_llama_cpp_understands() -> None:
    model = chat_model(_Endpoint("http://127.0.0.1:9/v1", ("small",)), max_tokens=16)
    payload = model._get_request_payload([HumanMessage("hi")])
    assert payload["max_tokens"] == 16
    assert "max_completion_tokens" not in payload


def test_chat_model_rejects_an_alias_the_server_does_not_serve() -> None:
    # llama-cpp-python would silently answer with its default model instead.
    with pytest.raises(ConfigurationError, match=r"alias 'big' is not served .* \['small'\]"):
        chat_model(_Endpoint("http://127.0.0.1:9/v1", ("small",)), "big")


def _state(tmp_path: Path, pid: int) -> ServerState:
    return ServerState(
        name="default",
        pid=pid,
        port=8123,
        aliases=("small",),
        model_paths={"small": Path("/m/s.gguf")},
        log_path=tmp_path / "default.log",
        config_path=tmp_path / "default.config.json",
        started_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    state = _state(tmp_path, 42)
    assert ServerState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert state.base_url == "http://127.0.0.1:8123/v1"
    with pytest.raises(ValueError, match="bad field"):
        ServerState.from_json({"v": 1, "name": "x"})
    with pytest.raises(ValueError, match="expected an int"):
        ServerState.from_json({**state.to_json(), "pid": "42"})


def test_a_state_file_of_a_dead_process_is_stale(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = tmp_path / "default.state.json"
    path.write_text(json.dumps(_state(tmp_path, dead.pid).to_json()))
    assert read_state(run_dir=tmp_path) is None
    assert not path.exists()


def test_a_state_file_whose_pid_runs_another_program_is_stale(tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "30"]) as other:
        try:
            path = tmp_path / "default.state.json"
            path.write_text(json.dumps(_state(tmp_path, other.pid).to_json()))
            assert read_state(run_dir=tmp_path) is None
            assert not path.exists()
            assert other.poll() is None  # and it was left alone
        finally:
            other.kill()


def test_an_unreadable_state_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "default.state.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"default\.state\.json is unreadable"):
        read_state(run_dir=tmp_path)


@pytest.mark.parametrize("name", ["", "../x", "a b", ".hidden"])
def test_detached_names_are_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="server name"):
        serve_detached("a.gguf", name=name, run_dir=tmp_path)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(config, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# --- the bounded prompt cache (fake states: no model needed) ----------------------------------------

N_VOCAB = 1000


def _llama_state(tokens: tuple[int, ...], *, kv_bytes: int = 10_000, n_ctx: int = 256) -> LlamaState:
    """A state as ``Llama.save_state`` builds it with ``logits_all=False``: n_batch (here 64) logit rows."""
    input_ids = np.zeros(n_ctx, dtype=np.intc)
    input_ids[: len(tokens)] = tokens
    scores = np.ones((min(len(tokens), 64), N_VOCAB), dtype=np.single)
    return LlamaState(input_ids, scores, len(tokens), bytes(kv_bytes), kv_bytes, 42)


def _key_bytes(tokens: tuple[int, ...]) -> int:
    return sys.getsizeof(tokens) + sum(sys.getsizeof(t) for t in tokens if not -5 <= t <= 256)


def test_a_stored_state_keeps_no_logit_rows_and_still_restores() -> None:
    cache = BoundedRAMCache(2**20)
    tokens = tuple(range(1000, 1040))
    saved = _llama_state(tokens)
    cache[tokens] = saved
    kept = cache[tokens]
    assert kept.scores.shape == (1, 1)
    assert kept.scores.dtype == np.single
    assert not kept.scores.any()
    assert (kept.input_ids == saved.input_ids).all()
    assert (kept.n_tokens, kept.llama_state, kept.seed) == (40, saved.llama_state, 42)
    # What Llama.load_state does with it: the 1x1 array broadcasts into the model's logits buffer.
    model_scores = np.ones((64, N_VOCAB), dtype=np.single)
    model_scores[: kept.n_tokens, :] = kept.scores.copy()
    assert not model_scores[:40].any()


def test_logits_are_kept_for_models_that_compute_them_for_every_token() -> None:
    cache = BoundedRAMCache(2**20, keep_scores=True)
    tokens = tuple(range(1000, 1040))
    cache[tokens] = _llama_state(tokens)
    assert cache[tokens].scores.shape == (40, N_VOCAB)


@pytest.mark.parametrize("keep_scores", [False, True])
def test_the_size_counts_kv_state_token_ids_logits_and_keys(keep_scores: bool) -> None:
    cache = BoundedRAMCache(2**20, keep_scores=keep_scores)
    a, b = tuple(range(1000, 1040)), (1, 2, 3)
    cache[a] = _llama_state(a, kv_bytes=5_000)
    cache[b] = _llama_state(b, kv_bytes=7_000)
    scores = (40 + 3) * N_VOCAB * 4 if keep_scores else 2 * 4
    expected = 5_000 + 7_000 + 2 * 256 * 4 + scores + _key_bytes(a) + _key_bytes(b)
    assert cache.cache_size == expected
    assert sum(state_nbytes(state) for state in cache.cache_state.values()) + _key_bytes(a) + _key_bytes(b) == expected
    cache[b] = _llama_state(b, kv_bytes=7_000)  # stored again: replaced, not counted twice
    assert cache.cache_size == expected


def test_logits_kept_count_against_the_budget() -> None:
    # The stock LlamaRAMCache counts only llama_state_size and would keep this 160 kB of logits.
    cache = BoundedRAMCache(100_000, keep_scores=True)
    tokens = tuple(range(1000, 1040))
    cache[tokens] = _llama_state(tokens, kv_bytes=1_000)
    assert tokens not in cache
    assert cache.cache_size == 0


def test_eviction_keeps_the_total_under_the_budget() -> None:
    capacity = 60_000
    cache = BoundedRAMCache(capacity)
    keys = [tuple(range(1000 * i, 1000 * i + 30)) for i in range(1, 21)]
    for tokens in keys:
        cache[tokens] = _llama_state(tokens, kv_bytes=9_000)
        assert cache.cache_size <= capacity
    kept = list(cache.cache_state)
    assert 2 <= len(kept) < len(keys)
    assert kept == keys[-len(kept) :]  # the most recent ones, in order
    assert cache.cache_size == sum(state_nbytes(cache.cache_state[k]) + _key_bytes(k) for k in kept)


def test_the_least_recently_used_state_goes_first() -> None:
    keys = [tuple(range(1000 * i, 1000 * i + 30)) for i in range(1, 5)]
    one = 9_000 + 256 * 4 + 4 + _key_bytes(keys[0])  # KV state, token ids, 1x1 logits, key
    cache = BoundedRAMCache(3 * one)
    for tokens in keys[:3]:
        cache[tokens] = _llama_state(tokens, kv_bytes=9_000)
    _ = cache[keys[0]]  # a lookup makes it the most recently used
    cache[keys[3]] = _llama_state(keys[3], kv_bytes=9_000)
    assert list(cache.cache_state) == [keys[2], keys[0], keys[3]]


def test_a_state_larger_than_the_budget_is_not_kept_and_evicts_nothing() -> None:
    cache = BoundedRAMCache(50_000)
    small = (1, 2, 3)
    cache[small] = _llama_state(small, kv_bytes=1_000)
    big = (1, 2, 3, 4)
    cache[big] = _llama_state(big, kv_bytes=60_000)
    assert list(cache.cache_state) == [small]
    assert 0 < cache.cache_size <= 50_000


def test_lookup_returns_the_state_with_the_longest_common_prefix() -> None:
    cache = BoundedRAMCache(2**20)
    system = tuple(range(1000, 1100))
    cache[(*system, 7, 8, 9)] = _llama_state((*system, 7, 8, 9), kv_bytes=1)
    cache[system[:50]] = _llama_state(system[:50], kv_bytes=2)
    cache[(5, 6)] = _llama_state((5, 6), kv_bytes=3)
    assert cache[(*system, 1, 2)].llama_state == bytes(1)
    assert cache[(*system[:60], 3)].llama_state == bytes(1)
    assert cache[(5, 6, 7)].llama_state == bytes(3)
    assert (*system, 4) in cache
    assert (9, 9) not in cache
    with pytest.raises(KeyError):
        _ = cache[(9, 9)]


@pytest.mark.parametrize("capacity", [-1, 1.5, True])
def test_the_budget_is_checked(capacity: object) -> None:
    with pytest.raises(ConfigurationError, match="capacity_bytes must be an int >= 0"):
        BoundedRAMCache(capacity)  # type: ignore[arg-type]


@dataclass
class _FakeLlama:
    cache: object = None
    scores: np.ndarray = field(default_factory=lambda: np.ndarray((64, N_VOCAB), dtype=np.single))

    def set_cache(self, cache: object) -> None:
        self.cache = cache

    def n_vocab(self) -> int:
        return N_VOCAB


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"cache": True, "cache_size": 12345, "logits_all": False}, (12345, False)),
        ({"cache": True, "cache_size": 12345, "logits_all": True}, (12345, True)),
        ({"cache": True, "logits_all": False, "draft_model": "prompt-lookup-decoding"}, (2 << 30, True)),
        ({"cache": True, "cache_type": "disk"}, None),
        ({"cache": False}, None),
    ],
)
def test_install_gives_ram_cached_models_the_bounded_cache(
    settings: dict[str, object], expected: tuple[int, bool] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_cpp.server.model import LlamaProxy
    from llama_cpp.server.settings import ModelSettings

    monkeypatch.setattr(LlamaProxy, "load_llama_from_model_settings", staticmethod(lambda settings: _FakeLlama()))
    prompt_cache.install()
    prompt_cache.install()  # idempotent: wraps once
    llama = LlamaProxy.load_llama_from_model_settings(ModelSettings(model="/m/a.gguf", verbose=False, **settings))
    assert isinstance(llama, _FakeLlama)
    if expected is None:
        assert llama.cache is None
        assert llama.scores.shape == (64, N_VOCAB)
    else:
        assert isinstance(llama.cache, BoundedRAMCache)
        assert (llama.cache.capacity_bytes, llama.cache.keep_scores) == expected
        # Without logits kept, save_state and load_state need one row of the model's buffer, not n_batch.
        assert llama.scores.shape == ((64, N_VOCAB) if llama.cache.keep_scores else (1, N_VOCAB))


def test_the_launcher_needs_a_module_to_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        prompt_cache.main(["--config_file", "x.json"])
    assert exited.value.code == 2
    assert "usage: python -P prompt_cache.py llama_cpp.server" in capsys.readouterr().err


def test_prompt_cache_docstring_examples_run() -> None:
    result = doctest.testmod(prompt_cache, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
