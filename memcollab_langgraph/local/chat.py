"""LangChain chat models for the aliases of a local llama.cpp server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import httpx
from langchain_openai import ChatOpenAI

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.openai_compat import OpenAICompatibleChat

__all__ = ["DEFAULT_MAX_TOKENS", "LocalEndpoint", "chat_model"]

DEFAULT_MAX_TOKENS = 512
"""Completion cap of :func:`chat_model`: llama.cpp otherwise generates until the context is full."""


class LocalEndpoint(Protocol):
    """Serves aliases at an OpenAI-compatible URL: a :class:`LocalServer` or a :class:`ServerState`."""

    @property
    def base_url(self) -> str:
        """The ``.../v1`` endpoint."""
        ...

    @property
    def aliases(self) -> tuple[str, ...]:
        """The model aliases served."""
        ...

    @property
    def model_paths(self) -> dict[str, Path]:
        """Alias to the GGUF file it serves."""
        ...


def chat_model(
    server: LocalEndpoint,
    alias: str | None = None,
    *,
    temperature: float = 0.0,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    timeout: float = 600.0,
    **kwargs: Any,
) -> ChatOpenAI:
    """A ``ChatOpenAI`` for one alias of a local server, with token usage in ``usage_metadata``.

    The alias is checked here because llama-cpp-python silently answers an unknown model name with
    its default model. Proxy variables of the environment are ignored: the server is on loopback.

    Args:
        server: A started :class:`LocalServer` or a detached server's :class:`ServerState`.
        alias: The model alias; default the server's first (default) model.
        temperature: Sampling temperature; 0 (greedy) as MemCollab solves.
        max_tokens: Completion cap; ``None`` lets llama.cpp generate until the context is full.
        timeout: Seconds per request (CPU generation with larger models is slow).
        **kwargs: Further ``ChatOpenAI`` arguments (``stop``, ``model_kwargs``...).

    Returns:
        A chat model whose ``model_name`` is the alias; its LLM-cache keys name the GGUF file (name and
        size) instead of the server's URL, so cached replies survive a restart on another port.

    Raises:
        ConfigurationError: The alias is not served.

    Example:
        >>> from memcollab_langgraph.local import LocalServer
        >>> with LocalServer({"small": "smollm2-135m"}) as server:
        ...     model = chat_model(server, "small", max_tokens=8)
        ...     reply = model.invoke("What is 2 + 2?")
        >>> model.model_name, 0 < reply.usage_metadata["output_tokens"] <= 8
        ('small', True)
    """
    aliases = tuple(server.aliases)
    if alias is None:
        if not aliases:
            raise ConfigurationError(f"{server!r} serves no model")
        alias = aliases[0]
    if alias not in aliases:
        raise ConfigurationError(f"alias {alias!r} is not served at {server.base_url}: pick one of {list(aliases)}")
    path = server.model_paths.get(alias)
    return OpenAICompatibleChat(
        model=alias,
        base_url=server.base_url,
        endpoint_id=_endpoint_id(path) if path is not None else None,
        api_key="local",
        temperature=temperature,
        max_tokens=max_tokens,
        timeout=timeout,
        max_retries=kwargs.pop("max_retries", 1),
        http_client=kwargs.pop("http_client", None) or httpx.Client(trust_env=False, timeout=timeout),
        http_async_client=kwargs.pop("http_async_client", None) or httpx.AsyncClient(trust_env=False, timeout=timeout),
        **kwargs,
    )


def _endpoint_id(path: Path) -> str:
    """What identifies a local model's replies in LLM-cache keys: its GGUF file's name and size."""
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    return f"local-gguf:{path.name}:{size}"
