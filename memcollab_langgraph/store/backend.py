"""The slice of ChromaDB that ChromaStore uses, with Chroma's own typing kept at this boundary."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Protocol, cast

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.collection_configuration import CreateCollectionConfiguration, CreateHNSWConfiguration
from chromadb.api.types import Space
from chromadb.config import Settings

from memcollab_langgraph.errors import ConfigurationError

__all__ = [
    "CHUNK",
    "Collection",
    "Vectors",
    "chunks",
    "client_settings",
    "cosine",
    "open_collection",
    "parse_server_url",
]

CHUNK: Final = 1000
Vectors = dict[str, list[float]]


class Collection(Protocol):
    """The part of a Chroma collection this store uses (Chroma's own annotations are narrower than the
    JSON-like where clauses and metadata built here)."""

    @property
    def name(self) -> str: ...
    @property
    def metadata(self) -> Mapping[str, Any] | None: ...
    def get(self, **kwargs: Any) -> Any: ...
    def query(self, **kwargs: Any) -> Any: ...
    def add(self, **kwargs: Any) -> None: ...
    def upsert(self, **kwargs: Any) -> None: ...
    def update(self, **kwargs: Any) -> None: ...
    def delete(self, **kwargs: Any) -> None: ...


def open_collection(
    client: ClientAPI, name: str, space: Space, metadata: dict[str, Any] | None = None, *, ef_search: int | None = None
) -> Collection:
    # The distance space is always set explicitly: Chroma's default (l2) would silently change scores.
    hnsw = CreateHNSWConfiguration(space=space)
    if ef_search is not None:
        hnsw["ef_search"] = ef_search
    config = CreateCollectionConfiguration(hnsw=hnsw)
    col = client.get_or_create_collection(name, embedding_function=None, metadata=metadata, configuration=config)
    return cast(Collection, col)


def client_settings() -> Settings:
    return Settings(anonymized_telemetry=False, allow_reset=False)


def chunks(seq: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def cosine(query: Sequence[float], matrix: Any) -> list[float]:
    q = np.asarray(query, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64).reshape(-1, q.shape[0])
    norms = np.linalg.norm(m, axis=1) * np.linalg.norm(q)
    sims = np.zeros(len(m))
    ok = norms != 0
    sims[ok] = (m[ok] @ q) / norms[ok]
    out: list[float] = sims.tolist()
    return out


def parse_server_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, ssl)`` of a Chroma server address such as ``http://127.0.0.1:8000``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"Chroma server url {url!r} must look like 'http://127.0.0.1:8000' (scheme http or https)"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 8000)
    except ValueError as e:
        raise ConfigurationError(f"Chroma server url {url!r} has an invalid port: {e}") from None
    return parts.hostname, port, parts.scheme == "https"
