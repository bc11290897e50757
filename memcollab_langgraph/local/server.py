"""Start and stop a local llama.cpp OpenAI-compatible server (``llama_cpp.server``, bounded prompt cache).

:class:`LocalServer` owns one server process that serves one or more GGUF files under aliases on
``127.0.0.1``. The process never outlives its owner:

* ``stop()`` (also called by ``with`` and on ``start()`` failure or Ctrl-C while starting) sends SIGTERM
  to the server's process group, then SIGKILL after a grace period, and reaps it.
* An ``atexit`` hook stops a server still running when the interpreter exits, including after an
  unhandled ``KeyboardInterrupt``.
* On Linux the child asks the kernel to terminate it when its owner dies without running Python
  cleanup (SIGKILL, a crash, an unhandled SIGTERM); see :mod:`memcollab_langgraph.local.processes`.

The server runs in its own session, so a Ctrl-C in the terminal reaches only the owner, which then
stops the server in order. Detached servers that must outlive the caller (``memcollab local serve``)
are in :mod:`memcollab_langgraph.local.detached`.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from memcollab_langgraph.errors import ConfigurationError, MemCollabError
from memcollab_langgraph.local.config import (
    DEFAULT_N_CTX,
    DEFAULT_N_THREADS,
    DEFAULT_PROMPT_CACHE_MIB,
    LOOPBACK,
    ModelsArg,
    ModelSpec,
    normalize_models,
    server_config,
    validate_port,
)
from memcollab_langgraph.local.discovery import DEFAULT_MODEL, find_model
from memcollab_langgraph.local.processes import launch, terminate_process

__all__ = [
    "DEFAULT_STARTUP_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "RUN_DIR_ENV",
    "LocalServer",
    "ServerStartError",
    "default_run_dir",
    "server_command",
]

RUN_DIR_ENV = "MEMCOLLAB_RUN_DIR"
"""Environment variable that overrides the runtime directory (logs, state files of detached servers)."""

DEFAULT_STARTUP_TIMEOUT = 120.0
"""Seconds to wait for a server to load its first model and answer."""

DEFAULT_STOP_TIMEOUT = 10.0
"""Seconds between SIGTERM and SIGKILL when stopping a server."""

_LOCAL_EXTRA_HINT = "pip install 'memcollab-langgraph[local]'"
# Run as a script rather than with -m: importing this package would cost the server seconds and 100+ MB.
_LAUNCHER = Path(__file__).with_name("prompt_cache.py")
# llama_cpp.server's __main__ lets these environment variables override the config file.
_OVERRIDING_ENV = ("HOST", "PORT", "CONFIG_FILE")
_LOG_TAIL_LINES = 30
_POLL_INTERVAL = 0.2


class ServerStartError(MemCollabError):
    """The llama.cpp server exited or did not answer while starting.

    Attributes:
        log_path: The server's log file.
        log_tail: Its last lines, also part of the message.
        returncode: The exit code, or ``None`` if the server was still running (timeout) and was killed.
    """

    def __init__(self, reason: str, *, log_path: Path, log_tail: str, returncode: int | None) -> None:
        super().__init__(f"{reason}. Server log {log_path}, last lines:\n{log_tail}")
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        self.returncode = returncode


def default_run_dir() -> Path:
    """The runtime directory: ``$MEMCOLLAB_RUN_DIR`` if set, else ``~/.cache/memcollab/run``.

    Example:
        >>> expected = os.environ.get("MEMCOLLAB_RUN_DIR") or "~/.cache/memcollab/run"
        >>> default_run_dir() == Path(expected).expanduser()
        True
    """
    configured = os.environ.get(RUN_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "memcollab" / "run"


def server_command(config_path: str | os.PathLike[str], python: str | None = None) -> list[str]:
    """The command line that starts ``llama_cpp.server`` with a config file and a bounded prompt cache.

    The server runs through the script :mod:`memcollab_langgraph.local.prompt_cache`, which installs its
    :class:`~memcollab_langgraph.local.prompt_cache.BoundedRAMCache` first: llama-cpp-python's own RAM
    cache ignores its budget. ``-P`` keeps the script's directory off ``sys.path``.

    Example:
        >>> command = server_command("/run/x.json", python="python3")
        >>> command[:2], Path(command[2]).name, command[3:]
        (['python3', '-P'], 'prompt_cache.py', ['llama_cpp.server', '--config_file', '/run/x.json'])
    """
    return [python or sys.executable, "-P", str(_LAUNCHER), "llama_cpp.server", "--config_file", os.fspath(config_path)]


class LocalServer:
    """A llama.cpp OpenAI-compatible server on ``127.0.0.1``, serving GGUF models under aliases.

    The constructor only validates its arguments; :meth:`start` resolves the models, writes the config
    file next to the log, starts the process and waits until ``GET /v1/models`` answers. One process
    serves every alias; llama.cpp keeps one model in memory and swaps on a request for another alias.

    Args:
        models: What to serve: a name or path (see :func:`find_model`), a :class:`ModelSpec`, a mapping
            alias to name or path, or a sequence of those. The first model is the default one.
        port: Port on 127.0.0.1; ``None`` picks a free one at start.
        models_dir: Where names are looked up; default ``$MEMCOLLAB_MODEL_DIR`` or
            ``~/.cache/memcollab/models``.
        n_ctx: Context window for models whose spec does not set one.
        n_threads: CPU threads for models whose spec does not set them.
        prompt_cache_mib: Prompt cache per model in MiB (:data:`DEFAULT_PROMPT_CACHE_MIB`); ``0`` turns it off.
        log_path: The server's log file (overwritten at each start); its config file is written next to
            it with the suffix ``.config.json``. Default ``<run dir>/logs/llama-server-<port>.log``.
        run_dir: The runtime directory for the default log path; default :func:`default_run_dir`.
        startup_timeout: Seconds to wait for the server to answer.
        stop_timeout: Seconds between SIGTERM and SIGKILL in :meth:`stop`.
        python: The interpreter that runs ``llama_cpp.server`` (Python 3.11+ with the ``local`` extra);
            default the current one.

    Raises:
        ConfigurationError: Invalid aliases, port, sizes.

    Example:
        >>> from memcollab_langgraph.local import chat_model
        >>> with LocalServer("smollm2-135m") as server:
        ...     reply = chat_model(server, "smollm2-135m", max_tokens=20).invoke("Say hi")
        ...     print(server.base_url.startswith("http://127.0.0.1:"))
        True
        >>> reply.usage_metadata["output_tokens"] > 0
        True
        >>> server.is_running()
        False
    """

    def __init__(
        self,
        models: ModelsArg = DEFAULT_MODEL,
        *,
        port: int | None = None,
        models_dir: str | os.PathLike[str] | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int = DEFAULT_N_THREADS,
        prompt_cache_mib: int = DEFAULT_PROMPT_CACHE_MIB,
        log_path: str | os.PathLike[str] | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        python: str | None = None,
    ) -> None:
        self._specs = normalize_models(models)
        self._requested_port = validate_port(port)
        # validates the sizes only
        server_config([], port=port or 1, n_ctx=n_ctx, n_threads=n_threads, prompt_cache_mib=prompt_cache_mib)
        _check_timeout("startup_timeout", startup_timeout)
        _check_timeout("stop_timeout", stop_timeout)
        self._models_dir = Path(models_dir).expanduser() if models_dir is not None else None
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._prompt_cache_mib = prompt_cache_mib
        self._log_path_arg = Path(log_path).expanduser() if log_path is not None else None
        self._run_dir = Path(run_dir).expanduser() if run_dir is not None else None
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._python = python
        self._launched: _Launched | None = None
        self._last_log_path: Path | None = None

    @property
    def aliases(self) -> tuple[str, ...]:
        """The aliases served, default model first."""
        return tuple(spec.alias for spec in self._specs)

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1 (known before :meth:`start` only if it was passed)."""
        if self._launched is not None:
            return self._launched.port
        if self._requested_port is not None:
            return self._requested_port
        raise ConfigurationError("the port of this LocalServer is chosen by start(): call start() first")

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint, ``http://127.0.0.1:<port>/v1``."""
        return f"http://{LOOPBACK}:{self.port}/v1"

    @property
    def log_path(self) -> Path | None:
        """The server's log file: the given path, or the one :meth:`start` chose (kept after :meth:`stop`)."""
        if self._launched is not None:
            return self._launched.log_path
        return self._last_log_path or self._log_path_arg

    @property
    def model_paths(self) -> dict[str, Path]:
        """Alias to the resolved GGUF file, once started (empty before)."""
        return dict(self._launched.model_paths) if self._launched is not None else {}

    @property
    def pid(self) -> int | None:
        """The server's process id from :meth:`start` until :meth:`stop`, else ``None``."""
        return self._launched.process.pid if self._launched is not None else None

    def is_running(self) -> bool:
        """Whether the server process is alive (it may still be loading a model)."""
        return self._launched is not None and self._launched.process.poll() is None

    def start(self) -> LocalServer:
        """Start the server and wait until it answers; a no-op when it is already running.

        Returns:
            ``self``, so that ``server = LocalServer(...).start()`` reads well.

        Raises:
            ConfigurationError: A model cannot be found, the requested port is taken, or
                llama-cpp-python is not installed.
            ServerStartError: The server exited or did not answer in time; the message has the log tail.
        """
        if self.is_running():
            return self
        if self._launched is not None:  # exited on its own: reap it and start afresh
            self.stop()
        run_dir = self._run_dir or default_run_dir()

        def log_path_for(port: int) -> Path:
            return self._log_path_arg or run_dir / "logs" / f"llama-server-{port}.log"

        self._launched = start_server(
            self._specs,
            port=self._requested_port,
            models_dir=self._models_dir,
            n_ctx=self._n_ctx,
            n_threads=self._n_threads,
            prompt_cache_mib=self._prompt_cache_mib,
            log_path_for=log_path_for,
            config_path_for=lambda port: _config_path_next_to(log_path_for(port)),
            die_with_parent=True,
            startup_timeout=self._startup_timeout,
            python=self._python,
        )
        atexit.register(self._stop_at_exit)
        return self

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop the server: SIGTERM to its process group, SIGKILL after ``timeout``, then reap it.

        Safe to call more than once and on a server that was never started.

        Args:
            timeout: Seconds to wait after SIGTERM; default the constructor's ``stop_timeout``.

        Returns:
            The server's exit code (negative: killed by that signal), or ``None`` if nothing was running.
        """
        launched = self._launched
        if launched is None:
            return None
        atexit.unregister(self._stop_at_exit)
        try:
            return terminate_process(launched.process, self._stop_timeout if timeout is None else timeout)
        finally:
            self._launched = None
            self._last_log_path = launched.log_path
            with contextlib.suppress(OSError):
                launched.config_path.unlink()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._launched is not None else "not started"
        return f"LocalServer(aliases={list(self.aliases)!r}, {where}, running={self.is_running()})"

    def _stop_at_exit(self) -> None:
        # atexit: keep the grace period short, the interpreter is going away.
        self.stop(timeout=min(self._stop_timeout, 3.0))


# --- process plumbing shared with detached servers -------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Launched:
    process: subprocess.Popen[bytes]
    port: int
    model_paths: dict[str, Path]
    log_path: Path
    config_path: Path


def start_server(
    specs: Sequence[ModelSpec],
    *,
    port: int | None,
    models_dir: Path | None,
    n_ctx: int,
    n_threads: int,
    prompt_cache_mib: int,
    log_path_for: Callable[[int], Path],
    config_path_for: Callable[[int], Path],
    die_with_parent: bool,
    startup_timeout: float,
    python: str | None,
) -> _Launched:
    """Resolve, configure, launch and wait; on any failure (Ctrl-C included) the process is stopped."""
    resolved = [(spec, find_model(spec.model, models_dir)) for spec in specs]
    if python is None:
        _check_server_installed()
    # A free port can be taken by someone else before the server binds it: pick another and retry.
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        chosen = port if port is not None else _free_port()
        if port is not None and not _port_is_free(port):
            raise ConfigurationError(
                f"port {port} on {LOOPBACK} is already in use: stop what listens there, "
                "or pass port=None to pick a free port"
            )
        log_path = log_path_for(chosen)
        config_path = config_path_for(chosen)
        config = server_config(
            resolved, port=chosen, n_ctx=n_ctx, n_threads=n_threads, prompt_cache_mib=prompt_cache_mib
        )
        log_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        process = launch(
            server_command(config_path, python), log_path, env=child_env(), die_with_parent=die_with_parent
        )
        try:
            _wait_ready(process, chosen, log_path, startup_timeout, [spec.alias for spec in specs])
        except ServerStartError as error:
            terminate_process(process, 2.0)
            if attempt + 1 < attempts and "address already in use" in error.log_tail.lower():
                continue
            raise
        except BaseException:
            terminate_process(process, 2.0)
            raise
        return _Launched(
            process=process,
            port=chosen,
            model_paths={spec.alias: path for spec, path in resolved},
            log_path=log_path,
            config_path=config_path,
        )
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


def fetch_aliases(port: int, timeout: float = 2.0) -> list[str] | None:
    """The model ids ``GET /v1/models`` lists on 127.0.0.1:port, or ``None`` if nothing answers."""
    # An empty ProxyHandler: loopback requests must not go through an HTTP(S)_PROXY from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{LOOPBACK}:{port}/v1/models", timeout=timeout) as response:
            body: Any = json.load(response)
    except (OSError, ValueError):
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    return [str(item.get("id")) for item in data if isinstance(item, dict)]


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ("" if it cannot be read)."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 16_384))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def child_env() -> dict[str, str]:
    """The server's environment: ours minus the variables that would override its config file.

    Example:
        >>> env = child_env()
        >>> "PORT" in env, env["PYTHONUNBUFFERED"]
        (False, '1')
    """
    env = {key: value for key, value in os.environ.items() if key not in _OVERRIDING_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    # OpenMP's default busy-wait makes llama.cpp's threads spin against each other when a core is busy
    # elsewhere: measured 40x slower generation with 2 threads on 2 shared cores. Passive waiting costs
    # nothing on an idle machine.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _wait_ready(
    process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float, aliases: list[str]
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        returncode = process.poll()
        if returncode is not None:
            raise ServerStartError(
                f"the llama.cpp server exited with code {returncode} while starting",
                log_path=log_path,
                log_tail=log_tail(log_path),
                returncode=returncode,
            )
        served = fetch_aliases(port, timeout=1.0)
        if served is not None and process.poll() is None:
            if set(aliases) <= set(served):
                return
            raise ServerStartError(
                f"port {port} answers but serves {served}, not {aliases}: another server holds the port",
                log_path=log_path,
                log_tail=log_tail(log_path),
                returncode=None,
            )
        if time.monotonic() >= deadline:
            raise ServerStartError(
                f"the llama.cpp server did not answer on {LOOPBACK}:{port} within {timeout:g}s "
                "(raise startup_timeout for large models)",
                log_path=log_path,
                log_tail=log_tail(log_path),
                returncode=None,
            )
        time.sleep(_POLL_INTERVAL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _check_server_installed() -> None:
    missing = [
        name
        for name in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise ConfigurationError(
            f"the llama.cpp server needs {', '.join(missing)}, not installed in {sys.executable}: {_LOCAL_EXTRA_HINT}"
        )


def _config_path_next_to(log_path: Path) -> Path:
    return log_path.with_name(log_path.stem + ".config.json")


def _check_timeout(what: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{what} must be a positive number of seconds, got {value!r}")
