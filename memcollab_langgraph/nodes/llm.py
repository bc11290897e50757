"""Calling a chat model and recording what it cost: tokens, latency and model id.

Every LLM-calling node goes through :func:`chat_effect` (free text) or :func:`structured_effect`
(a pydantic schema via ``with_structured_output(..., include_raw=True)``), and logs one
:class:`ModelCall` per call under the state key ``usage_log``. Token counts come from the reply's
``usage_metadata``, the model id from ``response_metadata`` (``model_name`` or ``model``, what
``ChatOpenAI`` reports), else from the model object. Model *errors* (network, rate limits) are not
caught here: they propagate so that ``add_node(retry_policy=...)`` can retry the node. The one
exception: :func:`chat_within_context_effect` and :func:`structured_within_context_effect` return
:class:`ContextFull` when the server refuses a prompt longer than the model's context window, for
callers that can do without the call or shorten the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict

from memcollab_langgraph.models import model_id_of
from memcollab_langgraph.nodes.effects import Effect, effect
from memcollab_langgraph.schema import Usage

__all__ = [
    "ChatReply",
    "ContextFull",
    "ModelCall",
    "StructuredMethod",
    "StructuredReply",
    "chat_effect",
    "chat_within_context_effect",
    "is_context_overflow",
    "served_from_cache",
    "structured_effect",
    "structured_within_context_effect",
    "usage_of",
]

_R = TypeVar("_R")

StructuredMethod = Literal["function_calling", "json_mode", "json_schema"]
"""``with_structured_output`` methods; ``None`` in settings means the model's default."""


class ModelCall(BaseModel):
    """One LLM call made by a node, for the ``usage_log`` state key."""

    model_config = ConfigDict(frozen=True)

    step: str
    """The node's role: ``"classify"``, ``"solve"``, ``"distill"``..."""
    agent: str | None = None
    """The agent the call was made for, when there is one."""
    usage: Usage
    """Model id, tokens and latency of this one call."""
    ok: bool = True
    """Whether the reply could be used as intended (parsed, non-empty)."""
    reason: str | None = None
    """Why the reply was unusable or needed repair."""


def served_from_cache(message: BaseMessage | None) -> bool:
    """Whether a reply came from an LLM response cache rather than the model.

    LangChain marks every cache hit, whatever the cache, by adding ``total_cost: 0`` to the reply's
    ``usage_metadata`` ("we zero out cost on cache hits"); a model's own reply has no such key.
    """
    return isinstance(message, AIMessage) and "total_cost" in (message.usage_metadata or {})


def usage_of(message: BaseMessage | None, *, model_id: str, latency_s: float) -> Usage:
    """Usage of one call from a reply's ``usage_metadata`` and ``response_metadata``."""
    prompt = completion = 0
    model = model_id
    if isinstance(message, AIMessage):
        if message.usage_metadata:
            prompt = int(message.usage_metadata.get("input_tokens", 0))
            completion = int(message.usage_metadata.get("output_tokens", 0))
        meta = message.response_metadata or {}
        reported = meta.get("model_name") or meta.get("model")
        if isinstance(reported, str) and reported:
            model = reported
    return Usage(
        model=model,
        calls=1,
        prompt_tokens=prompt,
        completion_tokens=completion,
        latency_s=latency_s,
        cached_calls=int(served_from_cache(message)),
    )


@dataclass(frozen=True)
class ChatReply:
    """A free-text reply and its usage."""

    message: AIMessage
    usage: Usage

    @property
    def text(self) -> str:
        """The reply's text content ('' when the model only emitted tool calls or nothing)."""
        return self.message.text


@dataclass(frozen=True)
class StructuredReply:
    """A structured-output result ``{"raw", "parsed", "parsing_error"}`` and the usage of its call."""

    result: Mapping[str, Any]
    usage: Usage


def _as_ai(message: Any) -> AIMessage:
    if isinstance(message, AIMessage):
        return message
    content = message.content if isinstance(message, BaseMessage) else str(message)
    return AIMessage(content=content)


def _chat(model: BaseChatModel, messages: Sequence[BaseMessage]) -> ChatReply:
    start = time.perf_counter()
    message = _as_ai(model.invoke(list(messages)))
    latency = time.perf_counter() - start
    return ChatReply(message, usage_of(message, model_id=model_id_of(model), latency_s=latency))


async def _achat(model: BaseChatModel, messages: Sequence[BaseMessage]) -> ChatReply:
    start = time.perf_counter()
    message = _as_ai(await model.ainvoke(list(messages)))
    latency = time.perf_counter() - start
    return ChatReply(message, usage_of(message, model_id=model_id_of(model), latency_s=latency))


def chat_effect(model: BaseChatModel, messages: Sequence[BaseMessage]) -> Effect[ChatReply]:
    """Call ``model`` on ``messages`` (sync or async) and time it."""
    return effect(_chat, _achat, model, messages)


_CONTEXT_FULL = ("context_length_exceeded", "maximum context length", "exceeds the available context size")


def is_context_overflow(error: BaseException) -> bool:
    """Whether a model call was refused because its prompt and completion budget exceed the context window.

    Recognizes OpenAI's error code ``context_length_exceeded``, llama-cpp-python's server ("This model's
    maximum context length is 4096 tokens. However, you requested ...") and llama.cpp's ("the request
    exceeds the available context size"). Errors with another HTTP status are never overflows.

    Example:
        >>> is_context_overflow(ValueError("This model's maximum context length is 4096 tokens."))
        True
        >>> is_context_overflow(TimeoutError("Request timed out."))
        False
    """
    if getattr(error, "status_code", 400) != 400:
        return False
    text = f"{getattr(error, 'code', None) or ''} {error}".lower()
    return any(marker in text for marker in _CONTEXT_FULL)


@dataclass(frozen=True)
class ContextFull:
    """A call the server refused because the conversation no longer fits the model's context."""

    error: str
    """The server's message."""


def _overflow_as_result(call: Effect[_R]) -> Effect[_R | ContextFull]:
    """``call``, with a refusal for context length returned as :class:`ContextFull` instead of raised."""

    def run() -> _R | ContextFull:
        try:
            return call.run()
        except Exception as e:  # only the overflow is a result; anything else propagates unchanged
            if is_context_overflow(e):
                return ContextFull(str(e))
            raise

    async def arun() -> _R | ContextFull:
        try:
            return await call.arun()
        except Exception as e:
            if is_context_overflow(e):
                return ContextFull(str(e))
            raise

    return Effect(run, arun)


def chat_within_context_effect(
    model: BaseChatModel, messages: Sequence[BaseMessage]
) -> Effect[ChatReply | ContextFull]:
    """Like :func:`chat_effect`, but a refusal for context length is returned as :class:`ContextFull`."""
    return _overflow_as_result(effect(_chat, _achat, model, messages))


def _structured_runnable(
    model: BaseChatModel, schema: type[BaseModel], method: StructuredMethod | None
) -> Runnable[Any, Any] | None:
    """``model.with_structured_output(schema, include_raw=True)``, or ``None`` if unsupported."""
    kwargs: dict[str, Any] = {"include_raw": True}
    if method is not None:
        kwargs["method"] = method
    try:
        return model.with_structured_output(schema, **kwargs)
    except NotImplementedError:  # a model without tool calling or JSON mode: parse its text instead
        return None


def _as_result(output: Any, latency: float, model: BaseChatModel) -> StructuredReply:
    result: Mapping[str, Any]
    if isinstance(output, Mapping) and "raw" in output:
        result = output
    else:  # a plain reply (no structured output support)
        result = {"raw": _as_ai(output), "parsed": None, "parsing_error": None}
    raw = result.get("raw")
    usage = usage_of(raw if isinstance(raw, BaseMessage) else None, model_id=model_id_of(model), latency_s=latency)
    return StructuredReply(result, usage)


def _structured(
    model: BaseChatModel,
    schema: type[BaseModel],
    messages: Sequence[BaseMessage],
    method: StructuredMethod | None,
) -> StructuredReply:
    runnable = _structured_runnable(model, schema, method) or model
    start = time.perf_counter()
    output = runnable.invoke(list(messages))
    return _as_result(output, time.perf_counter() - start, model)


async def _astructured(
    model: BaseChatModel,
    schema: type[BaseModel],
    messages: Sequence[BaseMessage],
    method: StructuredMethod | None,
) -> StructuredReply:
    runnable = _structured_runnable(model, schema, method) or model
    start = time.perf_counter()
    output = await runnable.ainvoke(list(messages))
    return _as_result(output, time.perf_counter() - start, model)


def structured_effect(
    model: BaseChatModel,
    schema: type[BaseModel],
    messages: Sequence[BaseMessage],
    *,
    method: StructuredMethod | None = None,
) -> Effect[StructuredReply]:
    """Ask ``model`` for ``schema`` with ``include_raw=True``; parse the result with
    :func:`~memcollab_langgraph.nodes.parsing.parse_structured`."""
    return effect(_structured, _astructured, model, schema, messages, method)


def structured_within_context_effect(
    model: BaseChatModel,
    schema: type[BaseModel],
    messages: Sequence[BaseMessage],
    *,
    method: StructuredMethod | None = None,
) -> Effect[StructuredReply | ContextFull]:
    """Like :func:`structured_effect`, but a refusal for context length is returned as :class:`ContextFull`."""
    return _overflow_as_result(effect(_structured, _astructured, model, schema, messages, method))
