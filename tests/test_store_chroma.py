"""ChromaStore beyond the shared contract: persistence, a real Chroma server, failures, TTL, API parity."""

from __future__ import annotations

import contextlib
import inspect
import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.errors import ChromaError
from langgraph.store.base import BaseStore, PutOp

from memcollab_langgraph import ChromaStore, ConfigurationError, StoreError
from memcollab_langgraph.testing import FakeEmbeddings


def _run(code: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_path_mode_persists_across_processes(tmp_path: Path) -> None:
    writer = """
        import sys
        from memcollab_langgraph import ChromaStore
        from memcollab_langgraph.testing import FakeEmbeddings
        index = {"dims": 32, "embed": FakeEmbeddings(size=32), "fields": ["t"]}
        store = ChromaStore(path=sys.argv[1], index=index)
        for i in range(20):
            store.put(("proc", str(i % 2)), f"k{i}", {"t": f"note number {i}", "i": i, "uni": "ключ"})
        store.delete(("proc", "0"), "k0")
    """
    reader = """
        import json, sys
        from memcollab_langgraph import ChromaStore
        from memcollab_langgraph.testing import FakeEmbeddings
        index = {"dims": 32, "embed": FakeEmbeddings(size=32), "fields": ["t"]}
        store = ChromaStore(path=sys.argv[1], index=index)
        items = store.search(("proc",), limit=100)
        hits = store.search(("proc",), query="note number 7", limit=1)
        print(json.dumps({"keys": sorted(i.key for i in items), "top": hits[0].key,
                          "ns": store.list_namespaces(), "uni": items[0].value["uni"]}))
    """
    _run(writer, str(tmp_path))
    seen = json.loads(_run(reader, str(tmp_path)))
    assert seen["keys"] == sorted(f"k{i}" for i in range(1, 20))
    assert seen["top"] == "k7"
    assert seen["ns"] == [["proc", "0"], ["proc", "1"]]
    assert seen["uni"] == "ключ"


def test_reopening_with_other_dims_is_a_clear_error(tmp_path: Path) -> None:
    ChromaStore(path=tmp_path, index={"dims": 8, "embed": FakeEmbeddings(size=8)}).put(("a",), "k", {"x": "y"})
    other = ChromaStore(path=tmp_path, index={"dims": 16, "embed": FakeEmbeddings(size=16)})
    with pytest.raises(ConfigurationError, match=r"8-dimensional.*index\['dims'\] is 16"):
        other.get(("a",), "k")


def test_constructor_does_no_io(tmp_path: Path) -> None:
    target = tmp_path / "never-created"
    ChromaStore(path=target)
    assert not target.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"index": {"dims": 0, "embed": FakeEmbeddings()}}, r"dims.*positive int, got 0"),
        ({"index": {"dims": 8}}, r"index\['embed'\] is required"),
        ({"index": {"dims": 8, "embed": FakeEmbeddings(size=8), "distance_type": "l2"}}, "'l2'"),
        ({"path": "x", "client": object()}, r"only one of path=.*\['path', 'client'\]"),
        ({"url": "127.0.0.1:8000"}, "must look like 'http://127.0.0.1:8000'"),
        ({"url": "http://localhost:99999"}, "invalid port"),
    ],
)
def test_bad_configuration_names_the_value(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ChromaStore(**kwargs)


def test_non_json_value_is_rejected_before_any_write() -> None:
    store = ChromaStore()
    store.put(("a",), "kept", {"v": 1})
    with pytest.raises(ConfigurationError, match=r"'bad'.*not JSON-serializable"):
        store.put(("a",), "bad", {"when": object()})
    assert store.get(("a",), "kept").value == {"v": 1}
    assert store.get(("a",), "bad") is None


class _Exploding:
    """Wraps a Chroma collection and fails on one method, like a backend that dies mid-batch."""

    def __init__(self, inner: Any, method: str) -> None:
        self._inner, self._method = inner, method

    def __getattr__(self, name: str) -> Any:
        if name == self._method:

            def fail(**_: Any) -> None:
                raise ChromaError("disk I/O error")

            return fail
        return getattr(self._inner, name)


@pytest.mark.parametrize("method", ["upsert", "delete", "get"])
def test_backend_failure_is_wrapped_and_loses_nothing(method: str) -> None:
    store = ChromaStore()
    store.put(("a",), "k1", {"v": 1})
    store.put(("a",), "k2", {"v": 2})
    items, spaces, vectors = store._collections()
    store._cols = (_Exploding(items, method), spaces, vectors)
    with pytest.raises(StoreError, match="disk I/O error") as info:
        store.batch([PutOp(("a",), "k1", {"v": 10}), PutOp(("a",), "k2", None)])
    assert isinstance(info.value.__cause__, ChromaError)
    store._cols = (items, spaces, vectors)
    survivors = {i.key: i.value for i in store.search(("a",))}
    assert survivors.get("k2") == {"v": 2}, "a failed batch must not have deleted anything"
    assert survivors["k1"] in ({"v": 1}, {"v": 10})


@pytest.mark.integration
def test_a_server_that_goes_away_raises_store_error(tmp_path: Path) -> None:
    with _serve(tmp_path) as port:
        store = ChromaStore(client=chromadb.HttpClient(host="127.0.0.1", port=port))
        store.put(("a",), "k", {"v": 1})
    with pytest.raises(StoreError, match="Chroma failed") as info:
        store.put(("a",), "k2", {"v": 2})
    assert info.value.__cause__ is not None


def test_ttl_sweep_refresh_and_omit_expired() -> None:
    store = ChromaStore(ttl={"default_ttl": 1 / 60, "refresh_on_read": True})
    store.put(("t",), "short", {"v": 1})
    store.put(("t",), "forever", {"v": 2}, ttl=None)
    time.sleep(0.6)
    assert store.get(("t",), "short") is not None  # read refreshes: expires 1 s from now
    time.sleep(0.6)
    assert store.sweep_ttl() == 0
    time.sleep(1.2)
    # expired but not yet swept: still visible by default (and a read without refresh keeps it expired)
    assert len(store.search(("t",), limit=10, refresh_ttl=False)) == 2
    assert store.sweep_ttl() == 1
    assert [i.key for i in store.search(("t",))] == ["forever"]

    hidden = ChromaStore(ttl={"default_ttl": 1 / 120, "omit_expired": True})
    hidden.put(("t",), "gone", {"v": 1})
    hidden.put(("t",), "stays", {"v": 1}, ttl=None)
    time.sleep(0.8)
    assert hidden.get(("t",), "gone") is None
    assert [i.key for i in hidden.search(("t",))] == ["stays"]
    assert hidden.list_namespaces() == [("t",)]


def test_sweeper_thread_stops_cleanly() -> None:
    store = ChromaStore(ttl={"default_ttl": 1 / 600, "sweep_interval_minutes": 1 / 300})
    store.put(("t",), "k", {"v": 1})
    future = store.start_ttl_sweeper()
    deadline = time.monotonic() + 10
    while store.get(("t",), "k", refresh_ttl=False) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.get(("t",), "k") is None, "the sweeper deleted the expired item"
    assert store.stop_ttl_sweeper(timeout=5)
    assert future.result(timeout=5) is None


def test_every_public_method_has_an_async_twin_with_the_same_signature() -> None:
    public = {n for n in dir(ChromaStore) if not n.startswith("_") and callable(getattr(ChromaStore, n))}
    sync = {n for n in public if not n.startswith("a") or n[1:] not in public}
    for name in sorted(sync & {"batch", "get", "put", "delete", "search", "list_namespaces", "sweep_ttl"}):
        twin = getattr(ChromaStore, "a" + name)
        assert inspect.iscoroutinefunction(twin), name
        assert list(inspect.signature(twin).parameters) == list(
            inspect.signature(getattr(ChromaStore, name)).parameters
        ), name


def test_is_a_base_store_and_exported() -> None:
    assert issubclass(ChromaStore, BaseStore)
    assert ChromaStore.supports_ttl


# -- a real Chroma server on loopback, shared by two writer processes ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serve(data: Path) -> Iterator[int]:
    """Run `chroma run` on a free loopback port until the block ends."""
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        pytest.fail(f"the chroma CLI is missing at {chroma}; it ships with the chromadb package")
    port = _free_port()
    log_path = data / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
                    break
                except Exception:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        raise RuntimeError(f"chroma did not start: {log_path.read_text()}") from None
                    time.sleep(0.3)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with _serve(tmp_path_factory.mktemp("chroma-server")) as port:
        yield port


WRITER = """
    import sys, chromadb
    from memcollab_langgraph import ChromaStore
    port, who, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = ChromaStore(client=chromadb.HttpClient(host="127.0.0.1", port=port), collection_name="shared")
    for i in range(0, n, 10):
        for j in range(i, min(i + 10, n)):
            store.put(("team", who), f"{who}-{j}", {"writer": who, "i": j, "shared": {"n": j % 3}})
        store.put(("team", "common"), f"{who}-{i}", {"writer": who})
    print("done")
"""


@pytest.mark.integration
def test_two_processes_write_concurrently_through_a_chroma_server(chroma_server: int) -> None:
    n = 120
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(chroma_server), who, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("alpha", "beta")
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    store = ChromaStore(client=chromadb.HttpClient(host="127.0.0.1", port=chroma_server), collection_name="shared")
    assert ChromaStore(url=f"http://127.0.0.1:{chroma_server}", collection_name="shared").get(
        ("team", "alpha"), "alpha-0"
    ).value == {"writer": "alpha", "i": 0, "shared": {"n": 0}}
    for who in ("alpha", "beta"):
        items = store.search(("team", who), limit=1000)
        assert sorted(i.value["i"] for i in items) == list(range(n)), f"lost writes of {who}"
        assert {i.value["writer"] for i in items} == {who}
        for j in range(n):
            assert store.get(("team", who), f"{who}-{j}").value["i"] == j
    assert len(store.search(("team", "common"), limit=1000)) == 2 * (n // 10)
    assert len(store.search(("team",), filter={"shared": {"n": 1}}, limit=1000)) == 2 * 40
    assert store.list_namespaces(prefix=("team",)) == [
        ("team", "alpha"),
        ("team", "beta"),
        ("team", "common"),
    ]
