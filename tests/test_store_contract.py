"""The BaseStore contract, run against InMemoryStore (the oracle) and ChromaStore, sync and async.

Each case is written once as a coroutine over a ``Driver`` that calls either the sync methods (in a
worker thread, as LangGraph runs sync nodes) or the async ones, so both paths are held to the same
expectations.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import random
from collections.abc import Callable
from typing import Any

import pytest
from langgraph.store.base import BaseStore, GetOp, InvalidNamespaceError, PutOp, SearchOp

from memcollab_langgraph.testing import FakeEmbeddings

StoreFactory = Callable[..., BaseStore]


class Driver:
    """Calls a store through its sync or its async API with one signature."""

    def __init__(self, store: BaseStore, mode: str) -> None:
        self.store, self.mode = store, mode

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "async":
            return await getattr(self.store, "a" + name)(*args, **kwargs)
        return await asyncio.to_thread(getattr(self.store, name), *args, **kwargs)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def drive(store: BaseStore, mode: str) -> Driver:
    return Driver(store, mode)


def is_oracle(store: BaseStore) -> bool:
    return type(store).__name__ == "InMemoryStore"


def keys(items: list[Any]) -> list[str]:
    return [i.key for i in items]


async def test_put_get_update_delete(drive: Driver) -> None:
    ns = ("users", "ada")
    assert await drive("get", ns, "missing") is None
    await drive("put", ns, "k", {"a": 1})
    first = await drive("get", ns, "k")
    assert first.value == {"a": 1}
    assert first.namespace == ns
    assert first.key == "k"
    await drive("put", ns, "k", {"a": 2, "b": [1, {"c": None}]})
    second = await drive("get", ns, "k")
    assert second.value == {"a": 2, "b": [1, {"c": None}]}
    assert second.updated_at >= first.updated_at
    await drive("delete", ns, "k")
    assert await drive("get", ns, "k") is None
    assert await drive("search", ns) == []


async def test_values_roundtrip_unicode_and_a_megabyte(drive: Driver) -> None:
    values = {
        "unicode": {"text": "这是中文 — emoji 🧠, RTL עברית", "ключ": "значение"},
        "big": {"blob": "x" * 1_000_000, "n": 1},
        "types": {"t": True, "f": False, "none": None, "float": 1.5, "neg": -3, "list": [[], {}, ""]},
    }
    for key, value in values.items():
        await drive("put", ("docs",), key, value)
    for key, value in values.items():
        assert (await drive("get", ("docs",), key)).value == value


FILTER_VALUES: list[dict[str, Any]] = [
    {"name": "a", "n": 1, "flag": True, "tags": ["x", "y"], "meta": {"lvl": 3, "who": "ann"}},
    {"name": "b", "n": 2.5, "flag": False, "tags": ["x"], "meta": {"lvl": 1}},
    {"name": "c", "n": "7", "flag": 1, "meta": {"lvl": 3, "who": "bob"}},
    {"name": "d", "n": None, "tags": [], "meta": "flat"},
    {"name": "e", "n": 0, "flag": None, "tags": ["y", "x"], "meta": {"lvl": 2, "deep": {"z": 1}}},
]

FILTERS: list[dict[str, Any]] = [
    {"name": "a"},
    {"name": {"$ne": "a"}},
    {"n": 1},
    {"n": 1.0},
    {"n": "7"},
    {"flag": True},
    {"flag": 1},
    {"flag": False},
    {"flag": None},
    {"flag": {"$ne": None}},
    {"tags": ["x", "y"]},
    {"tags": []},
    {"meta": {"lvl": 3}},
    {"meta": {"lvl": 3, "who": "bob"}},
    {"meta": "flat"},
    {"meta": {"deep": {"z": 1}}},
    {"missing": None},
    {"missing": {"$ne": 1}},
    {"name": {"$eq": "e"}, "meta": {"lvl": {"$gte": 2}}},
]


# InMemoryStore raises TypeError when a range operator meets None or a missing key; SQLite and
# Postgres treat that as no match, and so do we (docs/store.md). These expectations are written out.
RANGE_FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({"n": {"$gt": 1}}, ["c", "b"]),  # "7" counts as 7 (float("7")), None does not match
    ({"n": {"$gte": 2.5, "$lt": 10}}, ["c", "b"]),
    ({"n": {"$lte": 0}}, ["e"]),
    ({"n": {"$lt": float("inf")}}, ["a", "c", "e", "b"]),
    ({"n": {"$eq": float("nan")}}, []),
    ({"meta.lvl": {"$gt": 1}}, ["a", "c", "e"]),
]


async def _filled(store_factory: StoreFactory, mode: str) -> Driver:
    store = Driver(store_factory(), mode)
    for i, value in enumerate(FILTER_VALUES):
        await store("put", ("f", str(i % 2)), value["name"], value)
    return store


@pytest.mark.parametrize("filter", FILTERS, ids=[repr(f) for f in FILTERS])
async def test_filters_agree_with_in_memory_store(
    store_factory: StoreFactory, mode: str, filter: dict[str, Any]
) -> None:
    store = await _filled(store_factory, mode)
    assert keys(await store("search", ("f",), filter=filter)) == _oracle_search(("f",), filter)


@pytest.mark.parametrize(("filter", "expected"), RANGE_FILTERS, ids=[repr(f) for f, _ in RANGE_FILTERS])
async def test_range_filters_skip_missing_and_non_numeric_values(
    store_factory: StoreFactory, mode: str, filter: dict[str, Any], expected: list[str]
) -> None:
    store = await _filled(store_factory, mode)
    if is_oracle(store.store):
        pytest.skip("InMemoryStore raises TypeError on these (documented difference)")
    assert keys(await store("search", ("f",), filter=filter)) == expected


def _oracle_search(prefix: tuple[str, ...], filter: dict[str, Any]) -> list[str]:
    from langgraph.store.memory import InMemoryStore

    oracle = InMemoryStore()
    for i, value in enumerate(FILTER_VALUES):
        oracle.put(("f", str(i % 2)), value["name"], value)
    return keys(oracle.search(prefix, filter=filter))


async def test_dotted_keys_address_nested_values(drive: Driver) -> None:
    await drive("put", ("d",), "nested", {"user": {"access-level": "x", "123abc": 5}})
    await drive("put", ("d",), "literal", {"user.access-level": "x"})
    found = keys(await drive("search", ("d",), filter={"user.access-level": "x"}))
    if is_oracle(drive.store):
        assert found == ["literal"]  # InMemoryStore only knows literal keys (see docs/store.md)
    else:
        assert found == ["nested", "literal"]
        assert keys(await drive("search", ("d",), filter={"user.123abc": {"$gt": 4}})) == ["nested"]


async def test_pagination_and_prefixes(drive: Driver) -> None:
    for i in range(7):
        await drive("put", ("p", "x" if i % 2 else "y"), f"k{i}", {"i": i})
    everything = await drive("search", ("p",), limit=100)
    assert len(everything) == 7
    pages = [keys(await drive("search", ("p",), limit=3, offset=o)) for o in (0, 3, 6)]
    assert functools.reduce(operator.iadd, pages, []) == keys(everything)
    assert keys(await drive("search", ("p", "x"))) == ["k1", "k3", "k5"]
    if not is_oracle(drive.store):  # SqliteStore's suite passes lists; InMemoryStore then finds nothing
        assert keys(await drive("search", ["p", "x"])) == ["k1", "k3", "k5"]
    assert await drive("search", ("nope",)) == []
    assert len(await drive("search", ())) == 7


async def test_list_namespaces(drive: Driver) -> None:
    spaces = [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("x", "b", "c"), ("x",)]
    for ns in spaces:
        await drive("put", ns, "k", {"v": 1})
    assert await drive("list_namespaces") == sorted(spaces)
    assert await drive("list_namespaces", prefix=("a",)) == [("a", "b", "c"), ("a", "b", "d"), ("a", "e")]
    assert await drive("list_namespaces", suffix=("c",)) == [("a", "b", "c"), ("x", "b", "c")]
    assert await drive("list_namespaces", prefix=("*", "b")) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("x", "b", "c"),
    ]
    assert await drive("list_namespaces", max_depth=2) == [("a", "b"), ("a", "e"), ("x",), ("x", "b")]
    assert await drive("list_namespaces", limit=2, offset=1) == [("a", "b", "d"), ("a", "e")]


async def test_batch_semantics(store: BaseStore, mode: str) -> None:
    ns = ("b",)
    store.put(ns, "old", {"v": 0})
    ops = [
        GetOp(ns, "old"),
        PutOp(ns, "old", {"v": 1}),
        PutOp(ns, "new", {"v": 1}),
        PutOp(ns, "new", {"v": 2}),  # last write wins
        GetOp(ns, "old"),  # reads see the state before the batch
        SearchOp(ns),
        PutOp(ns, "gone", None),
    ]
    results = await store.abatch(ops) if mode == "async" else store.batch(ops)
    assert results[0].value == {"v": 0}
    assert results[4].value == {"v": 0}
    assert keys(results[5]) == ["old"]
    assert [results[i] for i in (1, 2, 3, 6)] == [None] * 4
    assert store.get(ns, "new").value == {"v": 2}
    assert store.get(ns, "old").value == {"v": 1}


@pytest.mark.parametrize("bad", [("a.b",), ("a", ""), ("a", 1)])
async def test_invalid_namespaces_are_rejected_before_any_write(store: BaseStore, bad: tuple[Any, ...]) -> None:
    if is_oracle(store):
        pytest.skip("InMemoryStore.batch does not validate raw ops (SqliteStore's suite requires it)")
    store.put(("a", "b"), "k", {"original": True})
    with pytest.raises(InvalidNamespaceError, match="amespace"):
        store.batch([PutOp(("valid",), "k", {}), PutOp(bad, "k", {"changed": True})])
    assert store.get(("a", "b"), "k").value == {"original": True}
    assert store.get(("valid",), "k") is None


def test_invalid_filter_names_the_operator(store: BaseStore) -> None:
    store.put(("a",), "k", {"x": 1})
    with pytest.raises(ValueError, match=r"\$regex"):
        store.search(("a",), filter={"x": {"$regex": "1"}})


def _embedding_index(fields: list[str] | None = None) -> dict[str, Any]:
    return {"dims": 64, "embed": FakeEmbeddings(size=64), "fields": fields or ["text"]}


async def test_semantic_search_scores_match_the_oracle(store_factory: StoreFactory, mode: str) -> None:
    from langgraph.store.memory import InMemoryStore

    docs = {
        "py": "python programming language tutorial",
        "ts": "typescript web programming guide",
        "cook": "cooking pasta with tomato sauce",
        "bake": "baking bread and pasta dough",
        "none": None,
    }
    store = Driver(store_factory(index=_embedding_index()), mode)
    oracle = InMemoryStore(index=_embedding_index())  # type: ignore[arg-type]
    for key, text in docs.items():
        value = {"text": text} if text else {"other": "no text field"}
        await store("put", ("docs",), key, value)
        oracle.put(("docs",), key, value)
    for query in ("python tutorial", "pasta sauce", "bread"):
        got = await store("search", ("docs",), query=query, limit=10)
        want = oracle.search(("docs",), query=query, limit=10)
        assert keys(got) == keys(want)
        assert [g.score for g in got] == pytest.approx([w.score for w in want], abs=1e-6)
        assert got[0].score > got[-2].score  # ranked by similarity, not stored order
        assert got[-1].key == "none"
        assert got[-1].score is None
    got = await store("search", ("docs",), query="pasta", filter={"text": {"$ne": "x"}}, limit=2, offset=1)
    want = oracle.search(("docs",), query="pasta", filter={"text": {"$ne": "x"}}, limit=2, offset=1)
    assert keys(got) == keys(want)


async def test_reindex_on_update_and_index_false(store_factory: StoreFactory, mode: str) -> None:
    store = Driver(store_factory(index=_embedding_index()), mode)
    await store("put", ("d",), "a", {"text": "apples and pears"})
    await store("put", ("d",), "b", {"text": "rockets and planets"})
    await store("put", ("d",), "a", {"text": "space rockets launch"})
    top = await store("search", ("d",), query="rockets launch", limit=1)
    assert keys(top) == ["a"]
    await store("put", ("d",), "c", {"text": "rockets launch"}, index=False)
    hits = await store("search", ("d",), query="rockets launch", limit=3)
    assert keys(hits)[-1] == "c"
    assert hits[-1].score is None


def _random_ops(rng: random.Random, n: int) -> list[tuple[str, tuple[Any, ...]]]:
    names, colors = ["a", "b", "c", "d"], ["red", "blue", "green"]
    ops: list[tuple[str, tuple[Any, ...]]] = []
    for _ in range(n):
        ns = ("r", rng.choice(names), *rng.choice([(), ("x",), ("y", "z")]))
        key = f"k{rng.randrange(12)}"
        roll = rng.random()
        if roll < 0.6:
            value = {
                "color": rng.choice(colors),
                "size": rng.choice([1, 2, 2.0, 3, "3", True, None]),
                "dims": {"w": rng.randrange(3), "h": rng.choice([1, "1", None])},
                "tags": rng.sample(colors, rng.randrange(3)),
            }
            ops.append(("put", (ns, key, value)))
        elif roll < 0.7:
            ops.append(("delete", (ns, key)))
        else:
            filter = rng.choice(
                [
                    None,
                    {"color": rng.choice(colors)},
                    {"size": rng.choice([1, 2, "3", True])},
                    {"size": {"$ne": 2}},
                    {"dims": {"w": rng.randrange(3)}},
                    {"tags": rng.sample(colors, 1)},
                    {"color": {"$ne": "red"}, "dims": {"h": 1}},
                ]
            )
            prefix = ns[: rng.randrange(1, len(ns) + 1)]
            ops.append(("search", (prefix, filter, rng.choice([3, 10, 100]), rng.choice([0, 0, 2]))))
    return ops


@pytest.mark.parametrize("seed", range(3))
def test_random_operations_agree_with_in_memory_store(store_factory: StoreFactory, seed: int) -> None:
    """Differential test: the same random ops give the same answers (order included) as the oracle."""
    from langgraph.store.memory import InMemoryStore

    store, oracle = store_factory(), InMemoryStore()
    for name, args in _random_ops(random.Random(seed), 250):
        if name == "search":
            prefix, filter, limit, offset = args
            got = store.search(prefix, filter=filter, limit=limit, offset=offset)
            want = oracle.search(prefix, filter=filter, limit=limit, offset=offset)
            assert [(i.namespace, i.key, i.value) for i in got] == [(i.namespace, i.key, i.value) for i in want]
        else:
            getattr(store, name)(*args)
            getattr(oracle, name)(*args)
    assert sorted((i.namespace, i.key) for i in store.search(("r",), limit=10_000)) == sorted(
        (i.namespace, i.key) for i in oracle.search(("r",), limit=10_000)
    )


async def test_concurrent_writers_in_one_process(drive: Driver) -> None:
    await asyncio.gather(*(drive("put", ("c", str(i % 3)), f"k{i}", {"i": i}) for i in range(60)))
    found = await drive("search", ("c",), limit=1000)
    assert sorted(i.value["i"] for i in found) == list(range(60))


async def test_filters_on_items_with_unflattenable_values(store_factory: StoreFactory, mode: str) -> None:
    """Items whose scalars cannot all be flattened (long strings, infinities) are checked in Python."""
    from langgraph.store.memory import InMemoryStore

    values = {
        "long-red": {"color": "red", "blob": "x" * 5000, "size": 5},
        "long-blue": {"color": "blue", "blob": "y" * 5000, "size": 1},
        "inf": {"color": "red", "size": float("inf")},
        "plain": {"color": "red", "size": 3},
    }
    store, oracle = Driver(store_factory(), mode), InMemoryStore()
    for key, value in values.items():
        await store("put", ("u",), key, value)
        oracle.put(("u",), key, value)
    for filter in ({"color": "red"}, {"color": "blue"}, {"blob": "x" * 5000}, {"size": {"$gt": 2}}):
        assert keys(await store("search", ("u",), filter=filter)) == keys(oracle.search(("u",), filter=filter))
