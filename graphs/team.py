"""The team the example graphs run with: the configuration named by ``$MEMCOLLAB_CONFIG``, opened once.

Nothing happens at import. The first graph built opens a :class:`~memcollab_langgraph.runtime.Runtime`
for the configuration file and keeps it for the life of the process (closed at exit), so a
``langgraph dev`` server builds the chat models once, and starts the local llama.cpp server for
``local:`` agents once, not on every request. Start one beforehand with ``memcollab local serve`` to
keep that start out of the first request: the runtime reuses a running server that serves every alias
the configuration needs.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

from memcollab_langgraph.config import load_config
from memcollab_langgraph.runtime import Runtime

__all__ = ["CONFIG_ENV", "DEFAULT_CONFIG", "REPO_ROOT", "config_path", "open_runtime"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "MEMCOLLAB_CONFIG"
"""Environment variable naming the configuration file (relative paths are taken from the repo root)."""
DEFAULT_CONFIG = REPO_ROOT / "configs" / "local-team.toml"

_lock = threading.Lock()
_runtimes: dict[Path, Runtime] = {}


def config_path() -> Path:
    """The configuration file: ``$MEMCOLLAB_CONFIG``, else ``configs/local-team.toml`` of this repository."""
    chosen = os.environ.get(CONFIG_ENV)
    if not chosen:
        return DEFAULT_CONFIG
    path = Path(chosen).expanduser()
    return (path if path.is_absolute() else REPO_ROOT / path).resolve()


def open_runtime() -> Runtime:
    """The opened runtime of :func:`config_path`, shared by every graph of this process.

    Raises:
        ConfigurationError: The file is missing or invalid (the message names the field and the fix).
    """
    path = config_path()
    with _lock:  # two first requests at once must not start two model servers
        runtime = _runtimes.get(path)
        if runtime is None:
            runtime = Runtime(load_config(path)).__enter__()
            _runtimes[path] = runtime
            atexit.register(runtime.__exit__, None, None, None)
        return runtime
