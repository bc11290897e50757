"""Search filters: exact matching in Python and a conservative translation to Chroma ``where`` clauses.

Chroma keeps only flat scalar metadata, while LangGraph filters address nested JSON values, lists,
booleans and missing keys. The store therefore works in two steps:

1. :func:`pushdown` turns the parts of a filter that Chroma can answer into a ``where`` clause that
   selects a *superset* of the matching items (never fewer), using the scalar fields that
   :func:`flatten` wrote into each item's metadata;
2. :func:`matches` then decides every candidate exactly, with ``InMemoryStore``'s semantics.

Semantics of :func:`matches` (``InMemoryStore``'s, plus two documented choices, see ``docs/store.md``):

* ``{"k": v}`` is equality; a dict value without ``$`` operators matches nested dicts key by key;
  a list value matches a list of the same length element-wise;
* ``$eq $ne`` compare with ``==``/``!=``; ``$gt $gte $lt $lte`` compare ``float(a)`` with ``float(b)``;
* a dotted key (``"user.name"``) first looks for a literal top-level key of that name, then walks
  nested dicts (as SQLite and Postgres stores do; ``InMemoryStore`` only does the former);
* a range operator on a missing or non-numeric value is "no match" (``InMemoryStore`` raises
  ``TypeError`` there; SQLite and Postgres return no match).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from memcollab_langgraph.errors import ConfigurationError

__all__ = ["PARTIAL", "flatten", "is_exact", "matches", "pushdown", "resolve", "validate_filter"]

RANGE_OPS: Final = {"$gt": float.__gt__, "$gte": float.__ge__, "$lt": float.__lt__, "$lte": float.__le__}
OPERATORS: Final = frozenset({"$eq", "$ne", *RANGE_OPS})

STR_PREFIX: Final = "s:"
"""Metadata key prefix of a flattened string field."""
NUM_PREFIX: Final = "n:"
"""Metadata key prefix of a flattened numeric view (``float(value)``) of a field."""
PARTIAL: Final = "_partial"
"""Metadata flag: some scalar of this item was not flattened, so pushdown must not exclude it."""

_MAX_FIELDS: Final = 128
_MAX_STR: Final = 256
_MAX_PATH: Final = 200


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()


def resolve(value: Mapping[str, Any], key: str) -> Any:
    """The value a filter key addresses: a literal top-level key first, else a dotted path.

    Returns ``MISSING`` when nothing is there.
    """
    if key in value:
        return value[key]
    if "." not in key:
        return MISSING
    node: Any = value
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def _as_float(value: Any) -> float | None:
    if isinstance(value, (dict, list, tuple)) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _apply(value: Any, operator: str, operand: Any) -> bool:
    if value is MISSING:
        value = None
    if operator == "$eq":
        return bool(value == operand)
    if operator == "$ne":
        return bool(value != operand)
    left, right = _as_float(value), _as_float(operand)
    if left is None or right is None:
        return False
    return RANGE_OPS[operator](left, right)


def _compare(value: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping):
        if any(k.startswith("$") for k in expected):
            return all(_apply(value, op, operand) for op, operand in expected.items())
        if not isinstance(value, Mapping):
            return False
        return all(_compare(value.get(k, MISSING), v) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(expected)
            and all(_compare(a, b) for a, b in zip(value, expected, strict=True))
        )
    if value is MISSING:
        value = None
    return bool(value == expected)


def matches(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether a stored value satisfies a (validated) filter, exactly."""
    if not filter:
        return True
    return all(_compare(resolve(value, key), expected) for key, expected in filter.items())


def validate_filter(filter: Mapping[str, Any] | None) -> None:
    """Reject a filter that could never be evaluated, naming the bad part and the fix.

    Raises:
        ConfigurationError: On a non-string key, an unknown ``$`` operator, operators mixed with plain
            keys, or a range operand that is not a number.
    """
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise ConfigurationError(
            f"search filter must be a dict such as {{'status': 'active'}}, got {type(filter).__name__}"
        )
    _validate(filter, path="")


def _validate(filter: Mapping[Any, Any], path: str) -> None:
    for key, expected in filter.items():
        where = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str):
            raise ConfigurationError(f"filter key {key!r} at {where!r} must be a string")
        if key.startswith("$"):
            raise ConfigurationError(f"operator {key!r} must be nested under a field, e.g. {{'score': {{{key!r}: 3}}}}")
        if not isinstance(expected, Mapping):
            continue
        ops = [k for k in expected if isinstance(k, str) and k.startswith("$")]
        if not ops:
            _validate(expected, where)
            continue
        if len(ops) != len(expected):
            raise ConfigurationError(
                f"filter on {where!r} mixes operators {ops} with plain keys; split them into separate fields"
            )
        for op, operand in expected.items():
            if op not in OPERATORS:
                raise ConfigurationError(
                    f"unsupported filter operator {op!r} on {where!r}; supported: {sorted(OPERATORS)}"
                )
            if op in RANGE_OPS and _as_float(operand) is None:
                raise ConfigurationError(f"filter operator {op!r} on {where!r} needs a number, got {operand!r}")


def _scalar_fields(path: str, value: Any) -> dict[str, str | float] | None:
    """Metadata for one scalar (``None`` when it cannot be represented faithfully)."""
    if len(path) > _MAX_PATH:
        return None
    out: dict[str, str | float] = {}
    if isinstance(value, str):
        if len(value) > _MAX_STR:
            return None
        out[STR_PREFIX + path] = value
    number = _as_float(value)
    if number is not None:
        if not math.isfinite(number):
            return None
        out[NUM_PREFIX + path] = number
    elif not isinstance(value, str):
        return None
    return out


def flatten(value: Mapping[str, Any]) -> dict[str, str | float | bool]:
    """Scalar fields of a value as Chroma metadata, keyed the way :func:`resolve` addresses them.

    Strings go under ``s:<path>``; anything ``float()`` accepts (numbers, booleans, numeric strings)
    also under ``n:<path>``. Nested dicts are reached through keys without dots; a top-level key that
    contains dots is its own path and wins over the nested one, as in :func:`resolve`. Whenever a
    scalar cannot be represented (long strings, non-finite numbers, too many fields) the item is
    flagged ``_partial`` so that pushdown keeps it as a candidate.
    """
    out: dict[str, str | float | bool] = {}
    partial = False

    def put(path: str, scalar: Any) -> None:
        nonlocal partial
        fields = _scalar_fields(path, scalar)
        if fields is None:
            partial = True
        else:
            out.update(fields)

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, child in node.items():
            if not isinstance(key, str) or "." in key:
                continue
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(child, Mapping):
                walk(child, path)
            elif child is not None and not isinstance(child, (list, tuple)):
                put(path, child)

    walk(value, "")
    for key, child in value.items():
        if isinstance(key, str) and "." in key:
            shadowed = [out.pop(STR_PREFIX + key, None), out.pop(NUM_PREFIX + key, None)]
            # the nested value at this path stays reachable through dict filters: keep it a candidate
            partial = partial or any(v is not None for v in shadowed)
            if child is not None and not isinstance(child, (Mapping, list, tuple)):
                put(key, child)
    if len(out) > _MAX_FIELDS:
        out, partial = {}, True
    out[PARTIAL] = partial
    return out


def _leaf_conditions(path: str, expected: Any) -> list[dict[str, Any]]:
    if isinstance(expected, Mapping):
        if any(k.startswith("$") for k in expected):
            conds: list[dict[str, Any]] = []
            for op, operand in expected.items():
                if op == "$eq":
                    conds.extend(_equality(path, operand))
                elif op in RANGE_OPS:
                    bound = _as_float(operand)
                    if bound is not None and math.isfinite(bound):
                        conds.append({NUM_PREFIX + path: {op: bound}})
            return conds
        if any("." in k for k in expected):
            return []  # nested keys with dots are not reachable through flattened paths
        return [c for k, v in expected.items() for c in _leaf_conditions(f"{path}.{k}", v)]
    return _equality(path, expected)


def _equality(path: str, operand: Any) -> list[dict[str, Any]]:
    if isinstance(operand, str):
        return [{STR_PREFIX + path: {"$eq": operand}}] if len(operand) <= _MAX_STR else []
    if isinstance(operand, (bool, int, float)):
        number = float(operand)
        return [{NUM_PREFIX + path: {"$eq": number}}] if math.isfinite(number) else []
    return []


def _exact(path: str, expected: Any, *, top: bool) -> bool:
    """Whether Chroma alone decides this part of a filter for items not flagged ``_partial``.

    True for string equality and range operators with finite bounds, also nested under dicts. Numeric
    equality is not exact (a numeric string has the same ``n:`` field but is not ``==`` the number), nor
    are ``$ne``, lists, ``None`` and missing keys, which are never pushed down.
    """
    if isinstance(expected, Mapping):
        if not expected:
            return False
        if any(k.startswith("$") for k in expected):
            for op, operand in expected.items():
                if op == "$eq" and not (isinstance(operand, str) and len(operand) <= _MAX_STR):
                    return False
                if op in RANGE_OPS:
                    bound = _as_float(operand)
                    if bound is None or not math.isfinite(bound):
                        return False
                elif op != "$eq":
                    return False
            return True
        if (top and "." in path) or any("." in k for k in expected):
            return False
        return all(_exact(f"{path}.{k}", v, top=False) for k, v in expected.items())
    return isinstance(expected, str) and len(expected) <= _MAX_STR


def is_exact(filter: Mapping[str, Any] | None) -> bool:
    """Whether :func:`pushdown` selects exactly the matching items among those not flagged ``_partial``,
    so that only the flagged ones need their value checked in Python."""
    return not filter or all(_exact(key, expected, top=True) for key, expected in filter.items())


def pushdown(filter: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Chroma conditions (to be AND-ed) that every item matching ``filter`` satisfies.

    Items flagged ``_partial`` must be let through separately by the caller.
    """
    if not filter:
        return []
    conds: list[dict[str, Any]] = []
    for key, expected in filter.items():
        nested = isinstance(expected, Mapping) and not any(k.startswith("$") for k in expected)
        if nested and "." in key:
            continue  # a dotted key holding a dict filter resolves literally first: not flattened
        conds.extend(_leaf_conditions(key, expected))
    return conds
