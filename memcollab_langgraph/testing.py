"""Test doubles for code built on memcollab-langgraph: fake chat models and fake embeddings.

Everything here is offline and deterministic, so unit tests never need a model server:

* :class:`ScriptedChatModel` replies with a fixed script and fails loudly on a call nobody scripted
  (it does not wrap around like langchain's list fakes, which hides extra calls).
* :class:`FunctionChatModel` replies with whatever a test function returns; the function can assert on
  the prompt it receives.
* :class:`FakeEmbeddings` hashes words and character trigrams, so texts that share words are closer
  than unrelated texts (random fake embeddings make retrieval tests meaningless).

Both chat models are real LangChain ``BaseChatModel`` subclasses: they work in ``invoke``/``ainvoke``,
inside LangGraph nodes, with callbacks, and they record every prompt in ``.calls``. Each reply carries
``usage_metadata`` (word counts as a stand-in for tokens) and ``response_metadata["model_name"]``, the
fields callers read from ``ChatOpenAI`` to record usage.

Structured output works the way it does on real models. A scripted *string* becomes the model's reply:

* ``with_structured_output(Schema)`` (default, ``method="function_calling"``) binds the schema as a
  forced tool. A string that is a bare JSON object becomes a tool call with those arguments, so
  ``parsed`` is a ``Schema`` instance. Any other string (prose, fenced JSON, a JSON list) becomes an
  *invalid* tool call whose arguments are the raw text, which is what ``ChatOpenAI`` builds when a
  model emits unparseable arguments: the parser raises ``OutputParserException`` (returned as
  ``parsing_error`` with ``include_raw=True``). As with ``ChatOpenAI``, ``raw.content`` is then empty
  and the raw text is in ``raw.invalid_tool_calls``.
* ``method="json_mode"`` or ``"json_schema"``: the string is the message content and is parsed as JSON
  (markdown fences allowed); junk gives an ``OutputParserException``.
* A scripted ``AIMessage`` is returned as is. Script ``AIMessage(content="junk")`` to reproduce a model
  that ignores a forced tool: langchain-core then gives ``parsed=None`` *without* a ``parsing_error``,
  a case callers must treat as a failure too.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from typing import Any, Literal, Protocol, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, PrivateAttr

from memcollab_langgraph._fake_embeddings import FakeEmbeddings
from memcollab_langgraph.errors import ConfigurationError

__all__ = [
    "ContextOverflowError",
    "FakeEmbeddings",
    "FunctionChatModel",
    "ReplyFunction",
    "ScriptedChatModel",
    "StructuredOutputMethod",
    "UnexpectedModelCallError",
]

Reply = str | AIMessage
StructuredOutputMethod = Literal["function_calling", "json_mode", "json_schema"]
_T = TypeVar("_T")


class ReplyFunction(Protocol):
    """A test function that answers a prompt, sync or async, for :class:`FunctionChatModel`.

    It receives the full message list (and may assert on it) and returns the reply text or a ready
    ``AIMessage``, or an awaitable of either.
    """

    def __call__(self, messages: list[BaseMessage], /) -> Reply | Awaitable[Reply]: ...


class UnexpectedModelCallError(AssertionError):
    """A :class:`ScriptedChatModel` was called more times than responses were scripted.

    It is an ``AssertionError`` because it signals a broken test expectation, not a model failure.
    """


class ContextOverflowError(Exception):
    """What an OpenAI-compatible client raises when the server refuses a prompt longer than the model's
    context window: HTTP status 400 and the server's message. Raise it from a :class:`FunctionChatModel`
    function to test how a graph handles a conversation that outgrows the context.

    Example:
        >>> from memcollab_langgraph.nodes.llm import is_context_overflow
        >>> is_context_overflow(ContextOverflowError())
        True
    """

    status_code = 400

    def __init__(
        self,
        message: str = "This model's maximum context length is 4096 tokens. However, you requested 5192 tokens.",
    ) -> None:
        super().__init__(message)


class _RecordingChatModel(BaseChatModel):
    """Shared machinery of the fakes: call recording, reply shaping, tool binding, structured output."""

    model_name: str = "fake"
    """Reported as ``response_metadata["model_name"]`` and used for LangSmith tracing."""
    usage: UsageMetadata | None = None
    """Usage reported on every reply; ``None`` estimates it from word counts."""

    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    # LangGraph runs parallel nodes in threads; the lock keeps the script order and the record consistent.
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The message list of every call received so far, oldest first (including failed calls)."""
        with self._lock:
            return [list(messages) for messages in self._calls]

    def _record(self, messages: list[BaseMessage]) -> int:
        """Record a call and return its 0-based index; must be called with ``self._lock`` held."""
        self._calls.append(list(messages))
        return len(self._calls) - 1

    def _result(self, reply: Reply, messages: list[BaseMessage], index: int, kwargs: Mapping[str, Any]) -> ChatResult:
        if isinstance(reply, AIMessage):
            message = reply.model_copy()  # the base class sets ids on the message: keep the script intact
        else:
            message = _text_to_message(reply, kwargs.get("tools") or [], kwargs.get("tool_choice"), index)
        if message.usage_metadata is None:
            message.usage_metadata = self.usage or _estimate_usage(messages, message)
        finish_reason = "tool_calls" if message.tool_calls or message.invalid_tool_calls else "stop"
        message.response_metadata = {
            "model_name": self.model_name,
            "finish_reason": finish_reason,
            **message.response_metadata,
        }
        return ChatResult(generations=[ChatGeneration(message=message)])

    @property
    def _identifying_params(self) -> builtins.dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[builtins.dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | builtins.dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools like a tool-calling model; JSON-object replies become calls of the bound tool.

        Args:
            tools: Tools or schemas (pydantic classes, TypedDicts, functions, OpenAI tool dicts).
            tool_choice: ``None``/``"auto"`` (a reply may be plain text), ``"any"``/``"required"``/
                ``True`` (a tool call is forced), ``"none"``, or the name of the tool to force.
            **kwargs: Passed to ``bind``.

        Returns:
            The model with ``tools`` and ``tool_choice`` bound.

        Raises:
            ConfigurationError: ``tool_choice`` names a tool that is not bound.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        _parse_tool_choice(tool_choice, [tool["function"]["name"] for tool in formatted])
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: builtins.dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: StructuredOutputMethod | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, builtins.dict[str, Any] | BaseModel]:
        """Structured output as on real chat models (see the module docstring for what replies become).

        Args:
            schema: A pydantic class (parsed into an instance), a TypedDict or a JSON/OpenAI schema (dict).
            include_raw: Return ``{"raw", "parsed", "parsing_error"}`` instead of raising on bad output.
            method: ``"function_calling"`` (the default, langchain-core's), ``"json_mode"`` or
                ``"json_schema"``.
            **kwargs: ``strict`` is accepted and ignored; anything else is rejected.

        Returns:
            A runnable taking the model's input and returning the parsed output.

        Raises:
            ConfigurationError: ``method`` is not one of the three methods.
        """
        if method is None or method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if method not in ("json_mode", "json_schema"):
            raise ConfigurationError(
                f"unknown structured output method {method!r}; use 'function_calling', 'json_mode' or 'json_schema'"
            )
        kwargs.pop("strict", None)
        if kwargs:
            raise ConfigurationError(f"unsupported with_structured_output arguments: {sorted(kwargs)}")
        if method == "json_mode":
            response_format: builtins.dict[str, Any] = {"type": "json_object"}
        else:
            json_schema = convert_to_json_schema(schema)
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": json_schema["title"], "schema": json_schema},
            }
        llm = self.bind(
            response_format=response_format,
            ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
        )
        parser: Runnable[Any, Any]
        if isinstance(schema, type) and is_basemodel_subclass(schema):
            parser = PydanticOutputParser(pydantic_object=schema)
        else:
            parser = JsonOutputParser()
        if not include_raw:
            return llm | parser
        # The same composition langchain-core and ChatOpenAI use, so the result has the same shape.
        parser_assign = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
        parser_with_fallback = parser_assign.with_fallbacks([parser_none], exception_key="parsing_error")
        return RunnableMap(raw=llm) | parser_with_fallback


class ScriptedChatModel(_RecordingChatModel):
    """A chat model that replies with a fixed script, in order, and fails on any extra call.

    Each scripted item is used by exactly one call: a ``str`` becomes the reply (a tool call when it is
    a JSON object and a tool is bound, see the module docstring), an ``AIMessage`` is returned as is,
    and an exception instance is raised at that call, which is how tests exercise error and retry
    paths. A call beyond the script raises :class:`UnexpectedModelCallError` showing the prompt.

    Args:
        responses: The replies, in call order.
        model_name: Reported in ``response_metadata["model_name"]``.
        usage: Usage reported on every reply; by default word counts of the prompt and the reply.
        **kwargs: Other ``BaseChatModel`` fields (``callbacks``, ``tags``...).

    Raises:
        ConfigurationError: ``responses`` is a single string or holds something that is not a
            ``str``, an ``AIMessage`` or an exception instance.

    Example:
        >>> from pydantic import BaseModel
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> class Answer(BaseModel):
        ...     value: int
        >>> model = ScriptedChatModel(["Let me think.", '{"value": 4}'], model_name="tiny")
        >>> model.invoke("What is 2 + 2?").content
        'Let me think.'
        >>> model.with_structured_output(Answer).invoke("Answer as JSON.")
        Answer(value=4)
        >>> [messages[0].content for messages in model.calls]
        ['What is 2 + 2?', 'Answer as JSON.']
        >>> model.remaining
        0
    """

    model_name: str = "scripted"
    _responses: tuple[Reply | BaseException, ...] = PrivateAttr(default=())

    def __init__(
        self,
        responses: Sequence[Reply | BaseException],
        *,
        model_name: str = "scripted",
        usage: UsageMetadata | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(responses, str):
            raise ConfigurationError(
                f"responses must be a sequence of replies, got the string {responses!r}; "
                f"write ScriptedChatModel([{responses!r}])"
            )
        for position, item in enumerate(responses):
            if not isinstance(item, str | AIMessage | BaseException):
                raise ConfigurationError(
                    f"scripted response #{position + 1} is {item!r}; script a str, an AIMessage or an "
                    "exception instance (for example TimeoutError('slow'), not the class)"
                )
        super().__init__(model_name=model_name, usage=usage, **kwargs)
        self._responses = tuple(responses)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def responses(self) -> tuple[Reply | BaseException, ...]:
        """The whole script, used and unused."""
        return self._responses

    @property
    def remaining(self) -> int:
        """How many scripted responses have not been used yet."""
        with self._lock:
            return max(len(self._responses) - len(self._calls), 0)

    def _next_reply(self, messages: list[BaseMessage]) -> tuple[Reply, int]:
        with self._lock:
            index = self._record(messages)
        if index >= len(self._responses):
            raise UnexpectedModelCallError(
                f"{type(self).__name__}(model_name={self.model_name!r}) received call #{index + 1} "
                f"but only {len(self._responses)} responses were scripted. Unexpected prompt:\n"
                f"{_format_prompt(messages)}\n"
                "Script another response, or find out why the code under test calls the model again."
            )
        reply = self._responses[index]
        if isinstance(reply, BaseException):
            raise reply
        return reply, index

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply, index = self._next_reply(messages)
        return self._result(reply, messages, index, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # No I/O to await: run inline instead of the base class's thread-pool fallback.
        reply, index = self._next_reply(messages)
        return self._result(reply, messages, index, kwargs)


class FunctionChatModel(_RecordingChatModel):
    """A chat model whose replies come from a test function, which may assert on the prompt.

    The function gets the message list and returns the reply text or an ``AIMessage`` (strings are
    shaped exactly as in :class:`ScriptedChatModel`); exceptions it raises, including failed asserts,
    propagate to the caller. It may be ``async``: ``ainvoke`` awaits it and ``invoke`` runs it to
    completion on a private event loop.

    Args:
        fn: The reply function.
        model_name: Reported in ``response_metadata["model_name"]``.
        usage: Usage reported on every reply; by default word counts of the prompt and the reply.
        **kwargs: Other ``BaseChatModel`` fields (``callbacks``, ``tags``...).

    Example:
        >>> from langchain_core.messages import BaseMessage
        >>> from memcollab_langgraph.testing import FunctionChatModel
        >>> def reply(messages: list[BaseMessage]) -> str:
        ...     assert "constraints" in messages[0].text, "the prompt lost its constraints"
        ...     return "The answer is 4."
        >>> model = FunctionChatModel(reply, model_name="echo")
        >>> message = model.invoke("Follow these constraints: ... What is 2 + 2?")
        >>> message.text, message.response_metadata["model_name"], len(model.calls)
        ('The answer is 4.', 'echo', 1)
    """

    model_name: str = "function"
    _fn: ReplyFunction = PrivateAttr()

    def __init__(
        self,
        fn: ReplyFunction,
        *,
        model_name: str = "function",
        usage: UsageMetadata | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"fn must be a callable taking the message list, got {fn!r}")
        super().__init__(model_name=model_name, usage=usage, **kwargs)
        self._fn = fn

    @property
    def _llm_type(self) -> str:
        return "function-chat-model"

    def _start(self, messages: list[BaseMessage]) -> tuple[Reply | Awaitable[Reply], int]:
        with self._lock:
            index = self._record(messages)
        return self._fn(list(messages)), index

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply, index = self._start(messages)
        if inspect.isawaitable(reply):
            reply = _run_sync(_await(reply))
        return self._result(_check_reply(reply), messages, index, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply, index = self._start(messages)
        if inspect.isawaitable(reply):
            reply = await reply
        return self._result(_check_reply(reply), messages, index, kwargs)


# --- pure helpers ---------------------------------------------------------------------------------------


def _parse_tool_choice(tool_choice: object, names: Sequence[str]) -> tuple[bool, str | None]:
    """Return (a tool call is forced, the forced tool's name or None)."""
    if tool_choice is None or tool_choice is False or tool_choice in ("auto", "none"):
        return False, None
    if tool_choice is True or tool_choice in ("any", "required"):
        return True, None
    name: object = tool_choice
    if isinstance(tool_choice, Mapping):
        if tool_choice.get("type") in ("any", "required"):
            return True, None
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool_choice.get("name")
    if not isinstance(name, str) or name not in names:
        raise ConfigurationError(f"tool_choice {tool_choice!r} does not name a bound tool; bound tools: {list(names)}")
    return True, name


def _text_to_message(text: str, tools: Sequence[Mapping[str, Any]], tool_choice: object, index: int) -> AIMessage:
    """Shape a reply string the way a tool-calling model would answer with the given tools bound."""
    names = [tool["function"]["name"] for tool in tools]
    if not names or tool_choice == "none":
        return AIMessage(content=text)
    forced, name = _parse_tool_choice(tool_choice, names)
    try:
        loaded = json.loads(text)
        error = None if isinstance(loaded, dict) else "the arguments are not a JSON object"
    except json.JSONDecodeError as exc:
        loaded, error = None, f"the arguments are not valid JSON: {exc}"
    args = loaded if isinstance(loaded, dict) else None
    if name is None and len(names) == 1:
        name = names[0]
    elif name is None and args is not None and set(args) == {"name", "args"} and args["name"] in names:
        # Several tools and none forced: the reply says which one, as {"name": ..., "args": {...}}.
        name, inner = args["name"], args["args"]
        args = inner if isinstance(inner, dict) else None
        error = None if args is not None else "the arguments are not a JSON object"
    call_id = f"call_{index}"
    if name is not None and args is not None:
        return AIMessage(content="", tool_calls=[tool_call(name=name, args=args, id=call_id)])
    if not forced:
        return AIMessage(content=text)  # the model chose to answer in text
    if name is None:
        raise ConfigurationError(
            f"cannot tell which of the bound tools {names} the reply {text!r} calls; reply with "
            '{"name": <tool>, "args": {...}} or script an AIMessage with tool_calls'
        )
    # A forced call with unusable arguments, shaped as ChatOpenAI shapes it: the output parsers fall
    # back to additional_kwargs["tool_calls"] and raise OutputParserException on the arguments.
    return AIMessage(
        content="",
        invalid_tool_calls=[invalid_tool_call(name=name, args=text, id=call_id, error=error)],
        additional_kwargs={
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}]
        },
    )


def _word_count(text: str) -> int:
    return len(text.split())


def _estimate_usage(prompt: Sequence[BaseMessage], reply: AIMessage) -> UsageMetadata:
    input_tokens = sum(_word_count(message.text) for message in prompt)
    output_tokens = (
        _word_count(reply.text)
        + sum(_word_count(json.dumps(call["args"])) for call in reply.tool_calls)
        + sum(_word_count(call.get("args") or "") for call in reply.invalid_tool_calls)
    )
    return UsageMetadata(
        input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens
    )


def _format_prompt(messages: Sequence[BaseMessage], limit: int = 500) -> str:
    lines = []
    for message in messages:
        text = message.text or repr(message.content)
        if isinstance(message, AIMessage) and message.tool_calls:
            text += f" tool_calls={message.tool_calls!r}"
        if len(text) > limit:
            text = text[:limit] + "..."
        lines.append(f"  [{message.type}] {text}")
    return "\n".join(lines) or "  (no messages)"


def _check_reply(reply: object) -> Reply:
    if not isinstance(reply, str | AIMessage):
        raise TypeError(f"the reply function of FunctionChatModel must return a str or AIMessage, got {reply!r}")
    return reply


async def _await(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


def _run_sync(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine from sync code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
