"""Pure helpers of ChromaStore: planning a batch, record ids and metadata, rows to items.

Nothing here does I/O, so that ``ChromaStore.batch`` and ``ChromaStore.abatch`` share all of it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from langgraph.store.base import (
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.store.filters import flatten, validate_filter

__all__ = [
    "NO_EXPIRY",
    "Plan",
    "Row",
    "and_",
    "dummy_embedding",
    "item_id",
    "item_metadata",
    "namespace_fields",
    "namespace_id",
    "namespace_matches",
    "next_seq",
    "now_us",
    "plan_batch",
    "prefix_conditions",
    "row_to_item",
    "vector_id",
]

NO_EXPIRY: Final = 2**62
"""``_exp`` of items without a TTL: every item has the field, so range conditions on it are total."""

SYSTEM_FIELDS: Final = ("_ns", "_depth", "_key", "_created", "_updated", "_seq", "_exp", "_ttl", "_vec")


def now_us() -> int:
    """Microseconds since the epoch (exact in Chroma's int64 metadata)."""
    return time.time_ns() // 1000


_seq_lock = threading.Lock()
_last_seq = 0


def next_seq() -> int:
    """A strictly increasing insertion sequence: wall-clock nanoseconds, bumped on ties, so that
    records written by several processes interleave in real time order."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        return _last_seq


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def item_id(namespace: tuple[str, ...], key: str) -> str:
    """Stable Chroma id of an item (namespaces never contain '.', keys may contain anything)."""
    return _digest("item", ".".join(namespace), key)


def namespace_id(namespace: tuple[str, ...]) -> str:
    return _digest("ns", ".".join(namespace))


def vector_id(item: str, path: str) -> str:
    return _digest("vec", item, path)


def dummy_embedding(record_id: str) -> list[float]:
    """A small placeholder vector for records that are never searched by similarity.

    Chroma requires an embedding per record. Distinct values keep its HNSW graph healthy; identical
    vectors make inserts markedly slower.
    """
    return [int(record_id[:8], 16) / 2**32, int(record_id[8:16], 16) / 2**32]


def namespace_fields(namespace: tuple[str, ...]) -> dict[str, str | int]:
    fields: dict[str, str | int] = {"_ns": ".".join(namespace), "_depth": len(namespace)}
    fields.update({f"_ns{i}": label for i, label in enumerate(namespace)})
    return fields


def prefix_conditions(prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    """Chroma conditions selecting the records whose namespace starts with ``prefix``."""
    return [{f"_ns{i}": {"$eq": label}} for i, label in enumerate(prefix)]


def and_(conditions: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Combine conditions the way Chroma accepts them (``$and`` needs two or more)."""
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0]
    return {"$and": list(conditions)}


def namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """``InMemoryStore``'s prefix/suffix matching with ``*`` wildcards."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ConfigurationError(f"unsupported namespace match type {condition.match_type!r}; use 'prefix' or 'suffix'")
    return all(p == "*" or n == p for n, p in pairs)


@dataclass(frozen=True)
class Row:
    """One item record read from Chroma."""

    id: str
    metadata: Mapping[str, Any]
    document: str | None = None

    @property
    def namespace(self) -> tuple[str, ...]:
        return tuple(str(self.metadata["_ns"]).split("."))

    @property
    def order(self) -> int:
        return int(self.metadata["_seq"])

    @property
    def value(self) -> Any:
        """The stored JSON value (the row must have been read with its document)."""
        if self.document is None:
            raise AssertionError(f"row {self.id} was read without its document")
        return json.loads(self.document)

    def expired(self, now: int) -> bool:
        return int(self.metadata.get("_exp", NO_EXPIRY)) <= now


def _dt(us: Any) -> datetime:
    return datetime.fromtimestamp(int(us) / 1_000_000, tz=UTC)


def row_to_item(row: Row, *, score: float | None = None, search: bool = False) -> Item:
    kwargs: dict[str, Any] = {
        "namespace": row.namespace,
        "key": str(row.metadata["_key"]),
        "value": row.value,
        "created_at": _dt(row.metadata["_created"]),
        "updated_at": _dt(row.metadata["_updated"]),
    }
    if search:
        return SearchItem(**kwargs, score=score)
    return Item(**kwargs)


def item_metadata(
    op: PutOp,
    value: Mapping[str, Any],
    *,
    now: int,
    previous: Mapping[str, Any] | None,
    has_vectors: bool,
) -> dict[str, Any]:
    """Metadata of an item written by ``op``; keys the previous version had and this one lacks are
    set to ``None`` because Chroma merges metadata on upsert and ``None`` removes a key."""
    meta: dict[str, Any] = {
        **namespace_fields(op.namespace),
        **flatten(value),
        "_key": op.key,
        "_created": previous["_created"] if previous else now,
        "_updated": now,
        "_seq": previous["_seq"] if previous else next_seq(),
        "_exp": NO_EXPIRY if op.ttl is None else now + int(op.ttl * 60_000_000),
        "_ttl": None if op.ttl is None else float(op.ttl),
        "_vec": has_vectors,
    }
    if previous:
        for stale in previous.keys() - meta.keys():
            meta[stale] = None
    return meta


@dataclass
class Plan:
    """A validated batch: what to read, what to write, and which texts need embedding."""

    ops: list[Op]
    puts: dict[tuple[tuple[str, ...], str], PutOp] = field(default_factory=dict)
    documents: dict[tuple[tuple[str, ...], str], str] = field(default_factory=dict)
    paths: dict[tuple[tuple[str, ...], str], list[tuple[str, str]]] = field(default_factory=dict)
    """Per put item: ``(path name, text)`` to embed (only when the store has an index)."""
    queries: list[str] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """Unique texts to embed for the puts, in first-seen order."""
        return list(dict.fromkeys(t for pairs in self.paths.values() for _, t in pairs))


def _normalize(op: Op) -> Op:
    # BaseStore.search passes the prefix as the caller gave it, and callers pass lists.
    if isinstance(op, SearchOp) and not isinstance(op.namespace_prefix, tuple):
        return op._replace(namespace_prefix=tuple(op.namespace_prefix))
    if isinstance(op, (GetOp, PutOp)) and not isinstance(op.namespace, tuple):
        return op._replace(namespace=tuple(op.namespace))
    if isinstance(op, ListNamespacesOp) and op.match_conditions:
        conds = tuple(c._replace(path=tuple(c.path)) for c in op.match_conditions)
        return op._replace(match_conditions=conds)
    return op


def _embed_paths(
    op: PutOp, index: IndexConfig | None, tokenized: list[tuple[str, list[str] | str]]
) -> list[tuple[str, str]]:
    if index is None or op.value is None or op.index is False:
        return []
    paths = tokenized if op.index is None else [(p, tokenize_path(p)) for p in op.index]
    out: list[tuple[str, str]] = []
    for path, tokens in paths:
        texts = get_text_at_path(op.value, tokens)
        for i, text in enumerate(texts):
            out.append((f"{path}.{i}" if len(texts) > 1 else path, text))
    return out


def plan_batch(
    ops: Iterable[Op],
    index: IndexConfig | None,
    tokenized: list[tuple[str, list[str] | str]],
) -> Plan:
    """Validate every op before anything is read or written, and plan the writes.

    Puts follow last-write-wins per ``(namespace, key)``; ``value=None`` is a delete.

    Raises:
        InvalidNamespaceError: On a namespace label that is empty, not a string or contains '.'.
        ConfigurationError: On an invalid filter, a value that is not JSON, or an unknown op.
    """
    plan = Plan(ops=[_normalize(op) for op in ops])
    for op in plan.ops:
        if not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp)):
            raise ConfigurationError(
                f"unknown store operation {op!r}; expected GetOp, PutOp, SearchOp or ListNamespacesOp"
            )
        validate_op_namespace(op)
        if isinstance(op, PutOp):
            if not op.namespace:
                raise ConfigurationError(f"cannot put key {op.key!r} into the empty namespace ()")
            plan.puts[(op.namespace, op.key)] = op
        elif isinstance(op, SearchOp):
            validate_filter(op.filter)
            if op.query and index is not None and op.query not in plan.queries:
                plan.queries.append(op.query)
    for target, op in plan.puts.items():
        if op.value is None:
            continue
        if not isinstance(op.value, Mapping):
            raise ConfigurationError(
                f"value for key {op.key!r} in namespace {op.namespace!r} must be a dict, got {type(op.value).__name__}"
            )
        try:
            plan.documents[target] = json.dumps(op.value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            raise ConfigurationError(
                f"value for key {op.key!r} in namespace {op.namespace!r} is not JSON-serializable ({e}); "
                "store dicts of str, numbers, bools, None, lists and dicts"
            ) from e
        plan.paths[target] = _embed_paths(op, index, tokenized)
    return plan
