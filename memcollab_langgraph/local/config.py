"""What to serve and the llama.cpp server config file for it: pure functions, no I/O.

``python -m llama_cpp.server --config_file FILE`` reads a JSON object with the server settings (``host``,
``port``, ...) and a ``models`` list of ``ModelSettings`` (``model`` path, ``model_alias``, ``n_ctx``,
``n_threads``, ``chat_format``...). One process serves every alias, but llama.cpp keeps only one model
in memory: a request for another alias unloads the current model and loads the requested one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.local.discovery import KNOWN_MODELS

__all__ = [
    "DEFAULT_N_CTX",
    "DEFAULT_N_THREADS",
    "DEFAULT_PROMPT_CACHE_MIB",
    "LOOPBACK",
    "ModelSpec",
    "ModelsArg",
    "default_alias",
    "normalize_models",
    "server_config",
    "validate_port",
]

LOOPBACK = "127.0.0.1"
"""The only address a server started by this package listens on."""

DEFAULT_N_CTX = 2048
"""Context window per model, in tokens. Small on purpose: memory use grows with it."""

DEFAULT_N_THREADS = 2
"""CPU threads for generation and prompt processing."""

DEFAULT_PROMPT_CACHE_MIB = 0
"""Prompt cache per model, in MiB; ``0`` (the default) turns it off.

llama.cpp reuses the evaluated prefix of the previous request only; with the cache the server keeps the
states of recent requests, so a request that shares a long prefix with any of them (the classifier's
taxonomy, the distiller's rules) skips evaluating it again. The cache is
:class:`~memcollab_langgraph.local.prompt_cache.BoundedRAMCache`, whose budget bounds every byte it keeps
(llama-cpp-python's own cache kept an uncounted logits copy with each state and grew a Qwen server past
23 GB). Measured on Qwen2.5-Coder-0.5B (``benchmarks/prompt_cache_bench.py``, ``docs/benchmarks.md``):
0.42x the prompt tokens evaluated and 0.6x the time at 64 or 256 MiB, for 260 MiB more peak memory
than without the cache. Replies can change where a reused prefix was computed with other tokens, as
they already do with the order of requests."""

# Fields set from ModelSpec attributes; passing them in ``settings`` would be ambiguous.
_RESERVED_SETTINGS = frozenset({"model", "model_alias", "n_ctx", "n_threads", "chat_format"})


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One GGUF model served under an alias.

    Attributes:
        alias: The name clients put in the ``model`` field of a request (and :func:`chat_model` takes).
        model: A path to a GGUF file or a name :func:`find_model` resolves; resolved when the server
            starts, not here.
        n_ctx: Context window in tokens; ``None`` uses the server's default (:data:`DEFAULT_N_CTX`).
        n_threads: CPU threads; ``None`` uses the server's default (:data:`DEFAULT_N_THREADS`).
        chat_format: A llama-cpp-python chat format name (``"chatml"``...). ``None`` (the default) uses
            the chat template stored in the GGUF metadata, which is right for SmolLM2 and Qwen2.5.
        settings: Further llama-cpp-python ``ModelSettings`` fields (``n_batch``, ``seed``, ``n_gpu_layers``,
            ...), passed through unchanged.

    Example:
        >>> ModelSpec(alias="coder", model="qwen2.5-coder-0.5b", n_ctx=4096).alias
        'coder'
    """

    alias: str
    model: str | Path
    n_ctx: int | None = None
    n_threads: int | None = None
    chat_format: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.alias, str) or not self.alias.strip() or self.alias != self.alias.strip():
            raise ConfigurationError(
                f"model alias {self.alias!r} is invalid: use a non-empty name without surrounding spaces"
            )
        if not os.fspath(self.model).strip():
            raise ConfigurationError(f"model for alias {self.alias!r} is empty: pass a GGUF path or name")
        _check_positive(f"n_ctx of {self.alias!r}", self.n_ctx)
        _check_positive(f"n_threads of {self.alias!r}", self.n_threads)
        clash = sorted(_RESERVED_SETTINGS & set(self.settings))
        if clash:
            raise ConfigurationError(
                f"settings of {self.alias!r} set {clash}: use the ModelSpec fields of the same name instead"
            )


ModelsArg: TypeAlias = (
    "str | os.PathLike[str] | ModelSpec | Mapping[str, str | os.PathLike[str]] "
    "| Sequence[str | os.PathLike[str] | ModelSpec]"
)
"""What a server can be asked to serve: one model, ``{alias: name_or_path}``, or a list of either."""


def normalize_models(models: ModelsArg) -> tuple[ModelSpec, ...]:
    """Turn the accepted spellings of "what to serve" into model specs with unique aliases.

    A bare name or path gets an alias: a known short name is its own alias, a path its file stem.

    Args:
        models: A name or path, a :class:`ModelSpec`, a mapping alias to name or path, or a sequence
            mixing names, paths and specs.

    Returns:
        The specs, in the given order; the first is the server's default model.

    Raises:
        ConfigurationError: Nothing to serve, a duplicate alias, or a value of the wrong type.

    Example:
        >>> [s.alias for s in normalize_models(["smollm2-135m", "/models/qwen2.5-coder-0.5b-instruct.gguf"])]
        ['smollm2-135m', 'qwen2.5-coder-0.5b-instruct']
        >>> spec = normalize_models({"small": "smollm2-135m"})[0]
        >>> spec.alias, spec.model
        ('small', 'smollm2-135m')
    """
    items: list[ModelSpec]
    if isinstance(models, str | os.PathLike | ModelSpec):
        items = [_to_spec(models)]
    elif isinstance(models, Mapping):
        items = [_mapping_spec(alias, model) for alias, model in models.items()]
    elif isinstance(models, Sequence):
        items = [_to_spec(model) for model in models]
    else:
        raise ConfigurationError(f"models={models!r} is not a name, path, ModelSpec, mapping or sequence of them")
    if not items:
        raise ConfigurationError("no model to serve: pass at least one name, path or ModelSpec")
    seen: set[str] = set()
    for spec in items:
        if spec.alias in seen:
            raise ConfigurationError(
                f"alias {spec.alias!r} is used twice: give each model its own alias, e.g. "
                "{'small': 'a.gguf', 'large': 'b.gguf'}"
            )
        seen.add(spec.alias)
    return tuple(items)


def validate_port(port: int | None) -> int | None:
    """Check a TCP port number; ``None`` (pick a free port at start) passes through.

    Example:
        >>> validate_port(8080)
        8080
        >>> validate_port(70000)
        Traceback (most recent call last):
        ...
        memcollab_langgraph.errors.ConfigurationError: port 70000 is not a TCP port: ...
    """
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigurationError(
            f"port {port!r} is not a TCP port: pass an int in 1..65535, or None to pick a free one"
        )
    return port


def server_config(
    models: Sequence[tuple[ModelSpec, Path]],
    *,
    port: int,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int = DEFAULT_N_THREADS,
    prompt_cache_mib: int = DEFAULT_PROMPT_CACHE_MIB,
) -> dict[str, Any]:
    """The JSON object for ``python -m llama_cpp.server --config_file``.

    Args:
        models: Each spec with the resolved path of its GGUF file; the first is the default model.
        port: The port to listen on (always on :data:`LOOPBACK`).
        n_ctx: Context window for specs that do not set their own.
        n_threads: Threads for specs that do not set their own; batch processing uses the same number
            unless ``settings`` says otherwise.
        prompt_cache_mib: Prompt cache per model (:data:`DEFAULT_PROMPT_CACHE_MIB`); ``0`` turns it off.
            A spec's ``settings`` (``cache``, ``cache_size``...) take precedence.

    Models are created with ``logits_all=False`` (llama_cpp.server's default is ``True``): requests cannot
    ask for ``logprobs`` unless a spec's ``settings`` set ``{"logits_all": True}``.

    Returns:
        A JSON-serialisable dict.

    Example:
        >>> from pathlib import Path
        >>> config = server_config([(ModelSpec(alias="small", model="x"), Path("/m/x.gguf"))], port=8000)
        >>> config["host"], config["port"], config["models"][0]["model_alias"], config["models"][0]["n_ctx"]
        ('127.0.0.1', 8000, 'small', 2048)
    """
    validate_port(port)
    _check_positive("n_ctx", n_ctx)
    _check_positive("n_threads", n_threads)
    if isinstance(prompt_cache_mib, bool) or not isinstance(prompt_cache_mib, int) or prompt_cache_mib < 0:
        raise ConfigurationError(
            f"prompt_cache_mib must be an int >= 0 (0 turns the cache off), got {prompt_cache_mib!r}"
        )
    cache: dict[str, Any] = {}
    if prompt_cache_mib:
        cache = {"cache": True, "cache_type": "ram", "cache_size": prompt_cache_mib * 2**20}
    entries: list[dict[str, Any]] = []
    for spec, path in models:
        threads = spec.n_threads if spec.n_threads is not None else n_threads
        # logits_all=False: llama_cpp.server defaults to True, which keeps the logits of every prompt token
        # (n_ctx x vocabulary x 4 bytes, 2.5 GB for Qwen2.5 at n_ctx 4096) and computes the output layer for
        # each of them; only logprobs need them, and the prompt cache would copy them into every state.
        entry: dict[str, Any] = {
            "n_threads_batch": threads,
            "logits_all": False,
            "verbose": True,
            **cache,
            **spec.settings,
        }
        entry.update(
            model=str(path),
            model_alias=spec.alias,
            n_ctx=spec.n_ctx if spec.n_ctx is not None else n_ctx,
            n_threads=threads,
        )
        if spec.chat_format is not None:
            entry["chat_format"] = spec.chat_format
        entries.append(entry)
    # interrupt_requests=False: with several agents sharing one server, a new request must queue behind
    # a running stream, not cut it off.
    return {"host": LOOPBACK, "port": port, "interrupt_requests": False, "models": entries}


def default_alias(model: str | os.PathLike[str]) -> str:
    """The alias of a model given without one: a known short name as is, else the file stem."""
    raw = os.fspath(model)
    if raw.lower() in KNOWN_MODELS:
        return raw.lower()
    return Path(raw).stem if raw.endswith(".gguf") else Path(raw).name


def _to_spec(model: object) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str | os.PathLike):
        return ModelSpec(alias=default_alias(model), model=_as_model(model))
    raise ConfigurationError(f"model {model!r} is not a name, path or ModelSpec")


def _mapping_spec(alias: object, model: object) -> ModelSpec:
    if not isinstance(alias, str):
        raise ConfigurationError(f"alias {alias!r} is not a string")
    if not isinstance(model, str | os.PathLike):
        raise ConfigurationError(f"model {model!r} for alias {alias!r} is not a name or path")
    return ModelSpec(alias=alias, model=_as_model(model))


def _as_model(model: str | os.PathLike[str]) -> str | Path:
    return model if isinstance(model, str) else Path(model)


def _check_positive(what: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be a positive int, got {value!r}")
