"""ChromaStore: a LangGraph ``BaseStore`` on ChromaDB.

Layout in Chroma (``<name>`` is ``collection_name``):

* ``<name>``: one record per item. The document is the JSON value; the metadata holds the namespace
  (``_ns``, ``_depth``, ``_ns0..``), key, timestamps, insertion sequence, TTL, and the value's scalar
  fields flattened for filter pushdown (see :mod:`memcollab_langgraph.store.filters`).
* ``<name>.vectors``: one record per embedded text field of an item (only with ``index=``), in an
  explicitly cosine space; similarity is computed exactly from the returned embeddings.
* ``<name>.namespaces``: one record per namespace ever written, with its creation sequence, so that
  listing namespaces and ordering results do not scan every item.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from os import PathLike
from typing import Any, cast

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.errors import ChromaError
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    tokenize_path,
)

from memcollab_langgraph.errors import ConfigurationError, MemCollabError, StoreError
from memcollab_langgraph.store.backend import (
    CHUNK,
    Collection,
    Vectors,
    chunks,
    client_settings,
    cosine,
    open_collection,
    parse_server_url,
)
from memcollab_langgraph.store.filters import PARTIAL, is_exact, matches, pushdown
from memcollab_langgraph.store.records import (
    Plan,
    Row,
    and_,
    dummy_embedding,
    item_id,
    item_metadata,
    namespace_fields,
    namespace_id,
    namespace_matches,
    next_seq,
    now_us,
    plan_batch,
    prefix_conditions,
    row_to_item,
    vector_id,
)
from memcollab_langgraph.store.ttl import Sweeper

__all__ = ["ChromaStore"]

logger = logging.getLogger(__name__)


class ChromaStore(BaseStore):
    """A LangGraph store on ChromaDB: embedded (ephemeral or on disk) or on a Chroma server.

    Args:
        path: Directory of a persistent embedded Chroma database (created if missing). Data survives
            the process and is visible to a later one. One process at a time should write to it; for
            several processes use a Chroma server and ``client=``.
        url: Address of a Chroma server (``chroma run``), e.g. ``"http://127.0.0.1:8000"``; several
            processes can share one memory this way. Connected on first use.
        client: A ready Chroma client, e.g. ``chromadb.HttpClient(host="127.0.0.1", port=8000)``.
        collection_name: Base name of the collections. Defaults to ``"memcollab"`` with ``path`` or
            ``client``, and to a fresh unique name for the ephemeral store.
        index: LangGraph ``IndexConfig`` (``dims``, ``embed``, ``fields``) enabling semantic search.
            ``distance_type`` may be given and must be ``"cosine"``.
        ttl: LangGraph ``TTLConfig`` (``default_ttl`` minutes, ``refresh_on_read``,
            ``sweep_interval_minutes``, ``omit_expired``).

    With neither ``path`` nor ``client`` the store is in-process and starts empty each time, a
    drop-in for ``InMemoryStore``. Nothing is opened until the first operation.

    Example:
        >>> from memcollab_langgraph import ChromaStore
        >>> store = ChromaStore()
        >>> store.put(("users", "ada"), "prefs", {"theme": "dark", "font": {"size": 12}})
        >>> store.get(("users", "ada"), "prefs").value["theme"]
        'dark'
        >>> [i.key for i in store.search(("users",), filter={"font.size": {"$gte": 10}})]
        ['prefs']
        >>> store.close()
    """

    supports_ttl: bool = True

    def __init__(
        self,
        *,
        path: str | PathLike[str] | None = None,
        url: str | None = None,
        client: ClientAPI | None = None,
        collection_name: str | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        given = [name for name, v in (("path", path), ("url", url), ("client", client)) if v is not None]
        if len(given) > 1:
            raise ConfigurationError(
                f"pass only one of path= (embedded on disk), url= (a Chroma server) or client=, got {given}"
            )
        self._server = parse_server_url(url) if url is not None else None
        self._path = path
        self._client = client
        self._ephemeral = not given
        self.collection_name = collection_name or (
            f"memcollab-{uuid.uuid4().hex[:12]}" if self._ephemeral else "memcollab"
        )
        self.ttl_config = dict(ttl) if ttl else None  # type: ignore[assignment]
        self.index_config: IndexConfig | None = None
        self.embeddings: Embeddings | None = None
        self._tokenized: list[tuple[str, list[str] | str]] = []
        if index:
            self._configure_index(index)
        self._cols: tuple[Collection, Collection, Collection | None] | None = None
        self._lock = threading.Lock()
        self._registered: set[tuple[str, ...]] = set()
        self._sweeper = Sweeper(self._sweep, self.collection_name)

    def _configure_index(self, index: IndexConfig) -> None:
        dims = index.get("dims")
        if not isinstance(dims, int) or dims <= 0:
            raise ConfigurationError(f"index['dims'] must be a positive int, got {dims!r}")
        if index.get("embed") is None:
            raise ConfigurationError("index['embed'] is required: an Embeddings, a function, or a provider string")
        distance = cast(Mapping[str, Any], index).get("distance_type", "cosine")
        if distance != "cosine":
            raise ConfigurationError(
                f"index distance_type {distance!r} is not supported; ChromaStore scores by cosine similarity"
            )
        self.index_config = cast(IndexConfig, dict(index))
        self.embeddings = ensure_embeddings(index["embed"])
        fields = index.get("fields") or ["$"]
        self._tokenized = [(p, tokenize_path(p)) if p != "$" else (p, p) for p in fields]

    # -- connection -----------------------------------------------------------------------------

    def _connect(self) -> ClientAPI:
        if self._server is not None:
            host, port, ssl = self._server
            return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=client_settings())
        if self._path is not None:
            return chromadb.PersistentClient(path=str(self._path), settings=client_settings())
        return chromadb.EphemeralClient(settings=client_settings())

    def _collections(self) -> tuple[Collection, Collection, Collection | None]:
        if self._cols is not None:
            return self._cols
        with self._lock, self._guard("opening the collections"):
            if self._cols is None:
                if self._client is None:
                    self._client = self._connect()
                client, name = self._client, self.collection_name
                items = open_collection(client, name, "l2")
                spaces = open_collection(client, f"{name}.namespaces", "l2")
                vectors = None
                if self.index_config is not None:
                    dims = self.index_config["dims"]
                    # ef_search 400 (Chroma's default is 100): top-10 recall against exact search at 100k
                    # items rises from 0.82 to 0.98 for about 1 ms per query (docs/benchmarks.md).
                    vectors = open_collection(
                        client, f"{name}.vectors", "cosine", metadata={"dims": dims}, ef_search=400
                    )
                    stored = (vectors.metadata or {}).get("dims")
                    if stored != dims:
                        raise ConfigurationError(
                            f"collection {vectors.name!r} holds {stored}-dimensional vectors but "
                            f"index['dims'] is {dims}; use the same embedding model or another "
                            "collection_name"
                        )
                self._cols = (items, spaces, vectors)
        return self._cols

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except MemCollabError:
            raise
        except (ChromaError, httpx.HTTPError, OSError, ValueError, RuntimeError) as e:
            raise StoreError(
                f"Chroma failed while {what} (collection {self.collection_name!r}): {e}. "
                "Check that the Chroma server or directory is reachable and writable; "
                "nothing of the failed batch's deletes was applied"
            ) from e

    def close(self) -> None:
        """Stop the TTL sweeper and, for an ephemeral store, drop its collections."""
        self.stop_ttl_sweeper()
        if self._ephemeral and self._cols is not None and self._client is not None:
            for col in self._cols:
                if col is not None:
                    with contextlib.suppress(ChromaError, ValueError):
                        self._client.delete_collection(col.name)
            self._cols = None
            self._registered.clear()

    def __enter__(self) -> ChromaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- batch ------------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        plan = plan_batch(ops, self.index_config, self._tokenized)
        texts, queries = plan.texts, plan.queries
        docs: Vectors = {}
        qvecs: Vectors = {}
        if self.embeddings is not None:
            if texts:
                docs = dict(zip(texts, self.embeddings.embed_documents(texts), strict=True))
            qvecs = {q: self.embeddings.embed_query(q) for q in queries}
        return self._execute(plan, docs, qvecs)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        plan = plan_batch(ops, self.index_config, self._tokenized)
        texts, queries = plan.texts, plan.queries
        docs: Vectors = {}
        qvecs: Vectors = {}
        if self.embeddings is not None:
            if texts:
                docs = dict(zip(texts, await self.embeddings.aembed_documents(texts), strict=True))
            vectors = await asyncio.gather(*(self.embeddings.aembed_query(q) for q in queries))
            qvecs = dict(zip(queries, vectors, strict=True))
        return await asyncio.to_thread(self._execute, plan, docs, qvecs)

    def _execute(self, plan: Plan, docs: Vectors, qvecs: Vectors) -> list[Result]:
        """Reads first (they see the pre-batch state), then TTL refreshes, then writes."""
        items, spaces, vectors = self._collections()
        now = now_us()
        results: list[Result] = []
        refresh: dict[str, float] = {}
        gets = [op for op in plan.ops if isinstance(op, GetOp)]
        got = self._rows_by_id([item_id(op.namespace, op.key) for op in gets], documents=True) if gets else {}
        for op in plan.ops:
            if isinstance(op, GetOp):
                row = got.get(item_id(op.namespace, op.key))
                if row is not None and self._omit_expired and row.expired(now):
                    row = None
                results.append(row_to_item(row) if row else None)
                if row is not None and op.refresh_ttl:
                    self._mark_refresh(row, refresh)
            elif isinstance(op, SearchOp):
                found = self._search(op, qvecs.get(op.query) if op.query else None, now)
                results.append([row_to_item(r, score=s, search=True) for r, s in found])
                if op.refresh_ttl:
                    for r, _ in found:
                        self._mark_refresh(r, refresh)
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op, now))
            else:
                results.append(None)
        if refresh:
            ids = list(refresh)
            metas = [{"_exp": now + int(refresh[i] * 60_000_000)} for i in ids]
            with self._guard("refreshing TTLs"):
                items.update(ids=ids, metadatas=metas)
        if plan.puts:
            self._write(plan, docs, now, items, spaces, vectors)
        return results

    def _mark_refresh(self, row: Row, refresh: dict[str, float]) -> None:
        # As SqliteStore and PostgresStore: reads refresh TTLs only when the store's ttl config sets
        # refresh_on_read (TTLConfig's docstring says it defaults to True; the stores do not).
        ttl = row.metadata.get("_ttl")
        if ttl is not None and self.ttl_config and self.ttl_config.get("refresh_on_read", False):
            refresh[row.id] = float(ttl)

    @property
    def _omit_expired(self) -> bool:
        return bool(self.ttl_config and self.ttl_config.get("omit_expired"))

    # -- reads -----------------------------------------------------------------------------------

    def _rows_by_id(self, ids: Sequence[str], *, documents: bool) -> dict[str, Row]:
        items = self._collections()[0]
        include: list[Any] = ["metadatas", "documents"] if documents else ["metadatas"]
        out: dict[str, Row] = {}
        with self._guard("reading items"):
            for chunk in chunks(list(dict.fromkeys(ids))):
                res = items.get(ids=list(chunk), include=include)
                docs = res.get("documents") or [None] * len(res["ids"])
                for rid, meta, doc in zip(res["ids"], res["metadatas"] or [], docs, strict=True):
                    out[rid] = Row(rid, meta, doc)
        return out

    def _existing(self, ids: Sequence[str]) -> dict[str, Row]:
        """Metadata of the items among ``ids`` that exist; a cheap id-only probe first, since a fresh
        load has none and reading full metadata costs far more than asking which ids exist."""
        items = self._collections()[0]
        found: list[str] = []
        with self._guard("reading items"):
            for chunk in chunks(list(dict.fromkeys(ids))):
                found.extend(items.get(ids=list(chunk), include=[])["ids"])
        return self._rows_by_id(found, documents=False) if found else {}

    def _rows_where(self, conditions: list[dict[str, Any]], *, documents: bool) -> list[Row]:
        items = self._collections()[0]
        include: list[Any] = ["metadatas", "documents"] if documents else ["metadatas"]
        with self._guard("searching items"):
            res = items.get(where=and_(conditions), include=include)
        docs = res.get("documents") or [None] * len(res["ids"])
        return [Row(i, m, d) for i, m, d in zip(res["ids"], res["metadatas"] or [], docs, strict=True)]

    def _namespace_order(self, rows: Iterable[Row]) -> dict[str, int]:
        spaces = self._collections()[1]
        names = {r.metadata["_ns"]: namespace_id(r.namespace) for r in rows}
        if not names:
            return {}
        with self._guard("reading namespaces"):
            res = spaces.get(ids=list(names.values()), include=["metadatas"])
        return {str(m["_ns"]): int(m["_seq"]) for m in res["metadatas"] or []}

    def _sorted(self, rows: list[Row]) -> list[Row]:
        """``InMemoryStore``'s order: namespaces by first write, then keys by first write."""
        ns_order = self._namespace_order(rows)
        return sorted(rows, key=lambda r: (ns_order.get(str(r.metadata["_ns"]), 0), r.order))

    def _candidates(self, op: SearchOp, now: int, *, documents: bool) -> list[Row]:
        """Items under the prefix that match the filter exactly, in insertion order."""
        conditions = prefix_conditions(op.namespace_prefix)
        if self._omit_expired:
            conditions.append({"_exp": {"$gt": now}})
        pushed = pushdown(op.filter)
        if pushed:
            conditions.append({"$or": [and_(pushed), {PARTIAL: {"$eq": True}}]})
        exact = is_exact(op.filter)
        # An exact pushdown leaves only the `_partial` rows to check, so values are read for those alone.
        rows = self._rows_where(conditions, documents=documents or not exact)
        if op.filter:
            check = [r for r in rows if not exact or r.metadata.get(PARTIAL)]
            keep = {r.id for r in self._with_documents(check) if matches(r.value, op.filter)}
            rows = [r for r in rows if r.id in keep or (exact and not r.metadata.get(PARTIAL))]
        return self._sorted(rows)

    def _search(self, op: SearchOp, query: list[float] | None, now: int) -> list[tuple[Row, float | None]]:
        if query is None:
            rows = self._candidates(op, now, documents=False)[op.offset : op.offset + op.limit]
            return [(r, None) for r in self._with_documents(rows)]
        if op.filter or self._omit_expired:
            candidates = self._candidates(op, now, documents=True)
            scores = self._scores_for(candidates, query)
        else:
            scores, candidates = self._nearest(op, query)
        ranked = sorted((r for r in candidates if r.id in scores), key=lambda r: (-scores[r.id], r.order))
        kept: list[tuple[Row, float | None]] = [(r, scores[r.id]) for r in ranked[op.offset : op.offset + op.limit]]
        if len(kept) < op.limit:
            # As InMemoryStore: fill up with items that have no vectors (index=False, missing fields).
            scoreless = [r for r in candidates if r.id not in scores]
            if not (op.filter or self._omit_expired):
                scoreless = self._unembedded(op)
            kept.extend((r, None) for r in scoreless[: op.limit - len(kept)])
        return list(zip(self._with_documents([r for r, _ in kept]), [s for _, s in kept], strict=True))

    def _with_documents(self, rows: list[Row]) -> list[Row]:
        missing = [r.id for r in rows if r.document is None]
        if not missing:
            return rows
        full = self._rows_by_id(missing, documents=True)
        return [full.get(r.id, r) if r.document is None else r for r in rows]

    def _scores_for(self, rows: list[Row], query: list[float]) -> dict[str, float]:
        """Exact max-pooled cosine similarity of each row that has vectors."""
        vectors = self._collections()[2]
        if vectors is None or not rows:
            return {}
        best: dict[str, float] = {}
        with self._guard("reading vectors"):
            for chunk in chunks([r.id for r in rows if r.metadata.get("_vec")]):
                res = vectors.get(where={"_item": {"$in": list(chunk)}}, include=["embeddings", "metadatas"])
                if not res["ids"]:
                    continue
                sims = cosine(query, res["embeddings"])
                for meta, sim in zip(res["metadatas"] or [], sims, strict=True):
                    owner = str(meta["_item"])
                    best[owner] = max(sim, best.get(owner, -2.0))
        return best

    def _nearest(self, op: SearchOp, query: list[float]) -> tuple[dict[str, float], list[Row]]:
        """Nearest items by Chroma's ANN index, widened until ``offset + limit`` distinct items."""
        vectors = self._collections()[2]
        assert vectors is not None
        want = max(op.offset + op.limit, 1)
        n = max(want * 4, 16)
        where = and_(prefix_conditions(op.namespace_prefix))
        while True:
            with self._guard("querying vectors"):
                res = vectors.query(
                    query_embeddings=[query], n_results=n, where=where, include=["embeddings", "metadatas"]
                )
            metas = (res["metadatas"] or [[]])[0]
            embeddings = (res["embeddings"] or [[]])[0]
            best: dict[str, float] = {}
            if len(metas):
                for meta, sim in zip(metas, cosine(query, embeddings), strict=True):
                    owner = str(meta["_item"])
                    best[owner] = max(sim, best.get(owner, -2.0))
            if len(best) >= want or len(metas) < n:
                break
            n *= 4
        rows = list(self._rows_by_id(list(best), documents=False).values())
        return {r.id: best[r.id] for r in rows}, self._sorted(rows)

    def _unembedded(self, op: SearchOp) -> list[Row]:
        conditions = [*prefix_conditions(op.namespace_prefix), {"_vec": {"$eq": False}}]
        return self._sorted(self._rows_where(conditions, documents=False))

    def _list_namespaces(self, op: ListNamespacesOp, now: int) -> list[tuple[str, ...]]:
        items, spaces, _ = self._collections()
        with self._guard("listing namespaces"):
            res = spaces.get(include=["metadatas"])
        known = [tuple(str(m["_ns"]).split(".")) for m in res["metadatas"] or []]
        conditions = op.match_conditions or ()
        wanted = [ns for ns in known if all(namespace_matches(c, ns) for c in conditions)]
        alive: list[tuple[str, ...]] = []
        with self._guard("listing namespaces"):
            for ns in wanted:
                where: list[dict[str, Any]] = [{"_ns": {"$eq": ".".join(ns)}}]
                if self._omit_expired:
                    where.append({"_exp": {"$gt": now}})
                if items.get(where=and_(where), limit=1, include=[])["ids"]:
                    alive.append(ns)
        found = sorted({ns[: op.max_depth] for ns in alive}) if op.max_depth is not None else sorted(alive)
        return found[op.offset : op.offset + op.limit]

    # -- writes ----------------------------------------------------------------------------------

    def _write(
        self,
        plan: Plan,
        docs: Vectors,
        now: int,
        items: Collection,
        spaces: Collection,
        vectors: Collection | None,
    ) -> None:
        """Upserts first and deletions last, so that a failure part-way loses nothing stored before."""
        previous = self._existing([item_id(ns, key) for ns, key in plan.puts])
        writes = [(target, op) for target, op in plan.puts.items() if op.value is not None]
        deletes = [item_id(ns, key) for (ns, key), op in plan.puts.items() if op.value is None]
        # Register every namespace a put or delete touches: InMemoryStore orders namespaces by first
        # touch, deletes included. `add` keeps an existing record as is: the first writer's sequence wins.
        # Registry records are never removed, so the ones this process saw need no second write.
        touched = [ns for ns in dict.fromkeys(ns for ns, _ in plan.puts) if ns not in self._registered]
        if touched:
            ns_ids = [namespace_id(ns) for ns in touched]
            with self._guard("registering namespaces"):
                spaces.add(
                    ids=ns_ids,
                    embeddings=[dummy_embedding(i) for i in ns_ids],
                    metadatas=[{**namespace_fields(ns), "_seq": next_seq()} for ns in touched],
                )
            self._registered.update(touched)
        if writes:
            ids, metas, documents = [], [], []
            for target, op in writes:
                rid = item_id(*target)
                prev = previous.get(rid)
                ids.append(rid)
                metas.append(
                    item_metadata(
                        op,
                        cast(Mapping[str, Any], op.value),
                        now=now,
                        previous=prev.metadata if prev else None,
                        has_vectors=bool(plan.paths.get(target)),
                    )
                )
                documents.append(plan.documents[target])
            with self._guard("writing items"):
                for lo in range(0, len(ids), CHUNK):
                    hi = lo + CHUNK
                    items.upsert(
                        ids=ids[lo:hi],
                        embeddings=[dummy_embedding(i) for i in ids[lo:hi]],
                        metadatas=metas[lo:hi],
                        documents=documents[lo:hi],
                    )
        if vectors is not None:
            self._write_vectors(plan, docs, writes, deletes, vectors)
        if deletes:
            with self._guard("deleting items"):
                for chunk in chunks(deletes):
                    items.delete(ids=list(chunk))

    @staticmethod
    def _vector_records(
        plan: Plan, docs: Vectors, writes: list[tuple[tuple[tuple[str, ...], str], PutOp]]
    ) -> tuple[list[str], list[list[float]], list[dict[str, Any]]]:
        ids: list[str] = []
        embeddings: list[list[float]] = []
        metas: list[dict[str, Any]] = []
        for target, op in writes:
            owner = item_id(*target)
            for path, text in plan.paths.get(target, []):
                ids.append(vector_id(owner, path))
                embeddings.append(list(docs[text]))
                metas.append({**namespace_fields(op.namespace), "_item": owner, "_path": path})
        return ids, embeddings, metas

    def _write_vectors(
        self,
        plan: Plan,
        docs: Vectors,
        writes: list[tuple[tuple[tuple[str, ...], str], PutOp]],
        deletes: list[str],
        vectors: Collection,
    ) -> None:
        ids, embeddings, metas = self._vector_records(plan, docs, writes)
        # Every rewritten or deleted item drops the vectors it had before and not now.
        owners = [item_id(*target) for target, _ in writes] + deletes
        with self._guard("writing vectors"):
            old: set[str] = set()
            for chunk in chunks(owners):
                old.update(vectors.get(where={"_item": {"$in": list(chunk)}}, include=[])["ids"])
            for lo in range(0, len(ids), CHUNK):
                vectors.upsert(
                    ids=ids[lo : lo + CHUNK],
                    embeddings=embeddings[lo : lo + CHUNK],
                    metadatas=metas[lo : lo + CHUNK],
                )
            stale = sorted(old - set(ids))
            for chunk in chunks(stale):
                vectors.delete(ids=list(chunk))

    # -- TTL -------------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete expired items now; returns how many were deleted."""
        return self._sweep()

    async def asweep_ttl(self) -> int:
        """Async :meth:`sweep_ttl`."""
        return await asyncio.to_thread(self._sweep)

    def _sweep(self) -> int:
        items, _, vectors = self._collections()
        now = now_us()
        with self._guard("sweeping expired items"):
            expired = items.get(where={"_exp": {"$lte": now}}, include=[])["ids"]
            if not expired:
                return 0
            # Deleting by condition keeps an item that a concurrent read refreshed meanwhile.
            items.delete(ids=expired, where={"_exp": {"$lte": now}})
            alive = set(items.get(ids=expired, include=[])["ids"])
            gone = [i for i in expired if i not in alive]
            if vectors is not None:
                for chunk in chunks(gone):
                    vectors.delete(where={"_item": {"$in": list(chunk)}})
        return len(gone)

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> concurrent.futures.Future[None]:
        """Sweep expired items in a daemon thread every ``sweep_interval_minutes`` (from ``ttl`` config
        or 5). Returns a future that completes when :meth:`stop_ttl_sweeper` stops the thread."""
        if not self.ttl_config:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        interval = float(sweep_interval_minutes or self.ttl_config.get("sweep_interval_minutes") or 5)
        return self._sweeper.start(interval)

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; ``False`` if it did not stop within ``timeout`` seconds."""
        return self._sweeper.stop(timeout)
