"""Detached servers: started by one process, found and stopped by others (``memcollab local status|stop``).

A detached server runs in its own session without a parent-death signal, so it outlives the process
that started it. Each one has a name (default ``"default"``) and four files in the runtime directory
(``$MEMCOLLAB_RUN_DIR`` or ``~/.cache/memcollab/run``):

* ``<name>.state.json``: pid, port, aliases, model paths, log and config paths, start time;
  written atomically once the server answers;
* ``<name>.log`` and ``<name>.config.json``: the server's log and llama.cpp config;
* ``<name>.lock``: serialises start and stop of that name across processes.

A state file whose process is gone, or whose pid now belongs to another program, is stale:
:func:`read_state` deletes it and reports nothing running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from memcollab_langgraph.errors import ConfigurationError, MemCollabError
from memcollab_langgraph.local.config import (
    DEFAULT_N_CTX,
    DEFAULT_N_THREADS,
    DEFAULT_PROMPT_CACHE_MIB,
    LOOPBACK,
    ModelsArg,
    normalize_models,
    validate_port,
)
from memcollab_langgraph.local.discovery import DEFAULT_MODEL
from memcollab_langgraph.local.processes import terminate_process
from memcollab_langgraph.local.server import (
    DEFAULT_STARTUP_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    default_run_dir,
    start_server,
)

__all__ = [
    "DEFAULT_SERVER_NAME",
    "ServerState",
    "list_detached",
    "read_state",
    "serve_detached",
    "stop_detached",
]

DEFAULT_SERVER_NAME = "default"
"""Name of a detached server when none is given."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_STATE_SUFFIX = ".state.json"
_STATE_VERSION = 1
# Detached servers started by this process: kept so they can be reaped (no zombie) and so that
# dropping the Popen does not warn about a still-running child.
_OWN_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, kw_only=True)
class ServerState:
    """What a detached server's state file records.

    Attributes:
        name: The server's name.
        pid: Its process id (also its process group id).
        port: Its port on 127.0.0.1.
        aliases: The aliases it serves, default first.
        model_paths: Alias to GGUF file.
        log_path: Its log file.
        config_path: Its llama.cpp config file.
        started_at: When it answered for the first time (UTC).
    """

    name: str
    pid: int
    port: int
    aliases: tuple[str, ...]
    model_paths: dict[str, Path]
    log_path: Path
    config_path: Path
    started_at: datetime

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint, ``http://127.0.0.1:<port>/v1``."""
        return f"http://{LOOPBACK}:{self.port}/v1"

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to the state file."""
        return {
            "v": _STATE_VERSION,
            "name": self.name,
            "pid": self.pid,
            "port": self.port,
            "aliases": list(self.aliases),
            "model_paths": {alias: str(path) for alias, path in self.model_paths.items()},
            "log_path": str(self.log_path),
            "config_path": str(self.config_path),
            "started_at": self.started_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any) -> ServerState:
        """Parse a state file's JSON object.

        Raises:
            ValueError: A missing or mistyped field.
        """
        if not isinstance(data, dict) or data.get("v") != _STATE_VERSION:
            raise ValueError(f"not a version-{_STATE_VERSION} state object")
        try:
            return cls(
                name=str(data["name"]),
                pid=_as_int(data["pid"]),
                port=_as_int(data["port"]),
                aliases=tuple(str(alias) for alias in data["aliases"]),
                model_paths={str(alias): Path(path) for alias, path in dict(data["model_paths"]).items()},
                log_path=Path(data["log_path"]),
                config_path=Path(data["config_path"]),
                started_at=datetime.fromisoformat(str(data["started_at"])),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"bad field: {error}") from error


def serve_detached(
    models: ModelsArg = DEFAULT_MODEL,
    *,
    name: str = DEFAULT_SERVER_NAME,
    run_dir: str | os.PathLike[str] | None = None,
    port: int | None = None,
    models_dir: str | os.PathLike[str] | None = None,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int = DEFAULT_N_THREADS,
    prompt_cache_mib: int = DEFAULT_PROMPT_CACHE_MIB,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    python: str | None = None,
) -> ServerState:
    """Start a server that outlives this process, wait until it answers, and record it in a state file.

    Args:
        models: What to serve, as for :class:`LocalServer`.
        name: The server's name; several detached servers can run under different names.
        run_dir: Where the state, log and config files go; default :func:`default_run_dir`.
        port: Port on 127.0.0.1; ``None`` picks a free one.
        models_dir: Where model names are looked up.
        n_ctx: Context window per model.
        n_threads: CPU threads per model.
        prompt_cache_mib: Prompt cache per model in MiB; ``0`` turns it off.
        startup_timeout: Seconds to wait for the server to answer.
        python: The interpreter that runs ``llama_cpp.server``; default the current one.

    Returns:
        The recorded state (``base_url``, ``pid``, ``log_path``...).

    Raises:
        ConfigurationError: A server of that name is already running, or a bad argument.
        ServerStartError: The server did not come up; nothing is left running and no state is written.

    Example:
        >>> import tempfile
        >>> run_dir = tempfile.mkdtemp()
        >>> state = serve_detached("smollm2-135m", name="doc", run_dir=run_dir)
        >>> read_state("doc", run_dir=run_dir) == state
        True
        >>> stop_detached("doc", run_dir=run_dir).pid == state.pid, read_state("doc", run_dir=run_dir)
        (True, None)
    """
    specs = normalize_models(models)
    validate_port(port)
    directory = _run_dir(run_dir)
    with _locked(directory, _check_name(name)):
        running = _read_state(directory, name)
        if running is not None:
            raise ConfigurationError(
                f"a server named {name!r} is already running (pid {running.pid}, {running.base_url}): "
                f"stop it first (stop_detached({name!r}) or `memcollab local stop`), or pick another name"
            )
        launched = start_server(
            specs,
            port=port,
            models_dir=Path(models_dir).expanduser() if models_dir is not None else None,
            n_ctx=n_ctx,
            n_threads=n_threads,
            prompt_cache_mib=prompt_cache_mib,
            log_path_for=lambda _port: directory / f"{name}.log",
            config_path_for=lambda _port: directory / f"{name}.config.json",
            die_with_parent=False,
            startup_timeout=startup_timeout,
            python=python,
        )
        state = ServerState(
            name=name,
            pid=launched.process.pid,
            port=launched.port,
            aliases=tuple(spec.alias for spec in specs),
            model_paths=launched.model_paths,
            log_path=launched.log_path,
            config_path=launched.config_path,
            started_at=datetime.now(UTC),
        )
        try:
            _write_state(directory, state)
        except BaseException:
            terminate_process(launched.process, 2.0)
            raise
        _OWN_CHILDREN[state.pid] = launched.process
        return state


def read_state(name: str = DEFAULT_SERVER_NAME, *, run_dir: str | os.PathLike[str] | None = None) -> ServerState | None:
    """The state of the detached server ``name`` if it is running, else ``None``.

    A stale state file (process gone, or the pid reused by another program) is deleted.

    Raises:
        ConfigurationError: The state file exists but cannot be parsed; the message names it.

    Example:
        >>> import tempfile
        >>> read_state("nothing-here", run_dir=tempfile.mkdtemp()) is None
        True
    """
    directory = _run_dir(run_dir)
    with _locked(directory, _check_name(name)):
        return _read_state(directory, name)


def list_detached(run_dir: str | os.PathLike[str] | None = None) -> list[ServerState]:
    """Every detached server running now (stale state files are deleted on the way), sorted by name.

    Example:
        >>> import tempfile
        >>> list_detached(tempfile.mkdtemp())
        []
    """
    directory = _run_dir(run_dir)
    if not directory.is_dir():
        return []
    names = sorted(path.name[: -len(_STATE_SUFFIX)] for path in directory.glob(f"*{_STATE_SUFFIX}"))
    states = [read_state(name, run_dir=directory) for name in names if _NAME.fullmatch(name)]
    return [state for state in states if state is not None]


def stop_detached(
    name: str = DEFAULT_SERVER_NAME,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_STOP_TIMEOUT,
) -> ServerState | None:
    """Stop the detached server ``name``: SIGTERM its process group, SIGKILL after ``timeout`` seconds.

    Returns:
        The state of the server that was stopped, or ``None`` if none was running (a stale state file
        is removed either way). The log file is kept.

    Raises:
        MemCollabError: The process survived SIGKILL (for example stuck in uninterruptible I/O).

    Example:
        >>> import tempfile
        >>> stop_detached("nothing-here", run_dir=tempfile.mkdtemp()) is None
        True
    """
    directory = _run_dir(run_dir)
    with _locked(directory, _check_name(name)):
        state = _read_state(directory, name)
        if state is None:
            return None
        own = _OWN_CHILDREN.pop(state.pid, None)
        if own is not None:
            terminate_process(own, timeout)
        else:
            _terminate_pid(state.pid, timeout)
        _state_path(directory, name).unlink(missing_ok=True)
        return state


# --- helpers --------------------------------------------------------------------------------------


def _run_dir(run_dir: str | os.PathLike[str] | None) -> Path:
    return Path(run_dir).expanduser() if run_dir is not None else default_run_dir()


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"server name {name!r} is invalid: use letters, digits, '_', '.', '-', starting with a letter or digit"
        )
    return name


def _state_path(directory: Path, name: str) -> Path:
    return directory / f"{name}{_STATE_SUFFIX}"


@contextlib.contextmanager
def _locked(directory: Path, name: str) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_state(directory: Path, name: str) -> ServerState | None:
    path = _state_path(directory, name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        state = ServerState.from_json(json.loads(text))
    except ValueError as error:
        raise ConfigurationError(
            f"state file {path} is unreadable ({error}): if no server {name!r} is running, delete the file"
        ) from error
    if _is_our_server(state):
        return state
    path.unlink(missing_ok=True)
    _OWN_CHILDREN.pop(state.pid, None)
    return None


def _write_state(directory: Path, state: ServerState) -> None:
    path = _state_path(directory, state.name)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(state.to_json(), indent=2), encoding="utf-8")
    os.replace(partial, path)


def _is_our_server(state: ServerState) -> bool:
    """Whether the state's pid is alive and (where /proc tells) still runs llama_cpp.server on its config."""
    own = _OWN_CHILDREN.get(state.pid)
    if own is not None:
        return own.poll() is None
    if not _pid_alive(state.pid):
        return False
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): a live pid is the best evidence there is
    args = [arg.decode(errors="replace") for arg in cmdline]
    return "llama_cpp.server" in args and str(state.config_path) in args


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def _terminate_pid(pid: int, timeout: float) -> None:
    for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.1)
    raise MemCollabError(f"server process {pid} is still alive after SIGKILL: check it with `ps -p {pid}`")


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an int, got {value!r}")
    return value
