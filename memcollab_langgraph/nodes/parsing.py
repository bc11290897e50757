"""Robust parsing of structured model output: structured first, JSON repair second, rejection last.

:func:`parse_structured` takes what ``with_structured_output(schema, include_raw=True)`` returned
and tries, in order:

1. ``parsed``: the schema instance the model's tool call or JSON mode produced (``mode="structured"``).
2. JSON repair of the raw text with the ``json_repair`` library (``mode="repaired"``): the raw text
   is the reply's content, or the arguments of its (invalid) tool call. This recovers prose around a
   JSON object, markdown fences, a truncated object (closed at the cut), single quotes, trailing
   commas, and a bare list where the schema has one list field (``list_key``).
3. Rejection (``mode="failed"``) with a reason naming what was wrong: an empty reply, no JSON in the
   text, or the schema's validation errors.

A reply without a tool call when one was forced gives ``parsed=None`` *and* ``parsing_error=None``
in langchain-core; it is treated as a failure of step 1 like any other, never as success.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import json_repair
from langchain_core.messages import AIMessage
from pydantic import BaseModel, ValidationError

__all__ = ["ParseMode", "Parsed", "parse_structured", "raw_text", "repair_json"]

ParseMode = Literal["structured", "repaired", "failed"]
"""How a structured reply was obtained: as parsed by the model integration, by JSON repair, or not."""

_M = TypeVar("_M", bound=BaseModel)
_MAX_REPAIR_CHARS = 100_000  # json_repair is pure Python: bound the work on a runaway reply


@dataclass(frozen=True)
class Parsed(Generic[_M]):
    """The outcome of parsing one structured reply."""

    value: _M | None
    mode: ParseMode
    reason: str | None
    """Why step 1 failed (for ``repaired``) or why everything failed (for ``failed``)."""
    raw: str
    """The reply's raw text (content or tool-call arguments), for the record."""

    @property
    def ok(self) -> bool:
        return self.value is not None


def raw_text(message: object) -> str:
    """The text a model produced: its content, else its tool calls' arguments (valid or not)."""
    if not isinstance(message, AIMessage):
        return "" if message is None else str(message)
    if message.text.strip():
        return message.text
    for call in message.invalid_tool_calls:
        if call.get("args"):
            return str(call["args"])
    for tool_call in message.tool_calls:
        return json.dumps(tool_call["args"])
    return ""


def _validation_summary(error: ValidationError) -> str:
    parts = []
    for err in error.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    more = f" (+{error.error_count() - 3} more)" if error.error_count() > 3 else ""
    return "; ".join(parts) + more


def _candidates(loaded: Any, list_key: str | None) -> list[Any]:
    if isinstance(loaded, dict):
        return [loaded]
    if isinstance(loaded, list):
        # json_repair returns a list when the text holds several JSON values: try each object, and the
        # whole list as the schema's list field.
        out: list[Any] = []
        if list_key is not None:
            out.append({list_key: loaded})
            out.extend({list_key: item} for item in loaded if isinstance(item, list))
        return out + [item for item in loaded if isinstance(item, dict)]
    return []


def repair_json(text: str, schema: type[_M], *, list_key: str | None = None) -> tuple[_M | None, str | None]:
    """Validate ``schema`` from free text with JSON repair; returns ``(value, None)`` or ``(None, why)``.

    Example:
        >>> from pydantic import BaseModel
        >>> class Label(BaseModel):
        ...     category: str
        >>> repair_json('Sure! {"category": "algebra"} Hope this helps.', Label)
        (Label(category='algebra'), None)
        >>> repair_json("I cannot decide.", Label)
        (None, 'no JSON object found in the reply')
    """
    if not text.strip():
        return None, "the reply is empty"
    try:
        loaded = json_repair.loads(text[:_MAX_REPAIR_CHARS])
    except (ValueError, RecursionError) as e:
        return None, f"JSON repair failed: {e}"
    candidates = _candidates(loaded, list_key)
    if not candidates:
        return None, "no JSON object found in the reply"
    first_error: ValidationError | None = None
    for candidate in candidates:
        try:
            return schema.model_validate(candidate), None
        except ValidationError as e:
            first_error = first_error or e
    assert first_error is not None
    return None, f"the JSON does not match {schema.__name__}: {_validation_summary(first_error)}"


def _structured_failure(result: Mapping[str, Any]) -> str:
    raw = result.get("raw")
    finish = getattr(raw, "response_metadata", {}).get("finish_reason") if raw is not None else None
    if finish == "length":
        return (
            "the reply was cut off at the token limit (finish_reason=length); raise the agent's max_tokens "
            "or the server's context size (n_ctx)"
        )
    error = result.get("parsing_error")
    if isinstance(error, ValidationError):
        return f"structured output did not validate: {_validation_summary(error)}"
    if error is not None:
        # langchain's messages quote the raw arguments, then say what was wrong, then add a help link:
        # keep the lines that explain, not the echo of the reply.
        lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith("For troubleshooting")]
        what = lines[-1] if lines else type(error).__name__
        return f"structured output failed ({type(error).__name__}: {what[:200]})"
    return "the model replied without the structured output (no tool call / JSON)"


def parse_structured(result: Mapping[str, Any], schema: type[_M], *, list_key: str | None = None) -> Parsed[_M]:
    """Parse an ``include_raw=True`` structured-output result; see the module docstring.

    Args:
        result: ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}``.
        schema: The pydantic schema that was requested.
        list_key: The schema's list field, so that a bare JSON list can be accepted as its value.

    Example:
        >>> from pydantic import BaseModel
        >>> from langchain_core.messages import AIMessage
        >>> class Label(BaseModel):
        ...     category: str
        >>> parsed = parse_structured(
        ...     {"raw": AIMessage(content='{"category": "alg'), "parsed": None, "parsing_error": None}, Label
        ... )
        >>> parsed.value, parsed.mode
        (Label(category='alg'), 'repaired')
    """
    raw = result.get("raw")
    text = raw_text(raw)
    parsed = result.get("parsed")
    if isinstance(parsed, schema):
        return Parsed(parsed, "structured", None, text)
    if isinstance(parsed, Mapping):  # a dict schema or an integration returning dicts
        value, _ = repair_json(json.dumps(parsed), schema, list_key=list_key)
        if value is not None:
            return Parsed(value, "structured", None, text)
    first = _structured_failure(result)
    value, why = repair_json(text, schema, list_key=list_key)
    if value is not None:
        return Parsed(value, "repaired", f"{first}; recovered by JSON repair", text)
    return Parsed(None, "failed", f"{first}; {why}", text)
