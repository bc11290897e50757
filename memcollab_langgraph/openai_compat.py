"""A ``ChatOpenAI`` for the many servers that speak the OpenAI chat API but not all of its dialects.

vLLM, Ollama, llama.cpp and hosted gateways accept ``max_tokens`` and forced tool calls; fewer accept
``max_completion_tokens`` (llama-cpp-python ignores it and generates until the context is full) or
``response_format={"type": "json_schema"}`` (llama-cpp-python rejects it). So this class sends
``max_tokens`` and makes structured output use forced function calling unless told otherwise. With
llama.cpp a forced tool choice also means grammar-constrained decoding from the tool's JSON schema, so
even a very small model returns schema-valid JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.language_models import LanguageModelInput
from langchain_openai import ChatOpenAI

__all__ = ["OpenAICompatibleChat", "StructuredOutputMethod"]

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
