"""``memcollab export`` and ``memcollab import`` on real embedded Chroma stores."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from memcollab_langgraph.cli import app
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.schema import Constraint
from memcollab_langgraph.store import ChromaStore

RULE = {"when": "a product is asked", "enforce": "multiply", "avoid": "adding", "category": "math/prealgebra"}
OTHER = {
    "when": "an equation has one unknown",
    "enforce": "isolate it",
    "avoid": "guessing",
    "category": "math/algebra",
}


def team(tmp_path: Path, name: str, bank: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'[memory]\nstore = "{name}-chroma"\nbank = "{bank}"\ntaxonomy = "math"\n\n'
        '[[agents]]\nname = "a"\nbase_url = "http://127.0.0.1:9/v1"\n',
        encoding="utf-8",
    )
    return path


def stored(tmp_path: Path, name: str, bank: str) -> list[Constraint]:
    store = ChromaStore(path=tmp_path / f"{name}-chroma", collection_name="memcollab")
    try:
        return MemoryBank(store, name=bank).list_constraints(statuses=["candidate", "validated", "archived"])
    finally:
        store.close()


def test_hand_written_constraints_are_imported_once_and_exported_to_another_store(tmp_path: Path) -> None:
    runner = CliRunner()
    rules = tmp_path / "rules.jsonl"
    rules.write_text(json.dumps(RULE) + "\n" + json.dumps(OTHER) + "\n", encoding="utf-8")
    first = team(tmp_path, "first", "shared")
    imported = runner.invoke(app, ["import", "-c", str(first), str(rules), "--json"])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["actions"] == {"added": 2}
    again = runner.invoke(app, ["import", "-c", str(first), str(rules)])
    assert "2 constraints read from" in " ".join(again.stdout.split())
    assert "2 unchanged" in again.stdout
    assert sorted(c.when for c in stored(tmp_path, "first", "shared")) == sorted([OTHER["when"], RULE["when"]])

    backup = tmp_path / "backup.jsonl"
    exported = runner.invoke(app, ["export", "-c", str(first), "-o", str(backup)])
    assert exported.exit_code == 0, exported.output
    assert "exported 2 constraints of bank 'shared'" in " ".join(exported.stderr.split())
    on_stdout = runner.invoke(app, ["export", "-c", str(first)])
    assert on_stdout.stdout == backup.read_text(encoding="utf-8")

    second = team(tmp_path, "second", "copy")
    assert runner.invoke(app, ["import", "-c", str(second), str(backup)]).exit_code == 0
    assert stored(tmp_path, "second", "copy") == stored(tmp_path, "first", "shared")  # ids and provenance kept


def test_a_bad_file_is_refused_naming_the_line_and_nothing_is_written(tmp_path: Path) -> None:
    runner = CliRunner()
    config = team(tmp_path, "first", "shared")
    rules = tmp_path / "rules.jsonl"
    rules.write_text(json.dumps(RULE) + "\n" + json.dumps({**OTHER, "category": "math/knitting"}) + "\n")
    refused = runner.invoke(app, ["import", "-c", str(config), str(rules)])
    assert refused.exit_code == 2
    assert "knitting" in refused.stderr
    rules.write_text(json.dumps(RULE) + "\n{oops\n")
    refused = runner.invoke(app, ["import", "-c", str(config), str(rules)])
    assert refused.exit_code == 2
    assert "rules.jsonl:2:notvalidJSON" in "".join(refused.stderr.split())  # the console wraps long paths anywhere
    missing = runner.invoke(app, ["import", "-c", str(config), str(tmp_path / "nowhere.jsonl")])
    assert missing.exit_code == 2
    assert "cannot read constraints from" in " ".join(missing.stderr.split())
    assert stored(tmp_path, "first", "shared") == []
