"""Results store: durable appends, reads during a run, resume keys, crash-truncated lines, threads."""

from __future__ import annotations

import doctest
import json
import threading
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langgraph.store.memory import InMemoryStore

from memcollab_langgraph.errors import ConfigurationError, StoreError
from memcollab_langgraph.evaluation import collect, results
from memcollab_langgraph.evaluation.cache import SqliteLLMCache
from memcollab_langgraph.evaluation.collect import failed_result, result_from_solve, transcript_from_solve
from memcollab_langgraph.evaluation.conditions import standard_conditions
from memcollab_langgraph.evaluation.results import (
    ItemKey,
    ItemResult,
    ResultsStore,
    RunPlan,
    TruncatedResultWarning,
)
from memcollab_langgraph.evaluation.transcripts import TranscriptLog
from memcollab_langgraph.graphs import create_solve_graph
from memcollab_langgraph.memory import MemoryHit
from memcollab_langgraph.models import Agent
from memcollab_langgraph.nodes import ModelCall
from memcollab_langgraph.schema import AgentRef, CategoryPath, Constraint, Task, Trajectory, Usage
from memcollab_langgraph.testing import ScriptedChatModel
from memcollab_langgraph.verifiers import Verdict

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def item(task_id: str, *, correct: bool | None = True, error: str | None = None, **kw: Any) -> ItemResult:
    fields: dict[str, Any] = {
        "run_id": "r1",
        "condition": "vanilla",
        "agent": "small",
        "model": "qwen-7b",
        "dataset": "gsm8k",
        "task_id": task_id,
        "correct": correct,
        "error": error,
        "turns": 1,
    }
    return ItemResult(**(fields | kw))


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results", "r1")


def test_nothing_is_created_before_the_first_write(store: ResultsStore) -> None:
    assert store.read() == []
    assert store.finished() == set()
    assert store.read_plan() is None
    assert not store.directory.exists()


def test_append_writes_one_json_line_per_item_and_reads_back(store: ResultsStore) -> None:
    first, second = item("1"), item("2", correct=False, retrieved_ids=["c1", "c2"], memory_source=["a", "b"])
    store.append(first)
    store.append(second)
    assert store.items_path == store.directory / "items.jsonl"
    lines = store.items_path.read_text().splitlines()
    assert [json.loads(line)["task_id"] for line in lines] == ["1", "2"]
    assert store.read() == [first, second]


def test_reading_while_a_run_is_in_progress_sees_what_is_written(store: ResultsStore) -> None:
    store.append(item("1"))
    reader = ResultsStore(store.directory.parent, "r1")  # another object, e.g. a report process
    assert [r.task_id for r in reader.read()] == ["1"]
    store.append(item("2"))
    assert [r.task_id for r in reader.read()] == ["1", "2"]


def test_finished_keys_skip_done_items_and_retry_failed_ones(store: ResultsStore) -> None:
    store.extend([item("1"), item("2", correct=None, error="TimeoutError: slow"), item("3", correct=False)])
    key = ItemKey("vanilla", "small", "gsm8k", "2")
    assert store.finished() == {
        ItemKey("vanilla", "small", "gsm8k", "1"),
        ItemKey("vanilla", "small", "gsm8k", "3"),
    }
    # The retry succeeds: the last line of a key wins.
    store.append(item("2", correct=True))
    assert key in store.finished()
    assert len(store.read()) == 4
    latest = store.latest()
    assert [(r.task_id, r.correct, r.error) for r in latest] == [
        ("1", True, None),
        ("2", True, None),
        ("3", False, None),
    ]


def test_keys_distinguish_condition_agent_and_dataset(store: ResultsStore) -> None:
    store.extend([item("1"), item("1", condition="memcollab"), item("1", agent="big"), item("1", dataset="math")])
    assert len(store.finished()) == 4


def test_truncated_last_line_is_ignored_with_a_warning(store: ResultsStore) -> None:
    store.extend([item("1"), item("2")])
    full = store.items_path.read_bytes()
    store.items_path.write_bytes(full + item("3").model_dump_json().encode()[:40])  # crash mid-write
    with pytest.warns(TruncatedResultWarning, match="incomplete last line"):
        assert [r.task_id for r in store.read()] == ["1", "2"]


@pytest.mark.parametrize("partial", [b'{"run_id": "r1", "condi', b'{"answer": "' + b"x" * 150_000])
def test_appending_after_a_crash_cuts_the_partial_line_first(store: ResultsStore, partial: bytes) -> None:
    store.append(item("1"))
    with store.items_path.open("ab") as f:
        f.write(partial)
    resumed = ResultsStore(store.directory.parent, "r1")  # the next process
    with pytest.warns(TruncatedResultWarning, match="dropped an incomplete last line"):
        resumed.append(item("2"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file is clean again: no warning on read
        assert [r.task_id for r in resumed.read()] == ["1", "2"]


def test_a_corrupt_line_before_the_last_is_an_error(store: ResultsStore) -> None:
    store.append(item("1"))
    with store.items_path.open("a") as f:
        f.write('{"not": "a result"}\n')
    store.append(item("2"))
    with pytest.raises(StoreError, match=r"items.jsonl:2: not a valid result record"):
        store.read()


def test_concurrent_appends_from_threads_keep_every_line_whole(store: ResultsStore) -> None:
    def work(worker: int) -> None:
        for i in range(25):
            store.append(item(f"{worker}-{i}", answer="x" * 2000))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = store.read()
    assert len(got) == 200
    assert len({r.task_id for r in got}) == 200


async def test_async_append(store: ResultsStore) -> None:
    await store.aappend(item("1"))
    assert [r.task_id for r in store.read()] == ["1"]


def test_items_of_another_run_are_refused(store: ResultsStore) -> None:
    with pytest.raises(ConfigurationError, match="run 'other'"):
        store.append(item("1", run_id="other"))


@pytest.mark.parametrize("run_id", ["", "..", "a/b", " padded "])
def test_run_ids_must_be_plain_directory_names(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(ConfigurationError, match="run id"):
        ResultsStore(tmp_path, run_id)


def test_plan_round_trips_and_is_replaced_atomically(store: ResultsStore) -> None:
    keys = [ItemKey("vanilla", "small", "gsm8k", str(i)) for i in range(3)]
    plan = RunPlan.of("r1", keys, standard_conditions()[:2], {"seed": 0})
    store.write_plan(plan)
    read = store.read_plan()
    assert read is not None
    assert read.items == keys
    assert [c["name"] for c in read.conditions] == ["vanilla", "self_memory"]
    assert read.metadata == {"seed": 0}
    assert not list(store.directory.glob("*.tmp"))
    store.plan_path.write_text("{broken")
    with pytest.raises(StoreError, match="not a valid run plan"):
        store.read_plan()
    with pytest.raises(ConfigurationError, match="plan of run 'x'"):
        store.write_plan(RunPlan(run_id="x"))


def _solve_output() -> dict[str, Any]:
    agent = AgentRef(name="small", model="qwen-7b", family="qwen")
    usage = Usage(model="qwen-7b", calls=2, prompt_tokens=300, completion_tokens=80)
    trajectory = Trajectory(task_id="t9", agent=agent, answer="30", turns=2, usage=usage, correct=None)
    path = CategoryPath(domain="math", category="prealgebra")
    hit = MemoryHit(
        constraint=Constraint(id="c7", when="w", enforce="e", avoid="a", category=path),
        score=1.5,
        score_kind="bm25",
        level="exact",
        filter_path=path,
        namespace=("memcollab", "bank", "constraints", "math", "prealgebra"),
    )
    calls = [
        ModelCall(
            step="classify",
            agent="small",
            usage=Usage(model="qwen-7b", calls=1, prompt_tokens=50, completion_tokens=10, cached_calls=1),
        ),
        ModelCall(step="solve", agent="small", usage=usage),
    ]
    verdict = Verdict(correct=True, detail="30 == 30", domain="math", answer="30")
    # Values as a checkpoint gives them back: plain dicts.
    return {
        "trajectory": trajectory.model_dump(mode="json"),
        "verdict": verdict.model_dump(mode="json"),
        "hits": [hit.model_dump(mode="json")],
        "usage_log": [c.model_dump(mode="json") for c in calls],
        "category": path,
    }


def test_result_from_solve_output() -> None:
    r = result_from_solve(
        _solve_output(),
        run_id="r1",
        condition="memcollab",
        dataset="math500",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2.5),
        memory_source=["small", "big"],
        bank="contrastive-x",
    )
    assert r.key == ItemKey("memcollab", "small", "math500", "t9")
    assert (r.correct, r.answer, r.turns, r.model) == (True, "30", 2, "qwen-7b")
    assert (r.prompt_tokens, r.completion_tokens, r.calls, r.cached_calls) == (350, 90, 3, 1)
    assert r.tokens_by_step == {"classify": 60, "solve": 380}
    assert (r.retrieved_ids, r.memory_source, r.bank) == (["c7"], ["small", "big"], "contrastive-x")
    assert (r.category, r.latency_s) == ("math/prealgebra", 2.5)


def test_result_from_solve_without_a_trajectory_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="no 'trajectory'"):
        result_from_solve({}, run_id="r", condition="c", dataset="d", started_at=T0, finished_at=T0)


def test_failed_result_is_not_finished(store: ResultsStore) -> None:
    key = ItemKey("vanilla", "small", "gsm8k", "7")
    r = failed_result(key, RuntimeError("server gone"), run_id="r1", model="qwen-7b", started_at=T0, finished_at=T0)
    store.append(r)
    assert r.error == "RuntimeError: server gone"
    assert store.finished() == set()


def test_docstring_examples_run() -> None:
    assert doctest.testmod(results).failed == 0
    assert doctest.testmod(collect).failed == 0


def test_result_from_a_real_solve_graph_run() -> None:
    model = ScriptedChatModel(
        ['{"category": "prealgebra", "subcategory": "percentages"}', "25% of 40 is 10, so 30. #### 30"],
        model_name="qwen-7b",
    )
    graph = create_solve_graph(Agent(name="small", model=model), taxonomy="math").compile(store=InMemoryStore())
    task = Task(id="d1", domain="math", question="A $40 shirt is 25% off. Price?", answer="30")
    start = datetime.now(UTC)
    output = graph.invoke({"task": task})
    r = result_from_solve(
        output, run_id="r1", condition="vanilla", dataset="toy", started_at=start, finished_at=datetime.now(UTC)
    )
    assert (r.agent, r.model, r.task_id, r.correct, r.answer, r.turns) == ("small", "qwen-7b", "d1", True, "30", 1)
    assert r.calls == 2
    assert set(r.tokens_by_step) == {"classify", "solve"}
    assert r.prompt_tokens > 0
    assert r.completion_tokens > 0
    assert r.category == "math/prealgebra/percentages"
    assert r.retrieved_ids == []


def test_a_transcript_keeps_the_conversation_and_survives_an_interrupted_write(tmp_path: Path) -> None:
    model = ScriptedChatModel(
        ['{"category": "prealgebra", "subcategory": "percentages"}', "25% of 40 is 10, so 30. #### 30"],
        model_name="qwen-7b",
    )
    graph = create_solve_graph(Agent(name="small", model=model), taxonomy="math").compile(store=InMemoryStore())
    task = Task(id="d1", domain="math", question="A $40 shirt is 25% off. Price?", answer="30")
    transcript = transcript_from_solve(graph.invoke({"task": task}), run_id="r", condition="vanilla", dataset="toy")
    assert [m["role"] for m in transcript.messages] == ["system", "user", "assistant"]
    assert transcript.messages[1]["content"].startswith(task.question)
    assert (transcript.answer, transcript.correct, transcript.category) == ("30", True, "math/prealgebra/percentages")
    assert transcript.verdict is not None

    log = TranscriptLog(tmp_path)
    log.append(transcript)
    with log.path.open("a", encoding="utf-8") as f:
        f.write('{"run_id": "r", "condit')  # a crash in the middle of the next line
    newer = transcript.model_copy(update={"answer": "31", "correct": False})
    log.append(newer)  # starts on its own line, and replaces the older transcript of the item
    with pytest.warns(TruncatedResultWarning, match="unreadable transcript line"):
        latest = log.latest()
    assert list(latest.values()) == [newer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedResultWarning)
        assert log.for_task("d1") == [newer]
        with pytest.raises(ConfigurationError, match=r"no transcript of task 'd2'.*items\.jsonl"):
            log.for_task("d2")


@pytest.mark.parametrize("kind", ["langchain-in-memory", "sqlite"])
def test_calls_answered_by_a_response_cache_are_counted(kind: str, tmp_path: Path) -> None:
    cache = InMemoryCache() if kind == "langchain-in-memory" else SqliteLLMCache(tmp_path / "llm.sqlite")
    model = ScriptedChatModel(
        ['{"category": "prealgebra", "subcategory": "percentages"}', "25% of 40 is 10, so 30. #### 30"],
        model_name="qwen-7b",
        cache=cache,
    )
    graph = create_solve_graph(Agent(name="small", model=model), taxonomy="math").compile(store=InMemoryStore())
    task = Task(id="d1", domain="math", question="A $40 shirt is 25% off. Price?", answer="30")
    results = []
    for _ in range(2):  # the second run is served by the cache (the scripted model has no third reply)
        start = datetime.now(UTC)
        output = graph.invoke({"task": task})
        results.append(
            result_from_solve(output, run_id="r", condition="v", dataset="toy", started_at=start, finished_at=start)
        )
    assert [(r.calls, r.cached_calls) for r in results] == [(2, 0), (2, 2)]
    assert results[1].prompt_tokens == results[0].prompt_tokens  # the original call's tokens
    assert (results[1].correct, results[1].answer) == (True, "30")
