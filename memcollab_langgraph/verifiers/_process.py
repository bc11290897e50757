"""Parent-side process plumbing of the sandbox: output capture, draining, killing, clean-up.

Private to :mod:`memcollab_langgraph.verifiers.sandbox`; Linux ``/proc`` is used to find a run's
processes by uid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger("memcollab_langgraph.verifiers.sandbox")

READ_CHUNK = 65536
_UID_RANGE = (1_000_000_000, 2_000_000_000)  # far above system and subordinate (container) ids


class Capture:
    """Keeps the head and the tail of a stream of at most ``limit`` bytes; drops the middle."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[: max(0, len(self.tail) - self.tail_limit)]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        dropped = self.total - len(self.head) - len(self.tail)
        middle = f"\n...[{dropped} bytes truncated]...\n".encode() if dropped else b""
        return bytes(self.head + middle + self.tail).decode("utf-8", errors="replace")


def pick_uid() -> int:
    while True:
        uid = _UID_RANGE[0] + secrets.randbelow(_UID_RANGE[1] - _UID_RANGE[0])
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def live_tasks(uid: int) -> dict[int, int]:
    """``pid -> threads`` of every live (non-zombie) process whose real or effective uid is ``uid``."""
    found: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(line.split(":", 1) for line in Path(entry.path, "status").read_text().splitlines())
        except (OSError, ValueError):  # the process ended while we read it
            continue
        if fields.get("State", "").strip().startswith(("Z", "X")):
            continue
        if str(uid) in fields.get("Uid", "").split()[:2]:
            found[int(entry.name)] = int(fields.get("Threads", "1"))
    return found


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, signal.SIGKILL)


def reap_uid(uid: int, deadline_s: float = 5.0) -> None:
    """SIGKILL every process of ``uid``: one atomic ``kill(-1)`` sweep as that uid, then stragglers."""
    sh = shutil.which("sh", path="/bin:/usr/bin")
    end = time.monotonic() + deadline_s
    while (pids := live_tasks(uid)) and time.monotonic() < end:
        if sh:  # kill(-1) from the uid itself reaches processes that left the group, in one sweep
            subprocess.run(
                [sh, "-c", "kill -9 -1"], user=uid, group=uid, extra_groups=[], env={}, cwd="/",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                check=False, timeout=max(0.1, end - time.monotonic()),
            )  # fmt: skip
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def user_tasks(uid: int) -> int:
    """Processes and threads of ``uid`` right now (Linux)."""
    return sum(live_tasks(uid).values())


def communicate(
    proc: subprocess.Popen[bytes],
    stdin_data: bytes,
    sinks: dict[int, Capture],
    deadline: float,
    kill_leftovers: Callable[[], None],
) -> bool:
    """Feed stdin and drain ``sinks`` until they all close or ``deadline``; return whether it expired.

    When the main process has exited but a leftover child keeps the pipes open, the leftovers are
    killed so that the pipes close instead of the run waiting for its deadline.
    """
    assert proc.stdin is not None
    stdin_fd = proc.stdin.fileno()
    with selectors.DefaultSelector() as sel:
        os.set_blocking(stdin_fd, False)
        sel.register(stdin_fd, selectors.EVENT_WRITE)
        for fd in sinks:
            sel.register(fd, selectors.EVENT_READ)
        pending = memoryview(stdin_data)
        exited_at: float | None = None
        while any(fd in sinks for fd in sel.get_map()):
            now = time.monotonic()
            if now >= deadline:
                return True
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            elif exited_at is not None and now - exited_at > 0.2:
                kill_leftovers()
            for key, _ in sel.select(min(deadline - now, 0.1)):
                fd = int(key.fd)
                if fd == stdin_fd:
                    try:
                        pending = pending[os.write(fd, pending) :]
                    except BrokenPipeError:  # the child died before reading its plan
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()
                elif data := os.read(fd, READ_CHUNK):
                    sinks[fd].feed(data)
                else:
                    sel.unregister(fd)
    return False


def remove_tree(path: str) -> None:
    def retry_writable(func: Callable[[str], object], failed: str, _exc: object) -> None:
        os.chmod(os.path.dirname(failed), 0o700)  # the program may have made a directory read-only
        func(failed)

    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=retry_writable)
        else:
            shutil.rmtree(path, onerror=retry_writable)
    except OSError as e:
        logger.warning("could not remove sandbox directory %s: %s", path, e)
