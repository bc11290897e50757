"""Run untrusted Python (model-written programs and their tests) in a contained subprocess.

:func:`run_python` starts ``sys.executable -I -B`` on a small bootstrap script in a new session, with a
scrubbed environment (``PATH``, ``LANG``/``LC_ALL``, ``HOME`` and ``TMPDIR`` set to the work
directory) and a fresh temporary work directory that is deleted afterwards; its random path reads
:data:`WORKDIR_LABEL` in the captured output, so that the same program gives the same output (and a
model shown a traceback the same prompt, which a response cache can match) run after run. The
bootstrap is a separate, single-threaded process, so nothing unsafe runs between ``fork`` and ``exec`` of a
multi-threaded parent (LangGraph runs sync nodes in threads). It isolates itself, reports the layers
it could activate (:attr:`SandboxResult.isolation`), then runs the program as ``__main__``.

What is contained, and how:

===========================  ================================================  ============================
threat                       Linux as root (our CI)                            elsewhere
===========================  ================================================  ============================
endless loop                 wall-clock timeout, the whole process group and   same (process group only)
                             every process of the sandbox uid SIGKILLed;
                             ``RLIMIT_CPU`` (SIGXCPU)
memory bomb                  ``RLIMIT_AS`` per process (MemoryError)           same; macOS ignores it
fork bomb                    a fresh, unused uid per run + ``RLIMIT_NPROC``    ``RLIMIT_NPROC`` counts all
                             (per-uid, so it counts only this sandbox);        of the user's processes:
                             afterwards every process of that uid is killed,   set to current + budget;
                             also ones that left the process group             escapees may survive
writes outside the workdir   that uid owns nothing but the workdir; private    Landlock (Linux >= 5.13)
                             tmpfs over /tmp, /var/tmp, /dev/shm, /run/lock    if enabled; else the
                             (mount namespace); Landlock allows writes only    program may write wherever
                             under the workdir (and the private /dev/shm)      its user may
disk filling                 the workdir is a tmpfs of ``disk_mb``;            ``RLIMIT_FSIZE`` per file
                             ``RLIMIT_FSIZE`` per file                         only
network                      new network namespace (no interfaces but a        user+net namespace when
                             down loopback); Landlock TCP bind/connect deny    allowed; Landlock (ABI>=4);
                             (ABI>=4); a Python guard allowing only AF_UNIX    the Python guard
signals to other processes   other uid; Landlock signal scope (ABI>=6)         Landlock scope only
huge output                  capped: head and tail kept, middle dropped        same
===========================  ================================================  ============================

Not contained: **reads**. The program can read every world-readable file; when the interpreter
lives in a directory other users cannot read (pyenv under ``/root``), the sandbox uid keeps
``CAP_DAC_READ_SEARCH`` so that Python can import its standard library, and then it can read any
file (isolation entry ``uid:<n>+read-all``). It cannot write them, nor send them anywhere but its
own stdout. Total memory is bounded per process only (``max_processes x memory_mb`` in the worst
case); use a cgroup or container runner for a hard bound. CPU shares are not limited. A root
without ``CAP_DAC_READ_SEARCH`` (a default Docker container) whose interpreter is unreadable to
others cannot drop to the sandbox uid (``uid-skipped:interpreter-unreadable``): the program then
runs as root, held only by the namespaces, Landlock and rlimits, and escaped processes are not
reaped. Each layer is best effort: inspect :attr:`SandboxResult.isolation` and
:attr:`SandboxResult.network_isolated` when it matters. Tested on Linux 6.x as root and as an
unprivileged user; macOS is untested; Windows is not supported.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.verifiers._process import (
    READ_CHUNK,
    Capture,
    communicate,
    kill_group,
    pick_uid,
    reap_uid,
    remove_tree,
    user_tasks,
)

__all__ = ["WORKDIR_LABEL", "SandboxResult", "arun_python", "run_python"]

WORKDIR_LABEL = "/sandbox"
"""What the work directory's path reads as in a run's stdout and stderr (``File "/sandbox/main.py"``)."""

_BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")
_SETUP_FAILED_EXIT = 125  # kept equal to _bootstrap.SETUP_FAILED_EXIT


class SandboxResult(BaseModel):
    """What happened to one sandboxed run."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    """The program exited with status 0 within its limits."""
    exit_code: int | None
    """The exit status, ``None`` when the program was killed by a signal or never started."""
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    timed_out: bool = False
    """The wall-clock timeout expired and the program was killed."""
    killed_by: str | None = None
    """Name of the signal that ended the program (``"SIGKILL"``, ``"SIGXCPU"``...)."""
    reason: str
    """One line saying why the run ended (exit status, which limit, setup failure)."""
    duration_s: float
    isolation: tuple[str, ...] = ()
    """The isolation layers that were active (``netns``, ``mountns``, ``uid:<n>``, ``landlock-fs``...)."""
    uid: int | None = None
    """The unprivileged uid the program ran as (root parent only)."""

    @property
    def network_isolated(self) -> bool:
        """Whether the OS (not just the Python guard) blocked network access."""
        return "netns" in self.isolation or "landlock-net" in self.isolation


def _validate(timeout_s: float, memory_mb: int, max_processes: int, max_output_bytes: int) -> None:
    if os.name != "posix":
        raise ConfigurationError(
            f"run_python needs a POSIX system, not os.name={os.name!r}; run the verifier in a Linux container"
        )
    checks = [
        (timeout_s > 0, f"timeout_s must be > 0, got {timeout_s!r}"),
        (memory_mb >= 64, f"memory_mb must be >= 64 (Python itself needs ~30 MB), got {memory_mb!r}"),
        (max_processes >= 1, f"max_processes must be >= 1, got {max_processes!r}"),
        (max_output_bytes >= 256, f"max_output_bytes must be >= 256, got {max_output_bytes!r}"),
    ]
    for good, message in checks:
        if not good:
            raise ConfigurationError(message)


def _reason(code: int | None, timed_out: bool, timeout_s: float, stderr: str, setup_error: str | None) -> str:
    if setup_error is not None:
        return f"sandbox setup failed: {setup_error}"
    if timed_out:
        return f"wall-clock timeout after {timeout_s:g} s"
    if code is None:
        return "never ran"
    if code == 0:
        return "exited with status 0"
    if code > 0:
        tail = stderr.strip().splitlines()[-1:] or [""]
        return "memory limit (MemoryError)" if "MemoryError" in tail[0] else f"exited with status {code}"
    name = signal.Signals(-code).name
    return {
        "SIGXCPU": "CPU time limit (SIGXCPU)",
        "SIGXFSZ": "file size limit (SIGXFSZ)",
        "SIGSEGV": "crashed (SIGSEGV, possibly the memory limit)",
        "SIGKILL": "killed by SIGKILL (CPU hard limit or the kernel's OOM killer)",
    }.get(name, f"killed by {name}")


def run_python(
    code: str,
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    cpu_s: int | None = None,
    max_processes: int = 64,
    max_file_mb: int = 64,
    disk_mb: int = 128,
    max_open_files: int = 256,
    max_output_bytes: int = 64_000,
    allow_network: bool = False,
) -> SandboxResult:
    """Run a Python program in a contained subprocess and return what happened.

    The program never raises into the caller: crashes, limits and timeouts are reported in the
    result. See the module docstring for what is contained on which OS.

    Args:
        code: Python source, run as ``__main__`` from ``main.py`` in a fresh work directory.
        timeout_s: Wall-clock limit; on expiry every process of the run is killed.
        memory_mb: Address-space limit per process (``RLIMIT_AS``).
        cpu_s: CPU-seconds per process (``RLIMIT_CPU``); default ``ceil(timeout_s) + 1``.
        max_processes: Processes and threads the program may have at once (``RLIMIT_NPROC``).
        max_file_mb: Largest file the program may write (``RLIMIT_FSIZE``).
        disk_mb: Size of the private tmpfs work directory (root on Linux only).
        max_open_files: ``RLIMIT_NOFILE``.
        max_output_bytes: Bytes kept of stdout and of stderr each (head and tail, middle dropped).
        allow_network: Skip every network layer.

    Returns:
        The exit status, captured output, whether and why the program was stopped, and which
        isolation layers were active.

    Raises:
        ConfigurationError: On a bad limit or a non-POSIX system.

    Example:
        >>> result = run_python("print(6 * 7)", timeout_s=5)
        >>> result.ok, result.stdout
        (True, '42\\n')
        >>> run_python("while True: pass", timeout_s=0.5).timed_out
        True
    """
    _validate(timeout_s, memory_mb, max_processes, max_output_bytes)
    is_root = os.geteuid() == 0
    uid = pick_uid() if is_root and sys.platform.startswith("linux") else None
    # RLIMIT_NPROC counts all processes of the real uid: exact for a fresh uid, an offset otherwise.
    linux = sys.platform.startswith("linux")
    nproc = max_processes if uid is not None else user_tasks(os.getuid()) + max_processes if linux else None
    workdir = tempfile.mkdtemp(prefix="memcollab-sandbox-")
    status_r, status_w = os.pipe()
    plan = {
        "code": code,
        "workdir": workdir,
        "uid": uid,
        "gid": uid,
        "allow_network": allow_network,
        "status_fd": status_w,
        "disk_bytes": disk_mb * 2**20,
        "limits": {
            "as": memory_mb * 2**20,
            "cpu": cpu_s if cpu_s is not None else math.ceil(timeout_s) + 1,
            **({"nproc": nproc} if nproc is not None else {}),
            "fsize": max_file_mb * 2**20,
            "nofile": max_open_files,
            "core": 0,
        },
    }
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
    }
    out, err, status = Capture(max_output_bytes), Capture(max_output_bytes), Capture(READ_CHUNK)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(_BOOTSTRAP)], cwd=workdir, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, pass_fds=(status_w,),
        )  # fmt: skip
        os.close(status_w)
        status_w = -1
        assert proc.stdout is not None
        assert proc.stderr is not None

        def kill_leftovers() -> None:
            kill_group(proc.pid)
            if uid is not None:
                reap_uid(uid)

        sinks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err, status_r: status}
        timed_out = communicate(proc, json.dumps(plan).encode(), sinks, start + timeout_s, kill_leftovers)
        kill_leftovers()
        exit_code = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    finally:
        os.close(status_r)
        if status_w >= 0:
            os.close(status_w)
        remove_tree(workdir)
    duration = time.monotonic() - start
    report = json.loads(status.text() or "{}")
    setup_error = report.get("error")
    if setup_error is None and exit_code == _SETUP_FAILED_EXIT and not report:
        setup_error = "the bootstrap exited before reporting"
    stdout, stderr = (_label_workdir(text, workdir) for text in (out.text(), err.text()))
    return SandboxResult(
        ok=exit_code == 0 and not timed_out,
        exit_code=None if timed_out or exit_code < 0 else exit_code,
        stdout=stdout,
        stderr=stderr,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        timed_out=timed_out,
        killed_by=signal.Signals(-exit_code).name if exit_code < 0 and not timed_out else None,
        reason=_reason(exit_code, timed_out, timeout_s, stderr, setup_error),
        duration_s=round(duration, 4),
        isolation=tuple(report.get("layers", ())),
        uid=uid,
    )


def _label_workdir(text: str, workdir: str) -> str:
    for path in sorted({os.path.realpath(workdir), workdir}, key=len, reverse=True):  # /private/tmp/x first
        text = text.replace(path, WORKDIR_LABEL)
    return text


async def arun_python(
    code: str,
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    cpu_s: int | None = None,
    max_processes: int = 64,
    max_file_mb: int = 64,
    disk_mb: int = 128,
    max_open_files: int = 256,
    max_output_bytes: int = 64_000,
    allow_network: bool = False,
) -> SandboxResult:
    """Async twin of :func:`run_python`: the same run, in a worker thread.

    Cancelling the awaiting task does not stop the program early; it still ends by ``timeout_s``.

    Example:
        >>> import asyncio
        >>> asyncio.run(arun_python("print('hi')")).stdout
        'hi\\n'
    """
    return await asyncio.to_thread(
        run_python,
        code,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        cpu_s=cpu_s,
        max_processes=max_processes,
        max_file_mb=max_file_mb,
        disk_mb=disk_mb,
        max_open_files=max_open_files,
        max_output_bytes=max_output_bytes,
        allow_network=allow_network,
    )
