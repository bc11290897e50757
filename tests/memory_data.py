"""Constraints, categories and a fake embedding shared by the MemoryBank tests."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from langgraph.store.base import BaseStore

from memcollab_langgraph.memory import MemoryHit
from memcollab_langgraph.schema import AgentRef, CategoryPath, Constraint, Provenance

StoreFactory = Callable[..., BaseStore]

LINEAR = CategoryPath.parse("math/algebra/linear_equations")
QUADRATICS = CategoryPath.parse("math/algebra/quadratics")
ALGEBRA = CategoryPath.parse("math/algebra")
TRIANGLES = CategoryPath.parse("math/geometry/triangles")
MATH = CategoryPath.parse("math")

T0 = datetime(2026, 1, 1, tzinfo=UTC)

FAMILIES = {"qwen-7b": "qwen", "qwen-32b": "qwen", "llama-8b": "llama"}


def agent(model: str) -> AgentRef:
    return AgentRef(name=model, model=model, family=FAMILIES.get(model, "other"))


def make(
    when: str,
    enforce: str = "stating the invariant explicitly",
    avoid: str = "guessing",
    path: CategoryPath = LINEAR,
    *,
    id: str | None = None,
    preferred: str = "qwen-32b",
    unpreferred: str = "qwen-7b",
    task: str = "t1",
    minute: int = 0,
) -> Constraint:
    """A constraint distilled from ``preferred`` beating ``unpreferred`` on ``task`` at ``T0 + minute``."""
    at = T0 + timedelta(minutes=minute)
    c = Constraint(
        when=when,
        enforce=enforce,
        avoid=avoid,
        category=path,
        provenance=Provenance(
            source_task_ids=[task],
            preferred_agents=[agent(preferred)],
            unpreferred_agents=[agent(unpreferred)],
            distiller_models=[preferred],
            methods=["contrastive"],
            created_at=at,
            updated_at=at,
        ),
    )
    return c.model_copy(update={"id": id}) if id else c


def bag_of_words_embed(texts: list[str]) -> list[list[float]]:
    """Similarity-preserving fake embeddings: hashed word counts (texts sharing words are close)."""
    out = []
    for text in texts:
        vec = [0.0] * 64
        for word in re.findall(r"[a-z]+", text.lower()):
            vec[zlib.crc32(word.encode()) % 64] += 1.0
        out.append(vec)
    return out


INDEX = {"dims": 64, "embed": bag_of_words_embed, "fields": ["text"]}


def hit_ids(hits: list[MemoryHit]) -> list[str]:
    return [h.constraint.id for h in hits]


TOPICS = ["graphing lines", "clearing denominators", "checking solutions", "moving terms", "word problems"]

TOPICAL = {
    "frac": ("clearing fractions in an equation", "multiplying by the least common denominator"),
    "sign": ("moving a negative term across the equals sign", "flipping its sign"),
    "check": ("a candidate root is found", "substituting it back into the original equation"),
    "word": ("translating a word problem about ages", "defining the unknown age as a variable"),
    "graph": ("reading a slope from a graph", "using rise over run between two lattice points"),
}
