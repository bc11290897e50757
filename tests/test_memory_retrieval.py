"""MemoryBank retrieval over every store kind: category fallback, BM25 and embedding ranking, filters."""

from __future__ import annotations

import pytest
from langgraph.store.base import BaseStore
from memory_data import INDEX, LINEAR, QUADRATICS, TOPICAL, TOPICS, TRIANGLES, StoreFactory, hit_ids, make

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.schema import CategoryPath

# --- category fallback and ranking --------------------------------------------------------------------


@pytest.fixture
def layered(store: BaseStore) -> MemoryBank:
    """One linear-equations entry, two quadratics entries (siblings), two geometry entries (domain)."""
    bank = MemoryBank(store)
    bank.add_many(
        [
            make("solving a linear equation", id="lin"),
            make("factoring a quadratic", path=QUADRATICS, id="quad1"),
            make("using the quadratic formula", path=QUADRATICS, id="quad2"),
            make("labelling a triangle", path=TRIANGLES, id="geo1"),
            make("using similar triangles", path=TRIANGLES, id="geo2"),
        ]
    )
    return bank


def test_query_falls_back_exact_then_category_then_domain(layered: MemoryBank) -> None:
    hits = layered.query(LINEAR, "solve", k=5, fallback="domain")
    assert [h.level for h in hits] == ["exact", "category", "category", "domain", "domain"]
    assert [h.fallback_level for h in hits] == [0, 1, 1, 2, 2]
    assert hit_ids(hits)[0] == "lin"
    assert set(hit_ids(hits)[1:3]) == {"quad1", "quad2"}
    assert [str(h.filter_path) for h in hits] == [
        "math/algebra/linear_equations",
        "math/algebra",
        "math/algebra",
        "math",
        "math",
    ]
    assert hits[0].namespace == ("memcollab", "default", "constraints", "math", "algebra", "linear_equations")
    assert [h.level for h in layered.query(LINEAR, "solve", k=3)] == ["exact", "category", "category"]


def test_query_falls_back_no_further_than_asked(layered: MemoryBank) -> None:
    default = hit_ids(layered.query(LINEAR, "solve", k=5))
    assert (default[0], set(default[1:])) == ("lin", {"quad1", "quad2"}), "by default the category, not the domain"
    assert [h.level for h in layered.query(LINEAR, "solve", k=5, fallback="category")] == ["exact", *["category"] * 2]
    assert hit_ids(layered.query(LINEAR, "solve", k=5, fallback="exact")) == ["lin"]
    algebra = CategoryPath(domain="math", category="algebra")
    assert len(layered.query(algebra, "solve", k=5)) == 3, "a category's level 1 is the domain: not by default"
    assert len(layered.query(algebra, "solve", k=5, fallback="domain")) == 5
    assert len(layered.query(CategoryPath(domain="math"), "solve", k=5, fallback="exact")) == 5, "exact is the domain"
    with pytest.raises(ConfigurationError, match=r"fallback must be one of \['exact', 'category', 'domain'\].*'all'"):
        layered.query(LINEAR, "solve", fallback="all")  # type: ignore[arg-type]


def test_query_stops_falling_back_once_enough(layered: MemoryBank) -> None:
    assert hit_ids(layered.query(LINEAR, "solve", k=1)) == ["lin"]
    assert hit_ids(layered.query(LINEAR, "solve", k=5, min_results=1)) == ["lin"]
    assert len(layered.query(LINEAR, "solve", k=5, min_results=3)) == 3
    # a category query covers its subcategories at the exact level
    assert {h.level for h in layered.query("math/algebra", k=3)} == {"exact"}
    assert layered.query("math/precalculus/vectors", k=2, min_results=0) == []


@pytest.mark.parametrize(
    ("question", "expected_top"),
    [
        ("Solve x/3 + x/4 = 7; clear the fractions using the least common denominator.", "frac"),
        ("Tom's age is twice Ann's age; in five years their ages sum to 40. Word problem.", "word"),
        ("What is the slope of the line on the graph through these lattice points?", "graph"),
    ],
)
def test_bm25_ranks_by_relevance(store: BaseStore, question: str, expected_top: str) -> None:
    bank = MemoryBank(store)
    bank.add_many([make(w, e, "guessing", id=key, minute=i) for i, (key, (w, e)) in enumerate(TOPICAL.items())])
    hits = bank.query(LINEAR, question, k=5)
    assert hits[0].constraint.id == expected_top
    assert hits[0].score_kind == "bm25"
    assert hits[0].score > hits[1].score
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_query_without_text_orders_by_support_then_successes(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add_many([make(TOPICS[0], id="a"), make(TOPICS[1], id="b"), make(TOPICS[2], id="c")])
    bank.add(make(TOPICS[2], id="c2", task="t2"))
    bank.record_outcome(["b"], "qwen-7b", success=True)
    hits = bank.query(LINEAR)
    assert hit_ids(hits) == ["c", "b", "a"]
    assert [h.score for h in hits] == [2.0, 1.0, 1.0]
    assert {h.score_kind for h in hits} == {"support"}


def test_query_filters_by_model_and_family_of_origin(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add_many(
        [
            make(TOPICS[0], id="qwen_only"),
            make(TOPICS[1], id="mixed", preferred="llama-8b", unpreferred="qwen-7b"),
            make(TOPICS[2], id="other", preferred="gpt-x", unpreferred="gpt-y"),
        ]
    )
    assert sorted(hit_ids(bank.query(LINEAR, k=5, models=["llama-8b"]))) == ["mixed"]
    assert sorted(hit_ids(bank.query(LINEAR, k=5, models=["qwen-7b"]))) == ["mixed", "qwen_only"]
    assert sorted(hit_ids(bank.query(LINEAR, k=5, families=["qwen"]))) == ["mixed", "qwen_only"]
    assert hit_ids(bank.query(LINEAR, k=5, families=["qwen"], models=["qwen-32b"])) == ["qwen_only"]
    assert sorted(c.id for c in bank.list_constraints(models=["gpt-x", "llama-8b"])) == ["mixed", "other"]


def test_query_can_exclude_candidates(store: BaseStore) -> None:
    bank = MemoryBank(store)
    bank.add_many([make(TOPICS[0], id="cand"), make(TOPICS[1], id="val"), make(TOPICS[1], id="v2", task="t2")])
    assert sorted(hit_ids(bank.query(LINEAR, "x", include_candidates=False))) == ["val"]
    assert sorted(hit_ids(bank.query(LINEAR, "x", statuses=["candidate"]))) == ["cand"]
    with pytest.raises(ConfigurationError, match="at least one"):
        bank.query(LINEAR, "x", statuses=["candidate"], include_candidates=False)
    with pytest.raises(ConfigurationError, match=r"unknown constraint status\(es\) \['gone'\]"):
        bank.query(LINEAR, "x", statuses=["gone"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="k must be a positive int, got 0"):
        bank.query(LINEAR, "x", k=0)


# --- embeddings (stores with a vector index) ----------------------------------------------------------


def test_embedding_ranker_uses_the_store_index(store_factory: StoreFactory) -> None:
    bank = MemoryBank(store_factory(index=INDEX), ranker="auto")
    assert bank.ranker == "embedding"
    bank.add_many([make(w, e, "guessing", id=key) for key, (w, e) in TOPICAL.items()])
    hits = bank.query(LINEAR, "translating a word problem about ages into a variable", k=3)
    assert hits[0].constraint.id == "word"
    assert hits[0].score_kind == "embedding"
    assert hits[0].score > hits[1].score


def test_semantic_dedup_with_an_indexed_store(store_factory: StoreFactory) -> None:
    bank = MemoryBank(store_factory(index=INDEX), dedup_threshold=1.0, semantic_dedup_threshold=0.9)
    bank.add(make("solving linear equations with fractions", id="a"))
    out = bank.add(make("solving linear equations involving fractions", id="b", task="t2"))
    assert (out.action, out.id) == ("merged", "a")
    assert out.similarity is not None
    assert 0.9 <= out.similarity < 1.0
    assert bank.add(make("labelling the sides of a right triangle", id="c")).action == "added"
