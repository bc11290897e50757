"""``memcollab eval run|report`` on fake models, with the run's real on-disk memory store.

The command builds its runtime from the evaluation file; the tests swap in fake chat models for the
agents (``Runtime(config, models=...)``) and keep everything else real: the run's embedded Chroma
store, the SQLite checkpoints, the results files and the report.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from typer.testing import CliRunner

from memcollab_langgraph.cli import app
from memcollab_langgraph.cli import evaluate as evaluate_cli
from memcollab_langgraph.config import Config
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.testing import FunctionChatModel


def _task(i: int) -> dict[str, str]:
    question = f"What is {i} times {i + 2}? ({i})"
    return {"id": f"q{i}", "domain": "math", "question": question, "answer": str(i * (i + 2))}


TASKS = {f"q{i}": _task(i) for i in range(1, 8)}
TRAIN, DEV = ["q1", "q2", "q3"], ["q4", "q5", "q6", "q7"]
RULE = {
    "constraints": [
        {
            "when": "a product of two whole numbers is asked",
            "enforce": "multiply the numbers digit by digit and check the size of the result",
            "avoid": "adding the numbers instead of multiplying them",
            "category": "prealgebra",
            "subcategory": "order_of_operations",
        }
    ]
}

EVAL_TOML = """
run_id = "cli"
results = "results"
conditions = ["vanilla", "memcollab"]
retries = 1

[[datasets]]
name = "toy"
train = {{ path = "train.jsonl" }}
eval = {{ path = "{dev}" }}

[team]
max_turns = 1
[team.memory]
taxonomy = "math"
[[team.agents]]
name = "big"
model = "big-7b"
base_url = "http://127.0.0.1:9/v1"
strength = 2
[[team.agents]]
name = "small"
model = "small-1b"
base_url = "http://127.0.0.1:9/v1"
strength = 1
"""


class Fakes:
    """Fake models: big is right, small with memory or on even tasks; ``fail_small`` breaks small on DEV."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_small = False
        self.interrupt = False

    def models(self) -> dict[str, BaseChatModel]:
        return {name: FunctionChatModel(self._replier(name), model_name=f"{name}-model") for name in ("big", "small")}

    def _replier(self, agent: str) -> Any:
        def reply(messages: list[BaseMessage]) -> str:
            self.calls[agent] += 1
            system, text = messages[0].text, "\n".join(m.text for m in messages)
            task = next(t for t in TASKS.values() if t["question"] in text)
            if system.startswith("You label tasks"):
                return json.dumps({"category": "prealgebra", "subcategory": "order_of_operations"})
            if system.startswith(("You compare", "You study")):
                return json.dumps(RULE)
            if self.interrupt and task["id"] in DEV:
                self.interrupt = False
                signal.raise_signal(signal.SIGINT)  # Ctrl-C
            if agent == "small" and self.fail_small and task["id"] in DEV:
                raise ConnectionError("the model server went away")
            lucky = int(task["id"][1:]) % 2 == 0 or "Constraints distilled" in system
            answer = task["answer"] if agent == "big" or lucky else "0"
            return f"\\boxed{{{answer}}}"

        return reply


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    team = Fakes()

    def runtime(config: Config) -> Runtime:
        return Runtime(config, models=team.models())

    monkeypatch.setattr(evaluate_cli, "Runtime", runtime)
    return team


def write_files(tmp_path: Path, dev: list[str] = DEV) -> Path:
    for name, ids in (("train.jsonl", TRAIN), ("dev.jsonl", dev)):
        (tmp_path / name).write_text("".join(json.dumps(TASKS[i]) + "\n" for i in ids), encoding="utf-8")
    path = tmp_path / "eval.toml"
    path.write_text(EVAL_TOML.format(dev="dev.jsonl"), encoding="utf-8")
    return path


def test_run_resume_and_report(tmp_path: Path, fakes: Fakes) -> None:
    config = write_files(tmp_path)
    runner = CliRunner()

    first = runner.invoke(app, ["eval", "run", "-c", str(config), "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    run_dir = Path(out["run_dir"])
    assert run_dir == (tmp_path / "results" / "cli").resolve()
    rows = {(r["agent"], r["condition"]): r for r in out["summary"]["rows"]}
    assert set(rows) == {(a, c) for a in ("big", "small") for c in ("vanilla", "memcollab")}
    assert rows["small", "vanilla"]["accuracy"]["value"] == 0.5
    assert rows["small", "memcollab"]["accuracy"]["value"] == 1.0
    assert out["summary"]["pending"] == 0
    assert all(Path(p).stat().st_size > 0 for p in out["files"]["plots"])
    assert (run_dir / "memory").is_dir(), "the run's banks live in the run directory"
    assert (run_dir / "checkpoints.sqlite").exists()
    calls = sum(fakes.calls.values())
    assert calls > 0

    again = runner.invoke(app, ["eval", "run", "-c", str(config)])
    assert again.exit_code == 0, again.output
    assert sum(fakes.calls.values()) == calls, "a second run solves nothing"
    assert "memcollab" in again.stdout
    assert "summary.md" in again.stdout

    report = runner.invoke(app, ["eval", "report", str(run_dir), "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["summary"]["run_id"] == "cli"
    assert sum(fakes.calls.values()) == calls

    shown = runner.invoke(app, ["eval", "show", str(run_dir), DEV[0], "--agent", "small"])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    assert "vanilla / small" in text
    assert "memcollab / small" in text
    assert "/ big" not in text
    assert "retrieved (" in text  # the memory item's constraint, as the solver saw it
    as_json = json.loads(runner.invoke(app, ["eval", "show", str(run_dir), DEV[0], "--json"]).stdout)
    assert {(t["condition"], t["agent"]) for t in as_json["transcripts"]} == {
        (c, a) for c in ("vanilla", "memcollab") for a in ("big", "small")
    }
    missing = runner.invoke(app, ["eval", "show", str(run_dir), "no-such-task"])
    assert missing.exit_code == 2
    assert "no transcript of task 'no-such-task'" in " ".join(missing.stderr.split())


def test_a_partial_run_reports_and_limit_keeps_the_banks(tmp_path: Path, fakes: Fakes) -> None:
    config = write_files(tmp_path)
    runner = CliRunner()
    partial = runner.invoke(app, ["eval", "run", "-c", str(config), "--limit", "1", "--json"])
    assert partial.exit_code == 0, partial.output
    summary = json.loads(partial.stdout)["summary"]
    assert summary["planned"] == summary["finished"] == 4  # 1 task x 2 conditions x 2 agents

    before = Counter(fakes.calls)
    full = runner.invoke(app, ["eval", "run", "-c", str(config), "--json"])
    assert full.exit_code == 0, full.output
    assert json.loads(full.stdout)["summary"]["finished"] == 16
    solves = sum(fakes.calls.values()) - sum(before.values())
    # the bank was complete: 3 more tasks x (vanilla solve + memcollab classify and solve) x 2 agents
    assert solves == 3 * 3 * 2


def test_failed_items_exit_1_and_report_only_rewrites_the_report(tmp_path: Path, fakes: Fakes) -> None:
    config = write_files(tmp_path)
    runner = CliRunner()
    fakes.fail_small = True
    failed = runner.invoke(app, ["eval", "run", "-c", str(config), "--run-id", "broken"])
    assert failed.exit_code == 1, failed.output
    assert "failed" in failed.output

    fakes.fail_small = False
    calls = sum(fakes.calls.values())
    only = runner.invoke(app, ["eval", "run", "-c", str(config), "--run-id", "broken", "--report-only", "--json"])
    assert only.exit_code == 0
    assert json.loads(only.stdout)["summary"]["failed"] > 0
    assert sum(fakes.calls.values()) == calls


def test_ctrl_c_exits_130_and_the_same_command_resumes(tmp_path: Path, fakes: Fakes) -> None:
    config = write_files(tmp_path)
    runner = CliRunner()
    fakes.interrupt = True
    stopped = runner.invoke(app, ["eval", "run", "-c", str(config)])
    assert stopped.exit_code == 130
    assert "run the same command again to resume" in " ".join(stopped.stderr.split())
    resumed = runner.invoke(app, ["eval", "run", "-c", str(config), "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["summary"]["finished"] == 16


def test_dry_run_shows_the_plan_without_starting_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_files(tmp_path)

    def no_runtime(config: Config) -> Runtime:
        raise AssertionError("--dry-run must not open the runtime")

    monkeypatch.setattr(evaluate_cli, "Runtime", no_runtime)
    result = CliRunner().invoke(app, ["eval", "run", "-c", str(config), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["items"], plan["pending"]) == (16, 16)
    [bank] = plan["banks"].values()
    assert bank["method"] == "contrastive"
    assert bank["training_tasks"] == 3
    assert "story check off: train.jsonl has 3 task questions, fewer than the 100" in bank["story_check"]
    shown = CliRunner().invoke(app, ["eval", "run", "-c", str(config), "--dry-run"])
    assert "[distiller] story_reference" in " ".join(shown.stdout.split())  # the fix, not eaten as markup


def test_dry_run_shows_the_curated_constraints_and_refuses_a_bad_file(tmp_path: Path) -> None:
    config = write_files(tmp_path)
    rule = {"when": "a product is asked", "enforce": "multiply", "avoid": "adding", "category": "math/prealgebra"}
    (tmp_path / "rules.jsonl").write_text(json.dumps(rule) + "\n", encoding="utf-8")
    args = ["eval", "run", "-c", str(config), "--dry-run", "--set", 'conditions=["vanilla", "curated"]']
    result = CliRunner().invoke(app, [*args, "--set", "curated=rules.jsonl", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["items"] == 16
    [(name, bank)] = plan["banks"].items()
    assert name.startswith("curated-rules-")
    assert (bank["method"], bank["constraints"], bank["file"]) == ("curated", 1, str(tmp_path / "rules.jsonl"))
    assert plan["settings"]["curated"] == name
    shown = CliRunner().invoke(app, [*args, "--set", "curated=rules.jsonl"])
    assert "1 read from" in " ".join(shown.stdout.split())
    (tmp_path / "rules.jsonl").write_text(json.dumps({**rule, "category": "math/knitting"}) + "\n", encoding="utf-8")
    bad = CliRunner().invoke(app, [*args, "--set", "curated=rules.jsonl"])
    assert bad.exit_code == 2
    assert "constraint 1" in bad.stderr
    assert "knitting" in bad.stderr


def test_set_overrides_settings_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_files(tmp_path)
    runner = CliRunner()
    args = ["eval", "run", "-c", str(config), "--dry-run", "--json"]
    default = json.loads(runner.invoke(app, args).stdout)["settings"]
    assert (default["fallback"], default["k"], default["max_turns"]) == ("category", 3, 1)
    result = runner.invoke(app, [*args, "--set", "fallback=domain", "--set", "k=2", "--set", "team.max_turns=2"])
    assert result.exit_code == 0, result.output
    changed = json.loads(result.stdout)["settings"]
    assert (changed["fallback"], changed["k"], changed["max_turns"]) == ("domain", 2, 2)

    bad_value = runner.invoke(app, [*args, "--set", "fallback=everywhere"])
    assert bad_value.exit_code == 2
    assert "fallback: Input should be 'exact', 'category' or 'domain'" in " ".join(bad_value.stderr.split())
    malformed = runner.invoke(app, [*args, "--set", "fallback"])
    assert malformed.exit_code == 2
    assert "'fallback' is not KEY=VALUE" in " ".join(malformed.stderr.split())
    into_a_value = runner.invoke(app, [*args, "--set", "retries.x=1"])
    assert "'retries' is a value, not a table" in " ".join(into_a_value.stderr.split())


def test_leakage_exits_2_naming_the_data_set_and_task(tmp_path: Path, fakes: Fakes) -> None:
    config = write_files(tmp_path, dev=[*DEV, "q2"])
    result = CliRunner().invoke(app, ["eval", "run", "-c", str(config)])
    assert result.exit_code == 2
    error = " ".join(result.stderr.split())  # rich wraps long lines
    assert "data set 'toy'" in error
    assert "q2" in error
    assert sum(fakes.calls.values()) == 0


def test_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "run", "-c", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2
    assert "does not exist" in " ".join(missing.stderr.split())
    not_a_run = runner.invoke(app, ["eval", "report", str(tmp_path)])
    assert not_a_run.exit_code == 2
    assert "not a run directory" in " ".join(not_a_run.stderr.split())
