"""Constraint retriever: category-conditioned retrieval from the graph's MemoryBank, with conflict check.

The retriever builds a :class:`~memcollab_langgraph.memory.MemoryBank` over the store of the running
graph (never its own), queries the task's category with the question as ranking text (the bank falls
back to the parent category, then the domain, while too few constraints were found), optionally
keeps only constraints whose provenance involves the consumer model's family, and checks the hits
for conflicting pairs with :func:`find_conflicts`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import DEFAULT_FALLBACK, FallbackLevel, MemoryBank, MemoryHit, RankerName
from memcollab_langgraph.memory.ranking import tokens
from memcollab_langgraph.memory.records import check_bank_name
from memcollab_langgraph.memory.retrieval import check_fallback
from memcollab_langgraph.models import Agent, agents_by_name
from memcollab_langgraph.nodes.effects import NodeRunnable, Program, as_node, current_store, effect, perform
from memcollab_langgraph.nodes.inputs import read_category, read_task
from memcollab_langgraph.schema import Constraint
from memcollab_langgraph.taxonomy import Taxonomy, get_taxonomy

__all__ = ["ConstraintConflict", "RetrieverSettings", "create_retriever_node", "find_conflicts"]

_NEGATORS_TEXT = (
    "not no never without ignore ignoring ignored skip skipping skipped omit omitting omitted forget "
    "forgetting neglect neglecting miss missing fail failing lack lacking drop dropping dont"
)
_NEGATORS = frozenset(_NEGATORS_TEXT.split())
_WORD = re.compile(r"[a-z0-9]+")


class ConstraintConflict(BaseModel):
    """Two retrieved constraints where one enforces what the other avoids."""

    model_config = ConfigDict(frozen=True)

    enforcing_id: str
    avoiding_id: str
    shared_terms: list[str]
    overlap: float
    """Shared content terms over the smaller of the two phrases' term sets, in ``[0, 1]``."""
    explanation: str


def _phrase(text: str) -> tuple[frozenset[str], bool]:
    """Content terms of a phrase and whether it is negated (an odd number of negating words)."""
    words = _WORD.findall(text.lower().replace("n't", " not"))
    negated = sum(w in _NEGATORS for w in words) % 2 == 1
    return frozenset(t for t in tokens(text) if t not in _NEGATORS), negated


def find_conflicts(
    constraints: Sequence[Constraint], *, min_overlap: float = 0.5, min_shared: int = 2
) -> list[ConstraintConflict]:
    """Pairs of constraints where one's *enforce* matches the other's *avoid* (a lexical heuristic).

    For every ordered pair (A, B) of different constraints, the content terms of A's ``enforce`` and
    of B's ``avoid`` are compared (stop words and the template words dropped, plurals folded, as in
    BM25 ranking). It is a conflict when they share at least ``min_shared`` terms, the shared terms
    cover at least ``min_overlap`` of the smaller phrase, and both phrases have the same polarity.
    Polarity matters because "enforce checking empty inputs" and "avoid ignoring empty inputs" say
    the same thing: a phrase with an odd number of negating words ("not", "without", "ignoring",
    "skipping", "forgetting"...) is negated, and a negated *avoid* agrees with a plain *enforce*.
    Being lexical it misses paraphrases and antonyms ("integer" vs "float") and can flag a pair
    whose overlap is incidental; treat it as a warning, not a verdict.

    Example:
        >>> from memcollab_langgraph.schema import CategoryPath, Constraint
        >>> cat = CategoryPath(domain="code", category="math")
        >>> a = Constraint(when="dividing counts", enforce="use integer division for counts",
        ...                avoid="float results", category=cat)
        >>> b = Constraint(when="dividing counts", enforce="keep exact fractions",
        ...                avoid="integer division of counts", category=cat)
        >>> [(c.enforcing_id == a.id, c.shared_terms) for c in find_conflicts([a, b])]
        [(True, ['count', 'division', 'integer'])]
    """
    out: list[ConstraintConflict] = []
    for a in constraints:
        enforce, enforce_negated = _phrase(a.enforce)
        for b in constraints:
            if a.id == b.id:
                continue
            avoid, avoid_negated = _phrase(b.avoid)
            shared = enforce & avoid
            if len(shared) < min_shared or enforce_negated != avoid_negated:
                continue
            overlap = len(shared) / min(len(enforce), len(avoid))
            if overlap >= min_overlap:
                out.append(
                    ConstraintConflict(
                        enforcing_id=a.id,
                        avoiding_id=b.id,
                        shared_terms=sorted(shared),
                        overlap=round(overlap, 3),
                        explanation=f"{a.id} enforces {a.enforce!r} while {b.id} avoids {b.avoid!r}",
                    )
                )
    return out


@dataclass(frozen=True, kw_only=True)
class RetrieverSettings:
    """Settings of :func:`create_retriever_node`."""

    bank_name: str = "default"
    taxonomy: Taxonomy | None = None
    k: int = 3
    min_results: int | None = None
    fallback: FallbackLevel = DEFAULT_FALLBACK
    model_aware: bool = False
    include_candidates: bool = True
    ranker: RankerName = "bm25"
    conflict_min_overlap: float = 0.5

    def __post_init__(self) -> None:
        check_bank_name(self.bank_name)
        if self.ranker not in get_args(RankerName):
            raise ConfigurationError(f"ranker must be one of {list(get_args(RankerName))}, got {self.ranker!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ConfigurationError(f"k must be a positive int (constraints per prompt), got {self.k!r}")
        check_fallback(self.fallback)
        if not 0.0 < self.conflict_min_overlap <= 1.0:
            raise ConfigurationError(f"conflict_min_overlap must be in (0, 1], got {self.conflict_min_overlap!r}")


def _program(
    settings: RetrieverSettings, families: Mapping[str, str], name: str, state: Mapping[str, Any]
) -> Program[dict[str, Any]]:
    task = read_task(state)
    category = read_category(state, task)
    if category is None:
        raise ConfigurationError(
            f"node {name!r} needs the task's category: put a classifier node before it, or set "
            f"state['category'] or Task.category (task {task.id!r} has none)"
        )
    wanted_families: list[str] | None = None
    if settings.model_aware:
        agent = state.get("agent")
        if agent not in families:
            raise ConfigurationError(
                f"model-aware retrieval needs state['agent'] to name one of the agents {sorted(families)}, "
                f"got {agent!r}"
            )
        wanted_families = [families[str(agent)]]
    bank = MemoryBank(current_store(name), name=settings.bank_name, taxonomy=settings.taxonomy, ranker=settings.ranker)
    hits: list[MemoryHit] = yield from perform(
        effect(
            bank.query,
            bank.aquery,
            category,
            task.question,
            k=settings.k,
            families=wanted_families,
            include_candidates=settings.include_candidates,
            min_results=settings.min_results,
            fallback=settings.fallback,
        )
    )
    conflicts = find_conflicts([h.constraint for h in hits], min_overlap=settings.conflict_min_overlap)
    return {"category": category, "hits": hits, "conflicts": conflicts}


def create_retriever_node(
    *,
    bank_name: str = "default",
    taxonomy: Taxonomy | str | None = None,
    k: int = 3,
    min_results: int | None = None,
    fallback: FallbackLevel = DEFAULT_FALLBACK,
    model_aware: bool = False,
    agents: Sequence[Agent] = (),
    include_candidates: bool = True,
    ranker: RankerName = "bm25",
    conflict_min_overlap: float = 0.5,
    name: str = "retrieve",
) -> NodeRunnable:
    """A node retrieving the top ``k`` constraints for ``state["task"]`` from the graph's store.

    Reads ``task``, ``category`` (else ``classification``, else ``Task.category``) and, when
    ``model_aware``, ``agent``. Writes ``hits`` (:class:`~memcollab_langgraph.memory.MemoryHit`: the
    constraint with its provenance, ``score``, ``level`` of fallback and ``filter_path``), ``conflicts``
    (:class:`ConstraintConflict`) and ``category``.

    Args:
        bank_name: The MemoryBank to read in the graph's store.
        taxonomy: Validate categories against this taxonomy (a name or a :class:`Taxonomy`).
        k: Constraints to return at most (the paper's top p, 3).
        min_results: Fall back to a coarser category while fewer were found; default ``k``.
        fallback: The coarsest level to fall back to: ``"exact"``, ``"category"`` (default) or ``"domain"``
            (see :meth:`~memcollab_langgraph.memory.MemoryBank.query`).
        model_aware: Keep only constraints whose provenance involves the consumer agent's model family.
        agents: The agents, to look up the consumer's family by name (needed with ``model_aware``).
        include_candidates: ``False`` returns only ``validated`` constraints.
        ranker: ``"bm25"`` (default), ``"embedding"`` (needs a store index) or ``"auto"``.
        conflict_min_overlap: See :func:`find_conflicts`.
        name: The runnable's name.

    Raises:
        ConfigurationError: Bad settings; at run time, no store, no category, or an unknown agent.

    Example:
        >>> from langgraph.graph import START, StateGraph
        >>> from langgraph.store.memory import InMemoryStore
        >>> from memcollab_langgraph.memory import MemoryBank
        >>> from memcollab_langgraph.nodes.state import SolveState
        >>> from memcollab_langgraph.schema import CategoryPath, Constraint, Task
        >>> store = InMemoryStore()
        >>> path = CategoryPath(domain="math", category="algebra", subcategory="linear_equations")
        >>> _ = MemoryBank(store).add(Constraint(when="solving a linear equation", category=path,
        ...     enforce="apply each operation to both sides", avoid="dropping a sign"))
        >>> graph = StateGraph(SolveState).add_node("retrieve", create_retriever_node())
        >>> graph = graph.add_edge(START, "retrieve").compile(store=store)
        >>> task = Task(id="t", domain="math", question="Solve 2x + 3 = 7.", category=path)
        >>> [h.level for h in graph.invoke({"task": task})["hits"]]
        ['exact']
    """
    tax = get_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
    settings = RetrieverSettings(
        bank_name=bank_name,
        taxonomy=tax,
        k=k,
        min_results=min_results,
        fallback=fallback,
        model_aware=model_aware,
        include_candidates=include_candidates,
        ranker=ranker,
        conflict_min_overlap=conflict_min_overlap,
    )
    if model_aware and not agents:
        raise ConfigurationError("model_aware=True needs agents=[...] to know the consumer agent's model family")
    families = {n: a.family for n, a in agents_by_name(agents).items()} if agents else {}
    return as_node(name, lambda state: _program(settings, families, name, state))
