"""MemoryBank over every store kind (the ``store`` / ``store_factory`` fixtures from conftest)."""

from __future__ import annotations

import doctest
import inspect
import io
import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore, Result
from memory_data import (
    LINEAR,
    MATH,
    QUADRATICS,
    TOPICAL,
    TOPICS,
    TRIANGLES,
    StoreFactory,
    hit_ids,
    make,
)

import memcollab_langgraph.memory.bank as bank_module
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.schema import CategoryPath

# --- construction and layout -------------------------------------------------------------------------


def test_docstring_example_runs() -> None:
    result = doctest.testmod(bank_module)
    assert result.attempted > 0
    assert result.failed == 0


class ExplodingStore(BaseStore):
    def batch(self, ops: Any) -> list[Result]:
        raise AssertionError("the constructor must not touch the store")

    async def abatch(self, ops: Any) -> list[Result]:
        raise AssertionError("the constructor must not touch the store")


def test_constructor_does_no_io_and_validates_arguments(store: BaseStore) -> None:
    MemoryBank(ExplodingStore(), name="team-a", taxonomy="math", budget_per_category=3)
    with pytest.raises(ConfigurationError, match=r"bank name 'team\.a'.*'team-a'"):
        MemoryBank(store, name="team.a")
    with pytest.raises(ConfigurationError, match=r"budget_per_category.*got 0"):
        MemoryBank(store, budget_per_category=0)
    with pytest.raises(ConfigurationError, match=r"dedup_threshold.*got 1\.5"):
        MemoryBank(store, dedup_threshold=1.5)
    with pytest.raises(ConfigurationError, match=r"ranker='embedding' needs a store with a vector index"):
        MemoryBank(store, ranker="embedding")
    with pytest.raises(ConfigurationError, match=r"unknown ranker 'tfidf'"):
        MemoryBank(store, ranker="tfidf")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be a langgraph BaseStore, got dict"):
        MemoryBank({})  # type: ignore[arg-type]
    assert MemoryBank(store, ranker="auto").ranker == "bm25"


def test_namespace_layout_is_prefix_searchable(store: BaseStore) -> None:
    bank = MemoryBank(store, name="lab")
    leaf = bank.add(make("solving a linear equation", id="leaf"))
    top = bank.add(make("reading any math problem", path=MATH, id="top"))
    assert (leaf.action, top.action) == ("added", "added")
    exact = store.search(("memcollab", "lab", "constraints", "math", "algebra", "linear_equations"))
    assert [i.key for i in exact] == ["leaf"]
    assert [i.key for i in store.search(("memcollab", "lab", "constraints", "math", "_", "_"))] == ["top"]
    assert {i.key for i in store.search(("memcollab", "lab", "constraints", "math"))} == {"leaf", "top"}
    assert exact[0].value["kind"] == "constraint"
    assert exact[0].value["status"] == "candidate"
    assert store.search(("memcollab", "default")) == []


def test_add_and_get_round_trip(store: BaseStore) -> None:
    bank = MemoryBank(store)
    c = make("solving a linear equation", id="c1")
    out = bank.add(c)
    assert (out.action, out.id, out.incoming_id, out.status, out.support, out.version) == (
        "added",
        "c1",
        "c1",
        "candidate",
        1,
        1,
    )
    assert bank.get("c1") == c
    assert bank.get("nope") is None


def test_taxonomy_validates_categories_on_write_and_read(store: BaseStore) -> None:
    bank = MemoryBank(store, taxonomy="math")
    bad = make("x", path=CategoryPath(domain="math", category="algebra", subcategory="linear_eq"))
    with pytest.raises(ConfigurationError, match=r"unknown subcategory 'linear_eq'.*'linear_equations'"):
        bank.add(bad)
    with pytest.raises(ConfigurationError, match="unknown domain 'code'"):
        bank.query("code/strings", "reverse a string")
    assert bank.list_constraints() == []


# --- consolidation -----------------------------------------------------------------------------------


def test_exact_duplicate_merges_support_and_provenance(store: BaseStore) -> None:
    bank = MemoryBank(store)
    first = make("solving a linear equation", "isolate the variable", "dropping signs", id="a", task="t1")
    again = make(
        "Solving a LINEAR equation,",
        "isolate the variable.",
        "dropping  signs",
        id="b",
        task="t2",
        preferred="llama-8b",
    )
    assert first.fingerprint == again.fingerprint
    bank.add(first)
    out = bank.add(again)
    assert (out.action, out.id, out.incoming_id, out.similarity) == ("merged", "a", "b", 1.0)
    stored = bank.get("a")
    assert stored is not None
    assert (stored.support, stored.version, stored.status) == (2, 2, "validated")
    assert stored.provenance.source_task_ids == ["t1", "t2"]
    assert stored.provenance.models == ["llama-8b", "qwen-32b", "qwen-7b"]
    assert bank.get("b") is None
    assert [c.id for c in bank.list_constraints()] == ["a"]


def test_near_duplicate_merges_but_distinct_or_other_category_does_not(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add(
        make(
            "solving linear equations with fractions",
            "multiplying both sides by the common denominator first",
            "dropping the sign of negative terms",
            id="a",
        )
    )
    paraphrase = make(
        "solving a linear equation with fractions",
        "multiplying both sides by the common denominator first",
        "dropping the sign of a negative term",
        id="b",
        task="t2",
    )
    assert paraphrase.fingerprint != bank.get("a").fingerprint  # type: ignore[union-attr]
    out = bank.add(paraphrase)
    assert (out.action, out.id) == ("merged", "a")
    assert out.similarity is not None
    assert 0.75 <= out.similarity <= 1.0
    other = bank.add(make("checking a candidate solution", "substituting it back", "trusting algebra", id="c"))
    elsewhere = bank.add(
        make(
            "solving linear equations with fractions",
            "multiplying both sides by the common denominator first",
            "dropping the sign of negative terms",
            path=QUADRATICS,
            id="d",
        )
    )
    assert (other.action, elsewhere.action) == ("added", "added")
    assert bank.get("a").support == 2  # type: ignore[union-attr]


def test_dedup_threshold_is_configurable(store: BaseStore) -> None:
    bank = MemoryBank(store, dedup_threshold=1.0)
    bank.add(make("solving linear equations with fractions", id="a"))
    assert bank.add(make("solving linear equation having fractions", id="b")).action == "added"
    assert bank.add(make("solving  linear equations with fractions!", id="c", task="t2")).action == "merged"


def test_add_many_dedups_within_the_batch(store: BaseStore) -> None:
    bank = MemoryBank(store)
    outs = bank.add_many(
        [
            make("solving a linear equation", id="a"),
            make("solving linear equations", id="b", task="t2"),
            make("graphing", id="c"),
        ]
    )
    assert [(o.action, o.id) for o in outs] == [("added", "a"), ("merged", "a"), ("added", "c")]
    assert [o.support for o in outs] == [2, 2, 1]
    assert sorted(c.id for c in bank.list_constraints()) == ["a", "c"]


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        ({"unpreferred": "llama-8b"}, "candidate"),  # the losing side is not support
        ({"task": "t2"}, "validated"),  # a second task
        ({"preferred": "llama-8b"}, "validated"),  # a second model produced the preferred trajectory
    ],
)
def test_promotion_gate(store: BaseStore, second: dict[str, Any], expected: str) -> None:
    bank = MemoryBank(store)
    assert bank.add(make("solving a linear equation", id="a")).status == "candidate"
    out = bank.add(make("solving a linear equation", id="b", **second))
    assert (out.action, out.support, out.status) == ("merged", 2, expected)
    assert bank.get("a").status == expected  # type: ignore[union-attr]


def test_a_duplicate_with_no_new_evidence_leaves_the_entry_unchanged(store: BaseStore) -> None:
    """Re-running a distillation (a resumed build) must not inflate support: writes are idempotent."""
    bank = MemoryBank(store)
    bank.add(make("solving a linear equation", id="a"))
    again = bank.add(make("solving a linear equation", id="b"))
    assert (again.action, again.id, again.support, again.version) == ("unchanged", "a", 1, 1)
    assert [c.id for c in bank.list_constraints()] == ["a"]
    other_task = bank.add(make("solving a linear equation", id="c", task="t2"))
    assert (other_task.action, other_task.support) == ("merged", 2)


# --- budget -------------------------------------------------------------------------------------------


def test_budget_archives_the_lowest_value_entry_on_add(store: BaseStore) -> None:
    bank = MemoryBank(store, budget_per_category=2)
    bank.add(make(TOPICS[0], id="old", minute=1))
    bank.add(make(TOPICS[1], id="useful", minute=0))
    bank.record_outcome(["useful"], "qwen-7b", success=True)
    out = bank.add(make(TOPICS[2], id="new", minute=2))
    # "old" and "new" have no successes and support 1; "old" was reinforced longest ago.
    assert out.evicted == ["old"]
    assert out.status == "candidate"
    assert sorted(c.id for c in bank.list_constraints()) == ["new", "useful"]
    archived = bank.get("old")
    assert archived is not None
    assert (archived.status, archived.version) == ("archived", 2)
    assert [c.id for c in bank.list_constraints(statuses=["archived"])] == ["old"]
    # archived entries do not count: one more add evicts exactly one more entry
    assert bank.add(make(TOPICS[3], id="newer", minute=3)).evicted == ["new"]


def test_budget_prefers_support_over_recency(store: BaseStore) -> None:
    bank = MemoryBank(store, budget_per_category=2)
    bank.add(make(TOPICS[0], id="popular", minute=0))
    bank.add(make(TOPICS[0], id="dup", minute=0, task="t9"))
    bank.add(make(TOPICS[1], id="lonely", minute=5))
    out = bank.add(make(TOPICS[2], id="latest", minute=6))
    assert out.evicted == ["lonely"]


def test_budget_on_add_many_and_per_category(store: BaseStore) -> None:
    bank = MemoryBank(store, budget_per_category=2)
    outs = bank.add_many(
        [make(t, id=f"c{i}", minute=i) for i, t in enumerate(TOPICS[:4])]
        + [make("labelling a triangle", path=TRIANGLES, id="g")]
    )
    assert [o.status for o in outs] == ["archived", "archived", "candidate", "candidate", "candidate"]
    assert [o.evicted for o in outs] == [[], [], ["c0"], ["c1"], []]
    assert sorted(c.id for c in bank.list_constraints()) == ["c2", "c3", "g"]
    assert bank.stats().by_status == {"candidate": 3, "validated": 0, "archived": 2}


def test_budget_on_import(store_factory: StoreFactory, tmp_path: Path) -> None:
    source = MemoryBank(store_factory())
    source.add_many([make(t, id=f"c{i}", minute=i) for i, t in enumerate(TOPICS)])
    source.export_jsonl(tmp_path / "bank.jsonl")
    target = MemoryBank(store_factory(), budget_per_category=3)
    outs = target.import_jsonl(tmp_path / "bank.jsonl")
    assert [o.action for o in outs] == ["added"] * 5
    assert sorted(c.id for c in target.list_constraints()) == ["c2", "c3", "c4"]
    assert sorted(c.id for c in target.list_constraints(statuses=["archived"])) == ["c0", "c1"]


# --- supersede, archive, utility ----------------------------------------------------------------------


def test_supersede_archives_the_old_entry_with_a_pointer(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add(make("solving a linear equation", "isolating x", "sign slips", id="old"))
    edited = bank.get("old").model_copy(update={"enforce": "isolating the unknown one step at a time"})  # type: ignore[union-attr]
    out = bank.supersede("old", edited)
    assert out.action == "added"
    assert out.id != "old"
    old = bank.get("old")
    assert old is not None
    assert (old.status, old.superseded_by) == ("archived", out.id)
    assert hit_ids(bank.query(LINEAR, "solve 2x = 4")) == [out.id]
    with pytest.raises(ConfigurationError, match=f"already superseded by '{out.id}'"):
        bank.supersede("old", make("anything else", id="z"))
    with pytest.raises(ConfigurationError, match="cannot supersede 'ghost'"):
        bank.supersede("ghost", make("anything else", id="z"))


def test_archive_hides_from_queries(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add(make("solving a linear equation", id="a"))
    assert bank.archive("a").status == "archived"
    assert bank.query(LINEAR, "solve") == []
    assert hit_ids(bank.query(LINEAR, "solve", statuses=["archived"])) == ["a"]
    with pytest.raises(ConfigurationError, match="cannot archive 'ghost'"):
        bank.archive("ghost")


def test_record_outcome_counts_per_consumer_model(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add_many([make(TOPICS[0], id="a"), make(TOPICS[1], id="b")])
    bank.record_outcome(["a", "b", "a"], "qwen-7b", success=True)
    bank.record_outcome(["a"], "qwen-7b", success=False)
    updated = bank.record_outcome(["a"], "llama-8b", success=True)
    a, b = bank.get("a"), bank.get("b")
    assert a is not None
    assert b is not None
    assert updated == [a]
    assert {m: (u.uses, u.successes) for m, u in a.utility.items()} == {"qwen-7b": (2, 1), "llama-8b": (1, 1)}
    assert {m: (u.uses, u.successes) for m, u in b.utility.items()} == {"qwen-7b": (1, 1)}
    with pytest.raises(ConfigurationError, match=r"unknown constraint id\(s\) \['ghost'\]"):
        bank.record_outcome(["b", "ghost"], "qwen-7b", success=True)
    assert bank.get("b").utility["qwen-7b"].uses == 1  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="wrap it"):
        bank.record_outcome("a", "qwen-7b", success=True)


# --- export / import / stats --------------------------------------------------------------------------


def test_export_import_round_trip(store_factory: StoreFactory, tmp_path: Path) -> None:
    source = MemoryBank(store_factory(), name="src")
    source.add_many([make(t, id=f"c{i}", minute=i) for i, t in enumerate(TOPICS[:3])])
    source.add(make(TOPICS[0], id="dup", task="t2"))
    source.record_outcome(["c1"], "llama-8b", success=True)
    source.archive("c2")
    assert source.export_jsonl(tmp_path / "a.jsonl") == 3

    target = MemoryBank(store_factory(), name="dst")
    outs = target.import_jsonl(tmp_path / "a.jsonl")
    assert [o.action for o in outs] == ["added"] * 3
    every = ["candidate", "validated", "archived"]
    assert target.list_constraints(statuses=every) == source.list_constraints(statuses=every)  # type: ignore[arg-type]
    buffer = io.StringIO()
    target.export_jsonl(buffer)
    assert buffer.getvalue() == (tmp_path / "a.jsonl").read_text()
    # importing again changes nothing
    assert {o.action for o in target.import_jsonl(tmp_path / "a.jsonl")} == {"unchanged"}
    assert target.stats().model_dump(exclude={"bank"}) == source.stats().model_dump(exclude={"bank"})
    assert target.export_jsonl(tmp_path / "b.jsonl", include_archived=False) == 2


def test_import_reports_the_bad_line(store: BaseStore, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"kind": "constraint", "v": 1, "content": make("x").model_dump(mode="json")})
    path.write_text(good + "\n\n{not json\n")
    bank = MemoryBank(store)
    with pytest.raises(ConfigurationError, match=r"bad\.jsonl:3: not valid JSON"):
        bank.import_jsonl(path)
    path.write_text(json.dumps({"kind": "task", "v": 1, "content": {}}) + "\n")
    with pytest.raises(ConfigurationError, match=r"bad\.jsonl:1: stored value is not a 'constraint' record"):
        bank.import_jsonl(path)
    path.write_text(json.dumps({"kind": "constraint", "v": 1, "content": {"when": "x"}}) + "\n")
    with pytest.raises(ConfigurationError, match=r"bad\.jsonl:1: invalid constraint at 'enforce'"):
        bank.import_jsonl(path)
    assert bank.list_constraints() == []


def test_import_takes_hand_written_constraints(store: BaseStore, tmp_path: Path) -> None:
    path = tmp_path / "curated.jsonl"
    written = {
        "when": "a problem gives parts",
        "enforce": "add them",
        "avoid": "skipping one",
        "category": "math/algebra",
    }
    path.write_text(json.dumps(written) + "\n" + json.dumps({**written, "category": "math/nowhere"}) + "\n")
    bank = MemoryBank(store, taxonomy="math")
    with pytest.raises(ConfigurationError, match="nowhere"):
        bank.import_jsonl(path)
    assert bank.list_constraints() == []  # nothing of a file with a bad line is written
    path.write_text(json.dumps(written) + "\n")
    [outcome] = bank.import_jsonl(path)
    assert outcome.action == "added"
    [stored] = bank.list_constraints()
    assert (stored.text, str(stored.category)) == (
        "When a problem gives parts, enforce add them; avoid skipping one.",
        "math/algebra",
    )
    path.write_text(json.dumps({**written, "avoid": " "}) + "\n")
    with pytest.raises(ConfigurationError, match=r"curated\.jsonl:1: invalid constraint at 'avoid'"):
        bank.import_jsonl(path)
    path.write_text(json.dumps({**written, "when": ["a list"]}) + "\n")
    with pytest.raises(ConfigurationError, match=r"at 'when': Input should be a valid string \(got \['a list'\]\)"):
        bank.import_jsonl(path)


def test_id_reused_in_another_category_is_rejected(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add(make("solving a linear equation", id="same"))
    with pytest.raises(ConfigurationError, match=r"'same' already exists under category 'math/algebra/linear_eq"):
        bank.add(make("labelling a triangle", path=TRIANGLES, id="same"))


def test_stats_per_category_and_model(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add_many(
        [
            make(TOPICS[0], id="a"),
            make(TOPICS[0], id="a2", preferred="llama-8b", unpreferred="qwen-32b"),
            make(TOPICS[1], id="b"),
            make("labelling a triangle", path=TRIANGLES, id="g", preferred="llama-8b", unpreferred="qwen-7b"),
        ]
    )
    bank.archive("b")
    bank.record_outcome(["a", "g"], "qwen-7b", success=True)
    bank.record_outcome(["g"], "qwen-7b", success=False)
    stats = bank.stats()
    assert (stats.bank, stats.total) == ("default", 3)
    assert stats.by_status == {"candidate": 1, "validated": 1, "archived": 1}
    linear = stats.categories["math/algebra/linear_equations"]
    assert (linear.candidate, linear.validated, linear.archived, linear.support) == (0, 1, 1, 2)
    triangles = stats.categories["math/geometry/triangles"]
    assert (triangles.candidate, triangles.support, triangles.uses, triangles.successes) == (1, 1, 2, 1)
    assert {m: (s.constraints, s.preferred, s.support) for m, s in stats.models.items()} == {
        "llama-8b": (2, 2, 3),
        "qwen-32b": (1, 1, 2),
        "qwen-7b": (2, 0, 3),
    }
    assert {m: (u.uses, u.successes) for m, u in stats.consumers.items()} == {"qwen-7b": (3, 2)}


# --- sync / async parity ------------------------------------------------------------------------------


def test_every_public_method_has_an_async_twin_with_the_same_signature() -> None:
    names = {n for n, v in vars(MemoryBank).items() if not n.startswith("_") and inspect.isfunction(v)}
    sync = {n for n in names if not inspect.iscoroutinefunction(getattr(MemoryBank, n))}
    assert {"add", "add_many", "archive", "query", "get", "stats", "supersede", "record_outcome"} <= sync
    for name in sync:
        twin = getattr(MemoryBank, "a" + name, None)
        assert inspect.iscoroutinefunction(twin), f"missing async twin a{name}"
        assert inspect.signature(twin) == inspect.signature(getattr(MemoryBank, name)), name
    assert names == sync | {"a" + n for n in sync}


async def test_async_results_equal_sync_results(store_factory: StoreFactory, tmp_path: Path) -> None:
    sync_bank, async_bank = (
        MemoryBank(store_factory(), budget_per_category=3),
        MemoryBank(store_factory(), budget_per_category=3),
    )
    batch = [make(w, e, "guessing", id=key, minute=i) for i, (key, (w, e)) in enumerate(TOPICAL.items())]
    batch.append(make("labelling a triangle", path=TRIANGLES, id="g"))
    assert await async_bank.aadd_many(batch) == sync_bank.add_many(batch)
    extra = make("clearing fractions in an equation", "multiplying by the common denominator", "x", id="e")
    assert await async_bank.aadd(extra) == sync_bank.add(extra)
    assert await async_bank.arecord_outcome(["word"], "m", True) == sync_bank.record_outcome(["word"], "m", True)
    question = "Word problem about ages: Ann is twice as old as Tom."
    assert await async_bank.aquery(LINEAR, question, k=4) == sync_bank.query(LINEAR, question, k=4)
    assert await async_bank.aget("word") == sync_bank.get("word")
    new = make("reading a graph", id="n")
    assert (await async_bank.asupersede("word", new)).model_dump(exclude={"id"}) == sync_bank.supersede(
        "word", new
    ).model_dump(exclude={"id"})
    assert await async_bank.aarchive("g") == sync_bank.archive("g")
    assert await async_bank.alist_constraints(statuses=["archived"]) == sync_bank.list_constraints(
        statuses=["archived"]
    )
    assert await async_bank.astats() == sync_bank.stats()
    assert await async_bank.aexport_jsonl(tmp_path / "a.jsonl") == sync_bank.export_jsonl(tmp_path / "s.jsonl")
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "s.jsonl").read_text()
    assert await async_bank.aimport_jsonl(tmp_path / "s.jsonl") == sync_bank.import_jsonl(tmp_path / "a.jsonl")
