"""The sandbox: normal runs, limits, containment of loops, memory and fork bombs, files, network.

The dangerous programs are real (an unbounded fork bomb, a 4 GB allocation) but every run has a
short timeout, and each test checks that nothing of the sandbox is left running afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.verifiers import SandboxResult, arun_python, run_python
from memcollab_langgraph.verifiers.sandbox import WORKDIR_LABEL

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's containment is Linux-specific")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="per-run uid isolation needs root")


def _live_processes(uid: int) -> list[int]:
    """Non-zombie processes whose real uid is ``uid``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if fields["Uid"].split()[0] == str(uid) and not fields["State"].strip().startswith("Z"):
            found.append(int(status.parent.name))
    return found


def _assert_nothing_left(result: SandboxResult) -> None:
    if result.uid is not None:
        assert _live_processes(result.uid) == []


def test_normal_run_captures_stdout_and_stderr() -> None:
    result = run_python("import sys\nprint('hello')\nprint('warn', file=sys.stderr)")
    assert result.ok
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("hello\n", "warn\n")
    assert not result.timed_out
    assert result.killed_by is None
    assert result.duration_s < 5


def test_exception_gives_exit_code_and_clean_traceback() -> None:
    result = run_python("def f():\n    raise ValueError('boom')\nf()")
    assert not result.ok
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "ValueError: boom"
    assert 'main.py", line 3' in result.stderr
    assert "_bootstrap" not in result.stderr


def test_the_work_directory_reads_the_same_in_every_run() -> None:
    # A traceback fed back to a model must not differ run to run (a response cache could never match it).
    program = "import os\nprint(os.getcwd())\nraise ValueError('boom')"
    first, second = run_python(program), run_python(program)
    assert first.stdout == f"{WORKDIR_LABEL}\n"
    assert f'File "{WORKDIR_LABEL}/main.py", line 3' in first.stderr
    assert "memcollab-sandbox-" not in first.stdout + first.stderr
    assert (first.stdout, first.stderr) == (second.stdout, second.stderr)


def test_exit_status_and_syntax_error() -> None:
    assert run_python("import sys; sys.exit(3)").exit_code == 3
    result = run_python("def f(:\n    pass")
    assert result.exit_code == 1
    assert "SyntaxError" in result.stderr


def test_infinite_loop_times_out_and_parent_survives() -> None:
    start = time.monotonic()
    result = run_python("while True:\n    pass", timeout_s=1)
    assert result.timed_out
    assert not result.ok
    assert result.exit_code is None
    assert "timeout" in result.reason
    assert time.monotonic() - start < 4
    _assert_nothing_left(result)
    assert run_python("print(1)").ok


def test_cpu_limit() -> None:
    result = run_python("while True:\n    pass", timeout_s=10, cpu_s=1)
    assert not result.timed_out
    assert result.killed_by == "SIGXCPU"
    assert "CPU" in result.reason


def test_memory_bomb_is_contained() -> None:
    result = run_python("data = bytearray(4 * 1024**3)\nprint('allocated')", memory_mb=256)
    assert not result.ok
    assert "allocated" not in result.stdout
    assert "MemoryError" in result.stderr
    assert result.reason == "memory limit (MemoryError)"


FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


@as_root
def test_fork_bomb_is_contained_and_fully_killed() -> None:
    result = run_python(FORK_BOMB, timeout_s=2, max_processes=32)
    assert not result.ok
    assert result.timed_out
    _assert_nothing_left(result)
    start = time.monotonic()  # the machine is still responsive
    subprocess.run(["true"], check=True, timeout=5)
    assert time.monotonic() - start < 1
    assert run_python("print('alive')").stdout == "alive\n"


@as_root
def test_process_limit_is_per_run() -> None:
    code = """
import os, time
made = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    made += 1
print(made)
"""
    result = run_python(code, max_processes=16)
    assert result.ok
    assert int(result.stdout) == 15  # the main process counts too
    _assert_nothing_left(result)


@as_root
def test_escaped_daemon_is_killed_when_the_program_ends() -> None:
    code = """
import os, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()  # leave the sandbox's process group
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        time.sleep(60)
    os._exit(0)
print(os.read(r, 32).decode())
"""
    result = run_python(code, timeout_s=5)
    assert result.ok
    daemon = int(result.stdout)
    assert daemon not in _live_processes(result.uid or -1)
    _assert_nothing_left(result)


@pytest.mark.parametrize(
    "target", ["/tmp/outside-{id}", "/var/tmp/outside-{id}", "/dev/shm/outside-{id}", "/etc/memcollab-{id}"]
)
def test_writes_outside_the_workdir_fail(target: str) -> None:
    path = target.format(id=uuid.uuid4().hex)
    result = run_python(f"open({path!r}, 'w').write('x')")
    assert not Path(path).exists()
    if "mountns" in result.isolation and path.startswith("/dev/shm/"):
        assert result.ok  # a private, throw-away /dev/shm (multiprocessing needs one)
    else:
        assert not result.ok
        assert "PermissionError" in result.stderr or "FileNotFoundError" in result.stderr


def test_workdir_is_writable_private_and_removed() -> None:
    # Printed backwards: the output shows the work directory's path as WORKDIR_LABEL.
    code = "import os, tempfile\nopen('a.txt', 'w').write('hi')\nprint(os.getcwd()[::-1], tempfile.gettempdir()[::-1])"
    result = run_python(code)
    assert result.ok
    cwd, tmp = (word[::-1] for word in result.stdout.split())
    assert cwd == tmp
    assert Path(cwd).name.startswith("memcollab-sandbox-")
    assert not Path(cwd).exists()


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCOLLAB_SECRET_TOKEN", "s3cret")
    result = run_python("import os\nprint(sorted(os.environ))")
    assert result.ok
    assert "MEMCOLLAB_SECRET_TOKEN" not in result.stdout
    assert result.stdout.strip() == "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']"


@pytest.fixture
def tcp_server() -> Iterator[tuple[int, list[str]]]:
    """A loopback server that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = server.accept()
            except TimeoutError:
                continue
            accepted.append(str(addr))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def test_network_connect_fails(tcp_server: tuple[int, list[str]]) -> None:
    port, accepted = tcp_server
    result = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
    assert not result.ok
    assert "PermissionError" in result.stderr or "OSError" in result.stderr
    time.sleep(0.3)
    assert accepted == []


RAW_CONNECT = """
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM, bypassing the Python-level guard
addr = struct.pack("=H", 2) + struct.pack("!H", {port}) + bytes([127, 0, 0, 1]) + bytes(8)
print(fd, libc.connect(fd, addr, 16), ctypes.get_errno())
"""


def test_network_is_blocked_below_python(tcp_server: tuple[int, list[str]]) -> None:
    port, accepted = tcp_server
    result = run_python(RAW_CONNECT.format(port=port))
    if not result.network_isolated and os.geteuid() != 0:
        pytest.skip(f"no OS-level network isolation without root here: {result.isolation}")
    assert result.network_isolated
    assert result.ok
    assert result.stdout.split()[1] == "-1"  # connect() failed
    time.sleep(0.3)
    assert accepted == []


def test_network_allowed_reaches_the_server(tcp_server: tuple[int, list[str]]) -> None:
    """The control case: the server does see a connection when the network is allowed."""
    port, accepted = tcp_server
    result = run_python(RAW_CONNECT.format(port=port), allow_network=True)
    assert result.stdout.split()[1] == "0"
    deadline = time.monotonic() + 3
    while not accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(accepted) == 1


def test_local_sockets_still_work() -> None:
    code = "import asyncio\nasync def main():\n    return 7\nprint(asyncio.run(main()))"
    assert run_python(code).stdout == "7\n"


def test_large_output_is_truncated_keeping_head_and_tail() -> None:
    result = run_python("for i in range(100000):\n    print(i)\nprint('END')", max_output_bytes=1000)
    assert result.ok
    assert result.stdout_truncated
    assert len(result.stdout.encode()) < 1100
    assert result.stdout.startswith("0\n1\n")
    assert result.stdout.endswith("99999\nEND\n")
    assert "bytes truncated" in result.stdout


@as_root
def test_reports_its_isolation_layers() -> None:
    result = run_python("pass")
    assert result.uid is not None
    assert any(layer.startswith(f"uid:{result.uid}") for layer in result.isolation)
    assert {"rlimits", "socket-guard"} <= set(result.isolation)


async def test_async_twin() -> None:
    result = await arun_python("print(sum(range(10)))")
    assert result.ok
    assert result.stdout == "45\n"


def test_concurrent_runs_from_threads() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: run_python(f"print({i} * 2)"), range(8)))
    assert [r.stdout for r in results] == [f"{i * 2}\n" for i in range(8)]
    if os.geteuid() == 0:
        assert len({r.uid for r in results}) == len(results)


async def test_concurrent_async_runs() -> None:
    results = await asyncio.gather(*(arun_python(f"print({i})") for i in range(4)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(4)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout_s": 0}, "timeout_s must be > 0, got 0"),
        ({"memory_mb": 10}, "memory_mb must be >= 64"),
        ({"max_processes": 0}, "max_processes must be >= 1"),
        ({"max_output_bytes": 10}, "max_output_bytes must be >= 256"),
    ],
)
def test_bad_limits_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        run_python("pass", **kwargs)  # type: ignore[arg-type]
