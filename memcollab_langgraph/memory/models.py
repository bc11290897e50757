"""Results returned by :class:`~memcollab_langgraph.memory.MemoryBank`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from memcollab_langgraph.schema import CategoryPath, Constraint, ConstraintStatus, UtilityCounter

__all__ = [
    "AddAction",
    "AddOutcome",
    "BankStats",
    "CategoryStats",
    "DEFAULT_FALLBACK",
    "FALLBACK_LEVELS",
    "FallbackLevel",
    "MemoryHit",
    "ModelStats",
    "RankerName",
    "ScoreKind",
]

FallbackLevel = Literal["exact", "category", "domain"]
"""Which level of the category lineage a hit was found at: the requested path itself, its parent
category (when the request named a subcategory) or the whole domain. As a retrieval setting
(``fallback=``), the coarsest level a query may fall back to."""

FALLBACK_LEVELS: tuple[FallbackLevel, ...] = ("exact", "category", "domain")
"""The levels from the finest to the coarsest."""

DEFAULT_FALLBACK: FallbackLevel = "category"
"""Retrieval falls back from a subcategory to its category, not to the whole domain: in a measured run
with small banks (docs/results.md), the 34 GSM8K items whose prompt got constraints of other categories
of the domain were right 7 times (18 without memory); re-solved on the same banks with ``"category"``,
11 times."""

RankerName = Literal["bm25", "embedding", "auto"]
"""How :meth:`MemoryBank.query` ranks: ``bm25`` (lexical, as in the paper), ``embedding`` (the store's
vector index, ``store.search(query=...)``), ``auto`` (embedding if the store has an index, else bm25)."""

ScoreKind = Literal["bm25", "embedding", "support"]
"""What a hit's score is: a BM25 score, the store's similarity, or the support count (no query text)."""

AddAction = Literal["added", "merged", "unchanged"]
"""``added``: stored as a new entry. ``merged``: an exact or near duplicate of an entry, which absorbed
it. ``unchanged``: an entry with the same id already exists (re-importing a file is idempotent)."""


class MemoryHit(BaseModel):
    """One retrieved constraint and why it was retrieved. Provenance is on ``constraint``."""

    model_config = ConfigDict(frozen=True)

    constraint: Constraint
    score: float
    """Relevance, higher is better; see ``score_kind``. Only comparable within one query."""
    score_kind: ScoreKind
    level: FallbackLevel
    """Fallback level the hit came from; all ``exact`` hits rank before ``category`` ones, and so on."""
    filter_path: CategoryPath
    """The category filter the hit matched (the requested path, or the parent or domain it fell back to)."""
    namespace: tuple[str, ...]
    """Store namespace of the entry."""

    @property
    def fallback_level(self) -> int:
        """The level as a number: 0 exact, 1 category, 2 domain."""
        return FALLBACK_LEVELS.index(self.level)


class AddOutcome(BaseModel):
    """What writing one constraint did."""

    model_config = ConfigDict(frozen=True)

    action: AddAction
    id: str
    """Id of the entry now holding the constraint: the incoming id, or the entry it merged into."""
    incoming_id: str
    """Id the constraint was submitted with."""
    path: CategoryPath
    status: ConstraintStatus
    """Status of entry ``id`` once the whole write finished (``archived`` if the budget evicted it)."""
    support: int
    version: int
    similarity: float | None = None
    """For merges: 1.0 for an exact duplicate, else the similarity that triggered the merge."""
    evicted: list[str] = Field(default_factory=list)
    """Ids the per-category budget archived because of this write."""


class CategoryStats(BaseModel):
    """Counts for one category path."""

    candidate: int = 0
    validated: int = 0
    archived: int = 0
    support: int = 0
    """Total support of the non-archived entries."""
    uses: int = 0
    successes: int = 0


class ModelStats(BaseModel):
    """Counts for one model of origin (over non-archived entries)."""

    constraints: int = 0
    """Entries whose provenance includes a trajectory of this model."""
    preferred: int = 0
    """Entries where this model produced a preferred trajectory."""
    support: int = 0
    """Total support of the entries counted in ``constraints``."""


class BankStats(BaseModel):
    """Summary of a bank, from :meth:`MemoryBank.stats`."""

    bank: str
    total: int
    by_status: dict[str, int]
    categories: dict[str, CategoryStats]
    """Keyed by category path, e.g. ``"math/algebra/linear_equations"``."""
    models: dict[str, ModelStats]
    """Keyed by model id of origin."""
    consumers: dict[str, UtilityCounter]
    """Utility summed over all entries, keyed by consumer model id."""
