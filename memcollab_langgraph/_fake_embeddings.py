"""Deterministic embeddings that preserve lexical similarity (re-exported by :mod:`memcollab_langgraph.testing`)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from memcollab_langgraph.errors import ConfigurationError

__all__ = ["FakeEmbeddings"]


@dataclass(frozen=True, kw_only=True)
class FakeEmbeddings(Embeddings):
    """Deterministic embeddings that preserve lexical similarity, for tests of dense retrieval.

    A text is lower-cased and split into words; every word and every character trigram of a word
    (``<word>`` padded, weight 0.5) is hashed with BLAKE2b into one of ``size`` dimensions with a
    hashed sign, and the vector is L2-normalised. Texts sharing words or word stems therefore have a
    higher cosine similarity than unrelated texts, and vectors are identical across processes and
    machines (Python's salted ``hash()`` is not used). A text without words embeds to a fixed unit
    vector, never to zeros.

    Args:
        size: Number of dimensions (the ``dims`` of a store index).

    Raises:
        ConfigurationError: ``size`` is smaller than 1.

    Example:
        >>> from memcollab_langgraph.testing import FakeEmbeddings
        >>> emb = FakeEmbeddings(size=64)
        >>> query = emb.embed_query("integer overflow in loops")
        >>> related, unrelated = emb.embed_documents(["check loops for integer overflow", "bake bread"])
        >>> def cosine(a: list[float], b: list[float]) -> float:
        ...     return sum(x * y for x, y in zip(a, b))
        >>> cosine(query, related) > cosine(query, unrelated)
        True
        >>> len(query), round(sum(x * x for x in query), 6)
        (64, 1.0)
    """

    size: int = 256

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigurationError(f"FakeEmbeddings size must be at least 1, got {self.size}")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed each text; see the class docstring for the scheme."""
        return [_hash_embedding(text, self.size) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed a query exactly like a document."""
        return _hash_embedding(text, self.size)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents` (no I/O, so it runs inline)."""
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        return self.embed_query(text)


_WORD = re.compile(r"\w+")
_EMPTY_FEATURE = "<no words>"


def _hash_embedding(text: str, size: int) -> list[float]:
    words = _WORD.findall(text.lower())
    features: list[tuple[str, float]] = []
    for word in words:
        features.append(("w:" + word, 1.0))
        padded = f"<{word}>"
        features.extend(("c:" + padded[i : i + 3], 0.5) for i in range(len(padded) - 2))
    vector = _accumulate(features, size)
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:  # no words, or (astronomically unlikely) signs cancelling out exactly
        vector = _accumulate([(_EMPTY_FEATURE, 1.0)], size)
        norm = 1.0
    return [x / norm for x in vector]


def _accumulate(features: Sequence[tuple[str, float]], size: int) -> list[float]:
    vector = [0.0] * size
    for feature, weight in features:
        digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
        sign = -1.0 if digest >> 63 else 1.0
        vector[digest % size] += sign * weight
    return vector
