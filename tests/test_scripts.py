"""The analysis scripts under ``scripts/`` on a run of fake models."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from evaluation_data import DEV, make_config
from evaluation_team import Team, evaluate
from langgraph.store.memory import InMemoryStore

REPO = Path(__file__).resolve().parents[1]


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_memory_by_category_counts_gains_and_losses_per_classified_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_category = script("memory_by_category")
    run = evaluate(make_config(tmp_path, conditions=["vanilla", "memcollab"]), Team(), InMemoryStore())
    hard = sum(1 for t in DEV if not t["metadata"]["easy"])
    # The fake classifier files every task under prealgebra; small is right with memory, or on easy tasks.
    by_category.main([str(run), "--dataset", "toy"])
    table = capsys.readouterr().out
    assert (
        f"| small | memcollab | listed categories | {len(DEV)} | {len(DEV) - hard} | {len(DEV)} | {hard} | 0 |" in table
    )
    assert f"| big | memcollab | listed categories | {len(DEV)} | {len(DEV)} | {len(DEV)} | 0 | 0 |" in table
    by_category.main([str(run), "--dataset", "toy", "--group", "math/algebra"])
    assert f"| small | memcollab | other categories | {len(DEV)} |" in capsys.readouterr().out
    assert by_category.group_of("math", ["math/algebra"]) == "domain only"
