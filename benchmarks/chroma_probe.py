"""Probe the Chroma calls behind ChromaStore's slow paths, to explain ``store_bench.py``'s numbers.

Loads ``--size`` benchmark items (the same seeded data as ``store_bench.py``) into an ephemeral
ChromaStore, then times, on its collections, the Chroma calls that its filtered search, exact vector
scoring, namespace-scoped vector search and puts make today next to cheaper alternatives that return
the same records (median of ``--reps`` calls). Then it measures the recall@10 of ChromaStore's ANN path
(``n_results=40``, exact re-scoring) against exact search for a few HNSW settings, on a bare collection
of the same vectors. It reads the store's collections through the private ``_collections()``: it is a
diagnostic of this library, not an example of its use.

Usage::

    python benchmarks/chroma_probe.py --size 100000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.api.collection_configuration import CreateCollectionConfiguration, CreateHNSWConfiguration
from chromadb.config import Settings
from langgraph.store.base import PutOp

from memcollab_langgraph import ChromaStore
from memcollab_langgraph.store.records import item_id, namespace_id, vector_id
from memcollab_langgraph.testing import FakeEmbeddings

# store_bench.py is a sibling script, not a package module.
sys.path.insert(0, str(Path(__file__).parent))
import store_bench as bench


def timed(label: str, call: Callable[[], Any], reps: int) -> None:
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        res = call()
        samples.append((time.perf_counter() - t0) * 1000)
    ids = res["ids"]
    n = len(ids[0]) if ids and isinstance(ids[0], list) else len(ids)
    print(f"| {label} | {n:,} | {statistics.median(samples):.1f} |", flush=True)


def probe_calls(size: int, reps: int, seed: int) -> None:
    store = ChromaStore(index=bench.index_config())
    pending: list[PutOp] = []
    began = time.perf_counter()
    for ns, key, value in bench.items(size, seed):
        pending.append(PutOp(ns, key, value))
        if len(pending) == 1000:
            store.batch(pending)
            pending = []
    if pending:
        store.batch(pending)
    print(f"loaded {size:,} items in {time.perf_counter() - began:.0f}s\n", flush=True)
    items, spaces, vectors = store._collections()
    assert vectors is not None
    user, kind = "u7", "constraint"
    under = [f"bench.{user}.t{t}" for t in range(bench.TOPICS)]  # the namespaces under ("bench", user)
    prefix = [{"_ns0": {"$eq": "bench"}}, {"_ns1": {"$eq": user}}]
    current = {"$and": [*prefix, {"$or": [{"s:kind": {"$eq": kind}}, {"_partial": {"$eq": True}}]}]}
    no_partial = {"$and": [*prefix, {"s:kind": {"$eq": kind}}]}
    by_ns = {"$and": [{"_ns": {"$in": under}}, {"s:kind": {"$eq": kind}}]}
    print("| Chroma call | records | median ms |\n|---|---:|---:|")
    print("| **filtered search: candidates under a prefix with `kind` = one value** | | |")
    timed(
        "today: `_ns0`, `_ns1`, `$or` `_partial`; metadatas + documents",
        lambda: items.get(where=current, include=["metadatas", "documents"]),
        reps,
    )
    timed("today's where clause, ids only", lambda: items.get(where=current, include=[]), reps)
    timed("without the `$or` `_partial` branch, ids only", lambda: items.get(where=no_partial, include=[]), reps)
    timed("`_ns $in` [namespaces under the prefix], ids only", lambda: items.get(where=by_ns, include=[]), reps)
    timed("`_ns $in`, metadatas only", lambda: items.get(where=by_ns, include=["metadatas"]), reps)
    timed("`_ns $in`, metadatas + documents", lambda: items.get(where=by_ns, include=["metadatas", "documents"]), reps)
    owners = items.get(where=by_ns, include=[])["ids"][:1000]
    print("| **exact scoring: vectors of those candidates (at most 1,000)** | | |")
    timed(
        "today: `where={'_item': {'$in': ids}}`",
        lambda: vectors.get(where={"_item": {"$in": owners}}, include=["embeddings", "metadatas"]),
        reps,
    )
    derived = [vector_id(owner, "text") for owner in owners]
    timed("by derived vector ids", lambda: vectors.get(ids=derived, include=["embeddings", "metadatas"]), reps)
    query = FakeEmbeddings(size=bench.DIMS).embed_query(bench.queries("vector", size, 1, seed)[0].query or "")
    print("| **vector search, 40 nearest** | | |")

    def nearest(where: dict[str, Any] | None) -> Callable[[], Any]:
        return lambda: vectors.query(
            query_embeddings=[query], n_results=40, where=where, include=["embeddings", "metadatas"]
        )

    timed("no where clause (all items)", nearest(None), reps)
    timed("today: under a prefix, `_ns0` and `_ns1`", nearest({"$and": prefix}), reps)
    timed("under a prefix, `_ns $in`", nearest({"_ns": {"$in": under}}), reps)
    print("| **reads of every put batch (500 items)** | | |")
    existing = items.get(limit=500, include=[])["ids"]
    timed("today: previous rows, metadatas", lambda: items.get(ids=existing, include=["metadatas"]), reps)
    timed("previous rows, ids only", lambda: items.get(ids=existing, include=[]), reps)
    new = [item_id(("bench", "new"), f"x{i}") for i in range(500)]
    timed(
        "today: old vectors of new items, `_item $in`",
        lambda: vectors.get(where={"_item": {"$in": new}}, include=[]),
        reps,
    )
    timed(
        "old vectors of new items, by derived ids",
        lambda: vectors.get(ids=[vector_id(i, "text") for i in new], include=[]),
        reps,
    )
    print("| **namespace order** | | |")
    timed(
        "registry records of 4 namespaces",
        lambda: spaces.get(ids=[namespace_id(tuple(n.split("."))) for n in under], include=["metadatas"]),
        reps,
    )
    store.close()


def probe_recall(size: int, seed: int, settings: Sequence[tuple[int, int]]) -> None:
    embeddings = FakeEmbeddings(size=bench.DIMS)
    docs = np.asarray(embeddings.embed_documents([v["text"] for _, _, v in bench.items(size, seed)]))
    queries = [q.query or "" for q in bench.queries("vector", size, 100, seed)[bench.WARMUP :]]
    qs = np.asarray(embeddings.embed_documents(queries))
    unit = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    truth = [set(np.argsort(-(unit @ q))[:10].tolist()) for q in qs]
    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    ids = [str(i) for i in range(size)]
    print("\n| HNSW ef_construction | ef_search | recall@10 | median query ms |\n|---:|---:|---:|---:|")
    for ef_construction, ef_search in settings:
        hnsw = CreateHNSWConfiguration(space="cosine", ef_construction=ef_construction, ef_search=ef_search)
        col = client.create_collection(
            f"probe-{ef_construction}-{ef_search}",
            embedding_function=None,
            configuration=CreateCollectionConfiguration(hnsw=hnsw),
        )
        for lo in range(0, size, 5000):
            col.add(ids=ids[lo : lo + 5000], embeddings=docs[lo : lo + 5000].tolist())
        recalls, samples = [], []
        for q, best in zip(qs, truth, strict=True):
            t0 = time.perf_counter()
            res = col.query(query_embeddings=[q.tolist()], n_results=40, include=["embeddings"])
            samples.append((time.perf_counter() - t0) * 1000)
            found = np.asarray((res["embeddings"] or [[]])[0])
            sims = found @ q / np.linalg.norm(found, axis=1)  # the queries are unit vectors
            top = {int(res["ids"][0][i]) for i in np.argsort(-sims)[:10]}
            recalls.append(len(top & best) / 10)
        print(
            f"| {ef_construction} | {ef_search} | {statistics.fmean(recalls):.3f} | {statistics.median(samples):.1f} |",
            flush=True,
        )
        client.delete_collection(col.name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    probe_calls(args.size, args.reps, args.seed)
    probe_recall(args.size, args.seed, [(100, 100), (100, 200), (100, 400), (400, 100)])


if __name__ == "__main__":
    main()
