"""Child processes that never outlive their owner: launching them, and stopping their process group.

A launched process leads its own session (a Ctrl-C in the terminal reaches only the owner, which then
stops it in order) and, on Linux with ``die_with_parent``, asks the kernel for ``PR_SET_PDEATHSIG`` =
SIGTERM, so it is terminated even when the owner dies without running Python cleanup (SIGKILL, a crash,
an unhandled SIGTERM). The kernel ties that signal to the *thread* that forked the child, so children
started from a non-main thread are forked by one daemon thread that lives as long as the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

__all__ = ["launch", "terminate_process"]

_PR_SET_PDEATHSIG = 1


def terminate_process(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM the process group, SIGKILL it after ``timeout`` seconds, reap the leader; the exit code."""
    if process.poll() is not None:
        return process.returncode
    try:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    except BaseException:
        # Interrupted while waiting (Ctrl-C): do not leave the server behind.
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        raise
    _signal_group(process.pid, signal.SIGKILL)
    return process.wait()


def _signal_group(pid: int, signum: signal.Signals) -> None:
    # The server leads its own session and process group (start_new_session=True), so pgid == pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def launch(
    command: list[str], log_path: Path, *, env: Mapping[str, str], die_with_parent: bool
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session, output to ``log_path``; with ``die_with_parent`` the kernel
    terminates it when this process dies (Linux)."""
    preexec = _die_with_parent_preexec(os.getpid()) if die_with_parent else None
    with log_path.open("wb") as log:

        def popen() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                preexec_fn=preexec,
                close_fds=True,
            )

        return _SPAWNER.spawn(popen) if die_with_parent else popen()


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _die_with_parent_preexec(parent_pid: int) -> Callable[[], None] | None:
    libc = _load_libc()  # loaded before fork: the child only makes the call
    if libc is None:
        return None

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died between fork and prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class _Spawner:
    """Forks children from the main thread or from one daemon thread that lives as long as the process.

    PR_SET_PDEATHSIG fires when the thread that forked the child exits, so a server started from a
    short-lived worker thread (``asyncio.to_thread``, a thread pool) would die with that thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    def spawn(self, popen: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        if threading.current_thread() is threading.main_thread():
            return popen()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="memcollab-llama-spawner", daemon=True)
                self._thread.start()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((popen, future))
        return future.result()

    def _run(self) -> None:
        while True:
            popen, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(popen())
            except BaseException as error:
                future.set_exception(error)


_SPAWNER = _Spawner()
