"""A ``ChatOpenAI`` for the many servers that speak the OpenAI chat API but not all of its dialects.

vLLM, Ollama, llama.cpp and hosted gateways accept ``max_tokens`` and forced tool calls; fewer accept
``max_completion_tokens`` (llama-cpp-python ignores it and generates until the context is full) or
``response_format={"type": "json_schema"}`` (llama-cpp-python rejects it). So this class sends
``max_tokens`` and makes structured output use forced function calling unless told otherwise. With
llama.cpp a forced tool choice also means grammar-constrained decoding from the tool's JSON schema, so
even a very small model returns schema-valid JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, Self

from langchain_core.language_models import LanguageModelInput
from langchain_openai import ChatOpenAI

__all__ = ["OpenAICompatibleChat", "StructuredOutputMethod", "portable_llm_string"]

StructuredOutputMethod = Literal["function_calling", "json_mode", "json_schema"]


class OpenAICompatibleChat(ChatOpenAI):
    """``ChatOpenAI`` that sends ``max_tokens`` and defaults structured output to ``structured_method``.

    Example:
        >>> model = OpenAICompatibleChat(model="m", base_url="http://127.0.0.1:9/v1", api_key="x", max_tokens=5)
        >>> model._get_request_payload("hi")["max_tokens"]
        5
    """

    structured_method: StructuredOutputMethod = "function_calling"
    """Method used by :meth:`with_structured_output` when the caller names none."""
    endpoint_id: str | None = None
    """Stands for the base URL in LLM-cache keys (``llm_string``) when set: a local server gets a new
    port at each start, so keys naming its URL would never be hit again; the model file it serves is
    what identifies the replies (:func:`~memcollab_langgraph.local.chat_model` sets it)."""

    def _get_llm_string(self, stop: list[str] | None = None, **kwargs: Any) -> str:
        if self.endpoint_id is None:
            return super()._get_llm_string(stop=stop, **kwargs)
        stand_in = self.model_copy(update={"openai_api_base": self.endpoint_id, "endpoint_id": None})
        return stand_in._get_llm_string(stop=stop, **kwargs)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied whose cache key and trace record describe the copy.

        LangChain memoizes a chat model's serialization (``_serialized``, a ``cached_property`` that
        both the LLM-cache key and the callbacks read) in the instance ``__dict__``, which pydantic's
        copy duplicates: a copy of a model that has already run would keep the original's serialization,
        so its cache key would ignore the updated settings (a new ``seed``, the ``endpoint_id`` stand-in).
        """
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("_serialized", None)
        return copy

    def with_structured_output(
        self,
        schema: Any = None,
        *,
        method: StructuredOutputMethod | None = None,
        **kwargs: Any,
    ) -> Any:
        return super().with_structured_output(schema, method=method or self.structured_method, **kwargs)

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload


def portable_llm_string(llm_string: str) -> str | None:
    """The cache key an ``llm_string`` that names both an ``endpoint_id`` and the server's URL should have had.

    Before :meth:`OpenAICompatibleChat.model_copy` dropped the memoized serialization, a model that had
    run once (every evaluation model) keyed its cached replies by the server's URL, port included, with
    the ``endpoint_id`` beside it; such entries were never hit after a restart. This rewrites such a key
    to the portable one (the ``endpoint_id`` in place of the URL); any other string gives ``None``.

    Example:
        >>> legacy = '{"kwargs": {"endpoint_id": "local-gguf:m.gguf:64", "openai_api_base": "http://127.0.0.1:41001/v1"}}---[]'
        >>> portable_llm_string(legacy)
        '{"kwargs": {"openai_api_base": "local-gguf:m.gguf:64"}}---[]'
        >>> portable_llm_string('{"kwargs": {"openai_api_base": "local-gguf:m.gguf:64"}}---[]') is None
        True
    """
    try:
        serialized, end = json.JSONDecoder().raw_decode(llm_string)
    except ValueError:
        return None
    kwargs = serialized.get("kwargs") if isinstance(serialized, dict) else None
    if not isinstance(kwargs, dict) or not isinstance(kwargs.get("endpoint_id"), str):
        return None
    kwargs["openai_api_base"] = kwargs.pop("endpoint_id")
    return json.dumps(serialized, sort_keys=True) + llm_string[end:]
