"""Lexical similarity and ordering of constraints (pure functions, no store access).

BM25 (via ``bm25s``) ranks retrieved constraints against the task text, as in the MemCollab paper.
Token-set Jaccard decides near-duplicates on write. Both use the same tokenizer, which drops English
stop words and the template words every constraint shares ("when", "enforce", "avoid"), so two
constraints are only similar when what they *say* overlaps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import bm25s
from bm25s.stopwords import STOPWORDS_EN

from memcollab_langgraph.schema import Constraint

__all__ = ["bm25_scores", "eviction_key", "jaccard", "tokens", "value_key"]

_STOP = frozenset(STOPWORDS_EN) | {"when", "enforce", "avoid", "always", "never"}
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    # A deliberately tiny plural folding ("equations" ~ "equation", "entries" ~ "entry"); a real
    # stemmer would be an extra dependency for a marginal gain on sentences this short.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """Lower-cased content words of ``text``, stop words and template words removed."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


def jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    """Token-set Jaccard similarity in ``[0, 1]`` (1.0 for two empty texts)."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def bm25_scores(query: str, documents: Sequence[str]) -> list[float]:
    """BM25 score of each document for ``query``, higher is more relevant; all 0.0 when nothing overlaps."""
    query_tokens = tokens(query)
    corpus = [tokens(d) for d in documents]
    if not query_tokens or not any(corpus):
        return [0.0] * len(documents)
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    return [float(s) for s in retriever.get_scores(query_tokens)]


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def value_key(c: Constraint) -> tuple[float, ...]:
    """How valuable an entry is without a query: support, then verified successes, then recency."""
    return (float(c.support), float(c.total_successes), _ts(c.provenance.updated_at))


def eviction_key(c: Constraint) -> tuple[float | str, ...]:
    """Budget eviction order, lowest first: fewest verified successes, least support, least recently
    reinforced; the id breaks remaining ties so eviction is deterministic."""
    return (float(c.total_successes), float(c.support), _ts(c.provenance.updated_at), c.id)
