"""The evaluation runner end to end on fake models (:mod:`evaluation_team`): plan, banks built once, items,
resume, cache, report."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from evaluation_data import (
    DEV,
    DEV2,
    ITEMS_PER_CONDITION,
    REFERENCE,
    TRAIN,
    TRAIN2,
    make_config,
    write_tasks,
)
from evaluation_team import Team, evaluate, latest, report_of
from langchain_core.messages import BaseMessage
from langgraph.store.memory import InMemoryStore

from memcollab_langgraph.errors import ConfigurationError, MemCollabError, StoreError
from memcollab_langgraph.evaluation import (
    EvalConfig,
    ModelServerDown,
    ResultsStore,
    TranscriptLog,
    arun_evaluation,
    is_transient,
    load_datasets,
    plan_evaluation,
)
from memcollab_langgraph.evaluation import config as config_module
from memcollab_langgraph.evaluation import runner as runner_module
from memcollab_langgraph.models import Agent
from memcollab_langgraph.openai_compat import OpenAICompatibleChat
from memcollab_langgraph.runtime import Runtime

# -- the smoke evaluation ---------------------------------------------------------------------------


def test_smoke_evaluation_writes_the_report_and_builds_each_bank_once(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    team = Team()
    run = evaluate(config, team, InMemoryStore())

    results = latest(run)
    assert len(results) == 4 * ITEMS_PER_CONDITION
    assert all(r.error is None and r.correct is not None for r in results.values())
    # big is always right; small without memory only on the easy tasks, with MemCollab's memory always
    assert {r.correct for k, r in results.items() if k[1] == "big"} == {True}
    vanilla_small = [r.correct for k, r in results.items() if k[:2] == ("vanilla", "small")]
    assert vanilla_small == [t["metadata"]["easy"] for t in DEV + DEV2]
    assert all(r.correct for k, r in results.items() if k[:2] == ("memcollab", "small"))
    memcollab = [r for k, r in results.items() if k[0] == "memcollab"]
    assert all(r.retrieved_ids for r in memcollab)
    assert all(r.memory_source == ["big", "small"] for r in memcollab)
    assert len({r.bank for r in memcollab}) == 1, "one MemCollab bank, shared by consumers and data sets"
    assert results["naive_transfer", "small", "toy", "t11"].memory_source == ["big"]
    assert results["vanilla", "small", "toy", "t11"].retrieved_ids == []

    # One transcript per item: what the solver saw (the retrieved constraints in its system prompt) and said.
    transcripts = TranscriptLog(run).latest()
    assert set(transcripts) == set(results)
    seen = transcripts["memcollab", "small", "toy", "t11"]
    assert [c.id for c in seen.retrieved] == results["memcollab", "small", "toy", "t11"].retrieved_ids
    assert seen.retrieved[0].text in seen.messages[0]["content"]
    assert (seen.correct, seen.answer, seen.messages[-1]["role"]) == (True, "54", "assistant")
    assert transcripts["vanilla", "small", "toy", "t11"].retrieved == []
    assert "Constraints distilled" not in transcripts["vanilla", "small", "toy", "t11"].messages[0]["content"]

    # Banks: self memory x2 (one per agent), naive transfer x2, MemCollab x1, all shared by both data
    # sets (same training tasks). One distillation per bank and training task, none repeated.
    assert team.count("distill") == 5 * len(TRAIN)
    banks = json.loads((run / "banks.json").read_text())
    assert len(banks) == 5
    assert all(b["complete"] and b["constraints"] >= 1 for b in banks.values())

    summary_md = (run / "summary.md").read_text()
    for name in ("vanilla", "self_memory", "naive_transfer", "memcollab", "big", "small", "toy2"):
        assert name in summary_md
    summary = report_of(run)
    assert summary.complete
    assert summary.planned == len(results)
    assert set(summary.conditions) == {"vanilla", "self_memory", "naive_transfer", "memcollab"}
    row = summary.row("toy", "small", "memcollab")
    assert row is not None
    assert row.delta is not None
    assert row.delta.value > 0
    plots = sorted(run.glob("*.png"))
    assert {p.name for p in plots} >= {"accuracy.png", "turns.png"}
    assert all(p.stat().st_size > 1000 for p in plots)
    plan = json.loads((run / "plan.json").read_text())
    assert len(plan["items"]) == len(results)
    assert plan["metadata"]["fingerprint"]["agents"]["big"]["model"] == "big-7b"


def test_a_rerun_skips_finished_items_and_complete_banks(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla", "memcollab"])
    store = InMemoryStore()
    evaluate(config, Team(), store)
    again = Team()
    run = evaluate(config, again, store)
    assert sum(again.calls.values()) == 0, again.calls
    assert len(ResultsStore(run.parent, run.name).read()) == 2 * ITEMS_PER_CONDITION, "nothing appended"


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla", "memcollab"])
    store = InMemoryStore()
    team = Team()
    team.crash_on = "t12"  # small's first solve of t12 raises an error that is not a model error: the run stops
    with pytest.raises(RuntimeError, match="injected crash"):
        evaluate(config, team, store)
    run = config.run_directory
    written = latest(run)
    assert written
    assert len(written) < 2 * ITEMS_PER_CONDITION
    assert all(r.error is None for r in written.values())

    resumed = Team()
    evaluate(config, resumed, store)
    assert resumed.count("distill") == 0, "the bank was complete: not built again"
    new = [k for k in latest(run) if k not in written]
    assert new
    assert sorted(resumed.solved) == sorted((k[1], k[3]) for k in new), "exactly the items without a result ran"
    assert report_of(run).complete


def test_ctrl_c_keeps_what_was_written_and_the_next_run_resumes(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla", "memcollab"])
    store = InMemoryStore()
    team = Team()
    team.interrupt_on = "t11"
    with pytest.raises(KeyboardInterrupt):
        evaluate(config, team, store, progress=True)
    written = latest(config.run_directory)
    assert ("vanilla", "small", "toy", "t11") in written, "the item in flight at Ctrl-C finished and was written"
    assert len(written) < 2 * ITEMS_PER_CONDITION, "items not started were not run"
    resumed = Team()
    evaluate(config, resumed, store)
    assert len(resumed.solved) == 2 * ITEMS_PER_CONDITION - len(written)
    assert report_of(config.run_directory).complete


def test_an_interrupted_build_resumes_from_its_checkpoints(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["memcollab"])
    store = InMemoryStore()
    team = Team()
    team.crash_on = "t3"  # small crashes while solving training task t3 inside the build
    with pytest.raises(MemCollabError, match="1 of 4 training tasks failed"):
        evaluate(config, team, store)
    assert team.count("distill") == len(TRAIN) - 1
    assert not (config.run_directory / "banks.json").exists()
    assert not (config.run_directory / "items.jsonl").exists(), "nothing is evaluated with an incomplete bank"

    resumed = Team()
    evaluate(config, resumed, store)
    assert resumed.count("distill") == 1, "only the interrupted training task is distilled"
    assert ("big", "t3") not in resumed.solved, "big's finished solve of t3 was checkpointed"
    assert ("small", "t3") in resumed.solved
    assert report_of(config.run_directory).complete


def test_failed_items_are_recorded_and_retried_by_the_next_run(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla"])
    store = InMemoryStore()
    team = Team()
    team.fail_on = "t11"
    run = evaluate(config, team, store)
    failed = latest(run)["vanilla", "small", "toy", "t11"]
    assert failed.error is not None
    assert failed.error.startswith("APIConnectionError")
    assert failed.correct is None
    summary = report_of(run)
    assert summary.failed == 1
    assert not summary.complete
    key = ("vanilla", "small", "toy", "t11")
    assert key not in TranscriptLog(run).latest(), "a failure's error is in its result; it has no conversation"

    again = Team()
    evaluate(config, again, store)
    assert again.solved == [("small", "t11")]
    assert latest(run)["vanilla", "small", "toy", "t11"].error is None
    assert report_of(run).complete
    assert TranscriptLog(run).latest()[key].answer == latest(run)[key].answer == "55"  # type: ignore[index]


def test_a_server_that_stopped_answering_stops_the_run_and_the_next_run_retries(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla"], max_consecutive_failures=3)
    team = Team()
    team.down = True
    with pytest.raises(ModelServerDown, match=r"3 items in a row failed .*APIConnectionError.*run the same command"):
        evaluate(config, team, InMemoryStore())
    written = latest(config.run_directory)
    assert len(written) == 3, "the run stopped at the third failure instead of failing every item"
    assert all(r.error is not None and r.error.startswith("APIConnectionError") for r in written.values())

    resumed = Team()
    run = evaluate(config, resumed, InMemoryStore())
    assert len(resumed.solved) == ITEMS_PER_CONDITION, "failed items are retried, none was finished"
    assert report_of(run).complete


def test_failures_not_in_a_row_do_not_stop_the_run(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla"], max_consecutive_failures=2)
    team = Team()
    team.fail_on = "t11"  # one failure, then successes: the streak restarts
    run = evaluate(config, team, InMemoryStore())
    assert report_of(run).failed == 1


def test_data_sets_go_one_after_the_other_banks_built_right_before_their_items(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        conditions=["vanilla", "memcollab"],
        datasets=[
            {"name": "toy", "train": {"path": "train.jsonl"}, "eval": {"path": "dev.jsonl"}},
            {"name": "toy2", "train": {"path": "train2.jsonl"}, "eval": {"path": "dev2.jsonl"}},
        ],
    )
    team = Team()
    run = evaluate(config, team, InMemoryStore())
    order = team.log
    toy_items = [i for i, (role, task) in enumerate(order) if role == "solve" and task in {t["id"] for t in DEV}]
    toy2_build = [i for i, (_, task) in enumerate(order) if task in {t["id"] for t in TRAIN2}]
    toy_build = [i for i, (_, task) in enumerate(order) if task in {t["id"] for t in TRAIN}]
    assert max(toy_build) < min(toy_items), "toy's bank was built before its items"
    assert max(toy_items) < min(toy2_build), "toy's items were solved before toy2's bank was built"
    assert len(json.loads((run / "banks.json").read_text())) == 2
    assert report_of(run).complete


def test_results_and_banks_record_the_code_that_produced_them(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["memcollab"])
    run = evaluate(config, Team(), InMemoryStore())
    version = runner_module.code_version()
    assert version.startswith("0.")
    assert {r.code_version for r in latest(run).values()} == {version}
    assert {b["code_version"] for b in json.loads((run / "banks.json").read_text()).values()} == {version}
    assert {tuple(r.retrieved_levels) for r in latest(run).values()} == {("exact",)}


def test_the_code_version_is_the_one_read_at_import() -> None:
    """A fresh interpreter whose git calls fail after the import still reports the commit it loaded."""
    script = (
        "import subprocess\n"
        "from memcollab_langgraph import version\n"
        "def gone(*args, **kwargs):\n"
        "    raise OSError('the checkout moved on')\n"
        "subprocess.run = gone\n"
        "print(version.code_version())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "+g" in out.stdout, out.stdout + out.stderr


def test_resuming_a_build_restores_the_state_types_without_langgraph_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, conditions=["memcollab"])
    store = InMemoryStore()
    team = Team()
    team.crash_on = "t3"
    with pytest.raises(MemCollabError):
        evaluate(config, team, store)
    with caplog.at_level("WARNING", logger="langgraph"):
        evaluate(config, Team(), store)
    unregistered = [r.getMessage() for r in caplog.records if "unregistered type" in r.getMessage()]
    assert unregistered == []
    assert report_of(config.run_directory).complete


def test_leakage_is_refused_before_anything_runs(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write_tasks(tmp_path / "dev2.jsonl", [*DEV2, TRAIN[0]])
    team = Team()
    with pytest.raises(ConfigurationError, match=r"data set 'toy2'.*\['t1'\]"):
        evaluate(config, team, InMemoryStore())
    assert sum(team.calls.values()) == 0
    assert not config.run_directory.exists()


def test_leakage_under_another_id_is_caught_by_the_question(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write_tasks(tmp_path / "dev.jsonl", [*DEV, {**TRAIN[1], "id": "renamed"}])
    with pytest.raises(ConfigurationError, match=r"renamed \(same question as training task t2\)"):
        plan_evaluation(config, load_datasets(config))


def test_a_run_refuses_other_settings_under_the_same_run_id(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla"])
    evaluate(config, Team(), InMemoryStore())
    changed = make_config(tmp_path, conditions=["vanilla"], k=2)
    with pytest.raises(ConfigurationError, match=r"changed: \['k'\].*new run_id"):
        evaluate(changed, Team(), InMemoryStore())
    wider = make_config(tmp_path, conditions=["vanilla"], fallback="domain")
    with pytest.raises(ConfigurationError, match=r"changed: \['fallback'\]"):
        evaluate(wider, Team(), InMemoryStore())
    more = make_config(tmp_path, conditions=["vanilla", "memcollab"])  # adding conditions is fine
    team = Team()
    evaluate(more, team, InMemoryStore())
    assert team.count("solve") > 0


@pytest.mark.parametrize(
    ("setting", "as_before", "default"),
    [
        ("fallback", {"fallback": "domain"}, {}),  # retrieval fell back to the whole domain
        ("distiller_labels", {"labels": "distiller"}, {"labels": None}),  # the distiller labelled constraints
        ("distiller_story_check", {"story_check": False}, {"story_reference": "reference.jsonl"}),  # no check
    ],
)
def test_a_run_planned_before_a_setting_existed_resumes_with_what_it_did_then(
    tmp_path: Path, setting: str, as_before: dict[str, Any], default: dict[str, Any]
) -> None:
    write_tasks(tmp_path / "reference.jsonl", REFERENCE)

    def config(values: dict[str, Any]) -> EvalConfig:
        if setting == "fallback":
            return make_config(tmp_path, conditions=["vanilla"], **values)
        team = make_config(tmp_path).team.model_dump(mode="json", exclude_none=True)
        team["distiller"] = {"agent": "big", **{key: value for key, value in values.items() if value is not None}}
        return make_config(tmp_path, conditions=["vanilla"], team=team)

    old = config(as_before)
    evaluate(old, Team(), InMemoryStore())
    plan_file = old.run_directory / "plan.json"
    plan = json.loads(plan_file.read_text())
    del plan["metadata"]["fingerprint"][setting]  # as written by the code before the setting
    plan_file.write_text(json.dumps(plan))
    evaluate(old, Team(), InMemoryStore())  # the same settings: resumes
    with pytest.raises(ConfigurationError, match=rf"changed: \['{setting}'\]"):
        evaluate(config(default), Team(), InMemoryStore())  # today's default differs


def test_the_constraints_preamble_reaches_the_memory_solves_and_is_part_of_the_run(tmp_path: Path) -> None:
    preamble = "Notes from similar tasks; use one only if its situation matches this task:"
    config = make_config(tmp_path, conditions=["vanilla", "memcollab"], constraints_preamble=preamble)
    run = evaluate(config, Team(), InMemoryStore())
    transcripts = TranscriptLog(run).latest()
    memory = [t for k, t in transcripts.items() if k[0] == "memcollab"]
    assert memory
    assert all(t.messages[0]["content"].count(preamble) == 1 for t in memory)
    assert not any(preamble in t.messages[0]["content"] for k, t in transcripts.items() if k[0] == "vanilla")
    with pytest.raises(ConfigurationError, match=r"changed: \['constraints_preamble'\]"):
        evaluate(make_config(tmp_path, conditions=["vanilla", "memcollab"]), Team(), InMemoryStore())
    # A run planned before the setting existed told the solver to follow the constraints where they apply.
    plan_file = run / "plan.json"
    plan = json.loads(plan_file.read_text())
    del plan["metadata"]["fingerprint"]["constraints_preamble"]
    plan_file.write_text(json.dumps(plan))
    evaluate(make_config(tmp_path, conditions=["vanilla", "memcollab"]), Team(), InMemoryStore())


class Stuck(Team):
    """Solves by thinking aloud without ever giving an answer: every solve reply is the same text."""

    def _reply(self, agent: str, messages: list[BaseMessage]) -> str:
        reply = super()._reply(agent, messages)
        return "Let me think about the totals first." if reply.startswith("Multiplying") else reply


def test_stop_on_repeat_reaches_the_solves_and_is_part_of_the_run(tmp_path: Path) -> None:
    def config(**values: Any) -> EvalConfig:
        return make_config(tmp_path, conditions=["vanilla"], max_turns=3, **values)

    stopping = evaluate(config(stop_on_repeat=True), Stuck(), InMemoryStore())
    assert {r.turns for r in latest(stopping).values()} == {2}  # the second reply repeats the first
    asking = evaluate(config(run_id="asking"), Stuck(), InMemoryStore())
    assert {r.turns for r in latest(asking).values()} == {3}
    with pytest.raises(ConfigurationError, match=r"changed: \['stop_on_repeat'\]"):
        evaluate(config(), Stuck(), InMemoryStore())
    # A run planned before the setting existed went on asking: it resumes with today's default.
    plan_file = asking / "plan.json"
    plan = json.loads(plan_file.read_text())
    del plan["metadata"]["fingerprint"]["stop_on_repeat"]
    plan_file.write_text(json.dumps(plan))
    evaluate(config(run_id="asking"), Stuck(), InMemoryStore())


def test_the_story_check_keeps_training_stories_retold_by_the_distiller_out_of_the_banks(tmp_path: Path) -> None:
    write_tasks(tmp_path / "reference.jsonl", REFERENCE)
    retold = {"when": "pens are packed in boxes", "enforce": "multiply pens per box by the boxes", "avoid": "adding"}
    stored: dict[bool, int] = {}
    for check in (True, False):
        team_config = make_config(tmp_path).team.model_dump(mode="json", exclude_none=True)
        team_config["distiller"] = {"agent": "big", "story_check": check, "story_reference": "reference.jsonl"}
        config = make_config(tmp_path, run_id=f"story-{check}", conditions=["vanilla", "memcollab"], team=team_config)
        team = Team()
        team.rule = {"constraints": [retold]}
        run = evaluate(config, team, InMemoryStore())
        assert team.count("distill") == len(TRAIN)  # both data sets read train.jsonl: one bank
        stored[check] = sum(bank["constraints"] for bank in json.loads((run / "banks.json").read_text()).values())
    assert stored[True] == 0
    assert stored[False] > 0


def test_a_store_that_lost_the_banks_is_detected(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla", "memcollab"])
    team = Team()
    team.crash_on = "t12"  # leave items pending, so that the next run needs the bank again
    with pytest.raises(RuntimeError):
        evaluate(config, team, InMemoryStore())
    with pytest.raises(StoreError, match="does not keep the run's memory"):
        evaluate(config, Team(), InMemoryStore())  # a fresh in-memory store: the bank is gone


def test_the_cache_serves_a_second_run_but_not_the_self_contrast_samples(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla", "self_contrast", "memcollab"], cache="llm.sqlite")
    evaluate(config, Team(), InMemoryStore())
    assert (tmp_path / "llm.sqlite").stat().st_size > 0
    second = Team()
    other = config.model_copy(update={"run_id": "smoke-again"})
    evaluate(other, second, InMemoryStore())
    # Only the self-contrast samples are drawn again: each agent, each training task, twice.
    assert set(second.calls) == {("big", "solve"), ("small", "solve")}
    assert second.calls["big", "solve"] == second.calls["small", "solve"] == 2 * len(TRAIN)
    first = {k[:2] + k[3:]: r.correct for k, r in latest(config.run_directory).items()}
    again = {k[:2] + k[3:]: r.correct for k, r in latest(other.run_directory).items()}
    assert first == again


def test_self_contrast_samples_come_from_a_sampling_copy_of_the_agent() -> None:
    model = OpenAICompatibleChat(model="m", base_url="http://127.0.0.1:9/v1", api_key="x", temperature=0.0, seed=3)
    sampler = runner_module._sampling(Agent(name="a", model=model), 0.7)
    assert isinstance(sampler.model, OpenAICompatibleChat)
    assert (sampler.model.temperature, sampler.model.seed, sampler.model.cache) == (0.7, None, False)
    assert (model.temperature, model.seed, model.cache) == (0.0, 3, None), "the agent's own model is unchanged"
    warm = OpenAICompatibleChat(model="m", base_url="http://127.0.0.1:9/v1", api_key="x", temperature=1.1)
    warm_sampler = runner_module._sampling(Agent(name="a", model=warm), 0.7).model
    assert isinstance(warm_sampler, OpenAICompatibleChat)
    assert warm_sampler.temperature == 1.1, "a sampling temperature that is configured is kept"


async def test_the_async_runner_gives_the_same_results(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla", "naive_transfer", "memcollab"])
    sync_run = evaluate(config, Team(), InMemoryStore())
    async_config = config.model_copy(update={"run_id": "smoke-async"})
    team = Team()
    with Runtime(async_config.team_for_run(), models=team.models(), store=InMemoryStore()) as rt:
        async_run = await arun_evaluation(async_config, rt, progress=False)
    assert {k: r.correct for k, r in latest(sync_run).items()} == {k: r.correct for k, r in latest(async_run).items()}
    assert team.count("distill") == 3 * len(TRAIN)
    assert report_of(async_run).complete


async def test_the_async_runner_stops_when_the_server_stopped_answering(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla"], max_consecutive_failures=2)
    team = Team()
    team.down = True
    with (
        Runtime(config.team_for_run(), models=team.models(), store=InMemoryStore()) as rt,
        pytest.raises(ModelServerDown, match="2 items in a row"),
    ):
        await arun_evaluation(config, rt, progress=False)
    assert len(latest(config.run_directory)) == 2


def test_concurrent_items_are_all_recorded_once(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla", "memcollab"], max_concurrency=4)
    run = evaluate(config, Team(), InMemoryStore(), progress=True)
    keys = [r.key for r in ResultsStore(run.parent, run.name).read()]
    assert len(keys) == len(set(keys)) == 2 * ITEMS_PER_CONDITION


def test_transient_errors_are_retried_and_bad_requests_are_not() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat")
    assert is_transient(openai.APIConnectionError(request=request))
    assert is_transient(ConnectionError("reset"))
    bad = openai.BadRequestError("context too long", response=httpx.Response(400, request=request), body=None)
    assert not is_transient(bad)
    assert not is_transient(ValueError("bug"))


def test_doctests() -> None:
    assert doctest.testmod(config_module).failed == 0
    assert doctest.testmod(runner_module).failed == 0
