"""How a pydantic validation problem is told to the user: where, what, and the value that was given."""

from __future__ import annotations

from pydantic_core import ErrorDetails

__all__ = ["location", "refused_value"]


def location(err: ErrorDetails) -> str:
    """The dotted path of the field (``agents.0.temperature``); ``''`` for a check across fields."""
    return ".".join(str(p) for p in err["loc"])


def refused_value(err: ErrorDetails, limit: int = 60) -> str:
    """`` (got <value>)`` for a field whose value was refused, else ``''``.

    Missing and unknown keys have no value worth repeating, and a check across fields (no location) or
    on a whole table gets the table as its input, too long to repeat.

    Example:
        >>> refused_value({"type": "greater_than", "loc": ("k",), "msg": "...", "input": 0})
        ' (got 0)'
        >>> refused_value({"type": "missing", "loc": ("k",), "msg": "...", "input": {}})
        ''
    """
    value = err.get("input")
    if err["type"] in ("missing", "extra_forbidden") or not err["loc"] or isinstance(value, dict):
        return ""
    text = repr(value)
    return f" (got {text if len(text) <= limit else text[: limit - 3] + '...'})"
