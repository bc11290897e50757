"""Where constraints live in a store and how they are written there.

Namespace layout (every label a slug, so no label contains ``.``)::

    ("memcollab", <bank>, "constraints", <domain>, <category or "_">, <subcategory or "_">)  key = id

A category lookup is then a prefix search: ``(..., "math", "algebra")`` finds everything labelled
``math/algebra`` or one of its subcategories, ``(..., "math")`` the whole domain. ``"_"`` stands for
"no label at this level"; it can never collide with a real slug, which must start with a letter or digit.

Values are schema records (``{"kind": "constraint", "v": 1, "content": {...}}``) plus a few top-level
copies used for store-side filtering and indexing: ``id``, ``status``, ``fingerprint`` and ``text``.
They are derived from ``content`` on every write, and ``content`` alone is read back.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.store.base import Item, PutOp

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import CategoryPath, Constraint, ConstraintStatus, from_record, to_record

__all__ = [
    "ALL_STATUSES",
    "INDEX_FIELDS",
    "NO_LABEL",
    "check_bank_name",
    "constraint_of",
    "namespace_of",
    "prefix_of",
    "put_op",
    "root_of",
    "status_filter",
]

NO_LABEL = "_"
"""Namespace label standing for a missing category or subcategory."""

ALL_STATUSES: tuple[ConstraintStatus, ...] = ("candidate", "validated", "archived")

INDEX_FIELDS = ["text"]
"""Fields a store with a vector index embeds: the constraint sentence only, not its metadata."""

_BANK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def check_bank_name(name: str) -> str:
    """Validate a bank name, which becomes a namespace label."""
    if not isinstance(name, str) or not _BANK.match(name):
        fix = re.sub(r"[^A-Za-z0-9_\-]+", "-", str(name)).strip("-_") or "default"
        raise ConfigurationError(
            f"bank name {name!r} must be letters, digits, '_' or '-' (it becomes a store namespace label, "
            f"which cannot contain '.'); for example {fix!r}"
        )
    return name


def root_of(bank: str) -> tuple[str, ...]:
    """Namespace prefix holding every constraint of ``bank``."""
    return ("memcollab", bank, "constraints")


def prefix_of(bank: str, path: CategoryPath) -> tuple[str, ...]:
    """Namespace prefix of ``path`` and everything below it."""
    return (*root_of(bank), *path.parts)


def namespace_of(bank: str, path: CategoryPath) -> tuple[str, ...]:
    """The exact namespace constraints labelled ``path`` are stored in."""
    return (*root_of(bank), path.domain, path.category or NO_LABEL, path.subcategory or NO_LABEL)


def put_op(bank: str, constraint: Constraint) -> PutOp:
    """The op writing ``constraint``; no TTL, because memory is archived, never expired."""
    value = {
        **to_record(constraint),
        "id": constraint.id,
        "status": constraint.status,
        "fingerprint": constraint.fingerprint,
        "text": constraint.text,
    }
    return PutOp(namespace_of(bank, constraint.category), constraint.id, value, index=INDEX_FIELDS, ttl=None)


def constraint_of(item: Item) -> Constraint:
    """Re-validate a stored item as a constraint."""
    return from_record(dict(item.value), Constraint)


def status_filter(statuses: frozenset[ConstraintStatus]) -> dict[str, Any] | None:
    """The store filter selecting ``statuses`` with plain ``$eq`` / ``$ne`` (supported by every store)."""
    if not statuses:
        raise ConfigurationError(f"statuses must name at least one of {list(ALL_STATUSES)}, got none")
    unknown = sorted(set(statuses) - set(ALL_STATUSES))
    if unknown:
        raise ConfigurationError(f"unknown constraint status(es) {unknown}; use some of {list(ALL_STATUSES)}")
    missing = [s for s in ALL_STATUSES if s not in statuses]
    if not missing:
        return None
    if len(missing) == 1:
        return {"status": {"$ne": missing[0]}}
    return {"status": next(s for s in ALL_STATUSES if s in statuses)}
