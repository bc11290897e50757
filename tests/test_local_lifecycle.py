"""Start, readiness, failure and shutdown paths of LocalServer against a fake ``llama_cpp.server``.

The fake is a tiny module put first on ``PYTHONPATH``: it reads the same config file and, depending on
``FAKE_LLAMA_MODE``, serves ``/v1/models``, exits, hangs, ignores SIGTERM or reports a port clash. This
exercises the process handling in well under a second per test; ``test_local_server.py`` repeats the
essential paths with the real server.
"""

from __future__ import annotations

import _thread
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.local import LocalServer, ServerStartError
from memcollab_langgraph.local.detached import _pid_alive, read_state, serve_detached, stop_detached

FAKE_MAIN = textwrap.dedent(
    """
    import argparse, http.server, json, os, signal, sys, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--config_file")
    config = json.load(open(parser.parse_args().config_file))
    mode = os.environ.get("FAKE_LLAMA_MODE", "serve")
    from llama_cpp.server.model import LlamaProxy
    bounded = getattr(LlamaProxy.load_llama_from_model_settings, "_memcollab_bounded_cache", False)
    print(f"pid={os.getpid()} mode={mode} bounded_cache={bounded}", flush=True)
    if mode == "exit":
        print("boom: cannot load model", flush=True)
        sys.exit(3)
    if mode == "addr":
        with open(os.environ["FAKE_LLAMA_COUNTER"], "a") as counter:
            counter.write("x")
        print("[Errno 98] error while attempting to bind: address already in use", flush=True)
        sys.exit(1)
    if mode == "hang":
        time.sleep(300)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    aliases = [m["model_alias"] for m in config["models"]]
    if mode == "wrong":
        aliases = ["someone-else"]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": a} for a in aliases]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.HTTPServer((config["host"], config["port"]), Handler).serve_forever()
    """
)


FAKE_LLAMA = textwrap.dedent(
    """
    class Llama: ...
    class LlamaState:
        def __init__(self, input_ids, scores, n_tokens, llama_state, llama_state_size, seed): ...
    """
)
FAKE_LLAMA_CACHE = textwrap.dedent(
    """
    class LlamaRAMCache:
        def __init__(self, capacity_bytes=2 << 30):
            self.capacity_bytes = capacity_bytes
            self.cache_state = {}
    """
)
FAKE_MODEL = textwrap.dedent(
    """
    class LlamaProxy:
        @staticmethod
        def load_llama_from_model_settings(settings):
            raise NotImplementedError
    """
)


@pytest.fixture
def fake_llama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``llama_cpp.server`` first on PYTHONPATH; yields a GGUF-named file to serve."""
    package = tmp_path / "fake" / "llama_cpp"
    (package / "server").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "server" / "__init__.py").write_text("")
    (package / "server" / "__main__.py").write_text(FAKE_MAIN)
    # What memcollab_langgraph.local.prompt_cache subclasses and patches before running the server.
    (package / "llama.py").write_text(FAKE_LLAMA)
    (package / "llama_cache.py").write_text(FAKE_LLAMA_CACHE)
    (package / "server" / "model.py").write_text(FAKE_MODEL)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    return model


def _server(tmp_path: Path, model: Path, **kwargs: object) -> LocalServer:
    return LocalServer(
        {"tiny": model},
        run_dir=tmp_path / "run",
        python=sys.executable,  # skips the "is llama-cpp-python installed" check: the fake stands in
        **kwargs,  # type: ignore[arg-type]
    )


def _fake_pid(log_path: Path) -> int:
    first = log_path.read_text().splitlines()[0]
    return int(first.split()[0].removeprefix("pid="))


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_start_and_stop(fake_llama: Path, tmp_path: Path) -> None:
    server = _server(tmp_path, fake_llama)
    assert server.start() is server
    try:
        assert server.is_running()
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.model_paths == {"tiny": fake_llama.resolve()}
        assert server.log_path == tmp_path / "run" / "logs" / f"llama-server-{server.port}.log"
        config_path = server.log_path.with_name(server.log_path.stem + ".config.json")
        assert json.loads(config_path.read_text())["models"][0]["model_alias"] == "tiny"
        pid = server.pid
        assert pid is not None
        assert server.start().pid == pid  # already running: a no-op
    finally:
        returncode = server.stop()
    assert returncode == -signal.SIGTERM
    assert not server.is_running()
    assert _wait_gone(pid, 1.0)
    assert not config_path.exists()
    assert server.log_path is not None
    assert "mode=serve" in server.log_path.read_text()  # the log outlives the server
    assert "bounded_cache=True" in server.log_path.read_text()  # started through our launcher
    assert server.stop() is None


def test_context_manager_and_restart(fake_llama: Path, tmp_path: Path) -> None:
    log = tmp_path / "my.log"
    server = _server(tmp_path, fake_llama, log_path=log)
    with server:
        first = server.pid
        assert server.log_path == log
    assert first is not None
    assert _wait_gone(first, 1.0)
    with server:
        assert server.pid != first
        assert server.is_running()
    assert "mode=serve" in log.read_text()


def test_a_server_that_exits_reports_its_log(fake_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LLAMA_MODE", "exit")
    server = _server(tmp_path, fake_llama)
    with pytest.raises(ServerStartError, match="exited with code 3") as caught:
        server.start()
    assert caught.value.returncode == 3
    assert "boom: cannot load model" in caught.value.log_tail
    assert "boom: cannot load model" in str(caught.value)
    assert str(caught.value.log_path) in str(caught.value)
    assert not server.is_running()


def test_a_server_that_never_answers_times_out_and_is_killed(
    fake_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LLAMA_MODE", "hang")
    server = _server(tmp_path, fake_llama, startup_timeout=1.0)
    with pytest.raises(ServerStartError, match=r"did not answer .* within 1s") as caught:
        server.start()
    assert caught.value.returncode is None
    assert _wait_gone(_fake_pid(caught.value.log_path), 1.0)


def test_a_port_taken_before_the_server_binds_it_is_retried(
    fake_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = tmp_path / "attempts"
    monkeypatch.setenv("FAKE_LLAMA_MODE", "addr")
    monkeypatch.setenv("FAKE_LLAMA_COUNTER", str(counter))
    with pytest.raises(ServerStartError, match="exited with code 1"):
        _server(tmp_path, fake_llama).start()
    assert counter.read_text() == "xxx"


def test_an_explicit_port_is_not_retried(fake_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = tmp_path / "attempts"
    monkeypatch.setenv("FAKE_LLAMA_MODE", "addr")
    monkeypatch.setenv("FAKE_LLAMA_COUNTER", str(counter))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServerStartError):
        _server(tmp_path, fake_llama, port=port).start()
    assert counter.read_text() == "x"


def test_a_requested_port_in_use_is_a_configuration_error(fake_llama: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"port {port} on 127.0.0.1 is already in use"):
            _server(tmp_path, fake_llama, port=port).start()


def test_another_server_on_the_port_is_detected(
    fake_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LLAMA_MODE", "wrong")
    with pytest.raises(ServerStartError, match="another server holds the port") as caught:
        _server(tmp_path, fake_llama).start()
    assert _wait_gone(_fake_pid(caught.value.log_path), 1.0)


def test_stop_escalates_to_sigkill(fake_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LLAMA_MODE", "stubborn")
    server = _server(tmp_path, fake_llama).start()
    started = time.monotonic()
    assert server.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_ctrl_c_while_starting_leaves_nothing_running(
    fake_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LLAMA_MODE", "hang")
    server = _server(tmp_path, fake_llama, log_path=tmp_path / "hang.log")
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            server.start()
    finally:
        timer.cancel()
    assert not server.is_running()
    assert _wait_gone(_fake_pid(tmp_path / "hang.log"), 1.0)


def test_a_server_started_from_a_worker_thread_outlives_the_thread(fake_llama: Path, tmp_path: Path) -> None:
    # PR_SET_PDEATHSIG fires when the forking *thread* exits; the server must not die with it.
    server = _server(tmp_path, fake_llama)
    worker = threading.Thread(target=server.start)
    worker.start()
    worker.join()
    try:
        time.sleep(0.5)
        assert server.is_running()
    finally:
        server.stop()


CHILD = textwrap.dedent(
    """
    import sys, time
    from memcollab_langgraph.local import LocalServer
    server = LocalServer({"tiny": sys.argv[1]}, run_dir=sys.argv[2], python=sys.executable).start()
    print(server.pid, flush=True)
    if sys.argv[3] == "interrupt":
        raise KeyboardInterrupt
    time.sleep(300)
    """
)


def _child_server(fake_llama: Path, tmp_path: Path, how: str) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(fake_llama), str(tmp_path / "run"), how],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ},
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip().isdigit(), line
    return child, int(line)


def test_the_server_dies_with_a_sigkilled_parent(fake_llama: Path, tmp_path: Path) -> None:
    child, server_pid = _child_server(fake_llama, tmp_path, "sleep")
    assert _pid_alive(server_pid)
    child.kill()
    child.wait()
    assert _wait_gone(server_pid, 5.0), "server survived its SIGKILLed parent"


def test_an_unhandled_keyboard_interrupt_stops_the_server(fake_llama: Path, tmp_path: Path) -> None:
    child, server_pid = _child_server(fake_llama, tmp_path, "interrupt")
    assert child.wait(30) != 0
    # atexit stopped it before the interpreter exited; PDEATHSIG is not what ended it.
    assert _wait_gone(server_pid, 0.5)


def test_detached_flow_with_a_fake_server(fake_llama: Path, tmp_path: Path) -> None:
    run = tmp_path / "det"
    state = serve_detached({"tiny": fake_llama}, name="t", run_dir=run, python=sys.executable)
    try:
        assert read_state("t", run_dir=run) == state
        with pytest.raises(ConfigurationError, match="already running"):
            serve_detached({"tiny": fake_llama}, name="t", run_dir=run, python=sys.executable)
    finally:
        stopped = stop_detached("t", run_dir=run)
    assert stopped == state
    assert _wait_gone(state.pid, 1.0)
    assert read_state("t", run_dir=run) is None
    assert stop_detached("t", run_dir=run) is None
    assert state.log_path.exists()
    assert "bounded_cache=True" in state.log_path.read_text()
