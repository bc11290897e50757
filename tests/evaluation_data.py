"""Task files and evaluation configurations shared by the evaluation tests (fake agents, tiny data sets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memcollab_langgraph.evaluation import EvalConfig, parse_eval_config

REPO = Path(__file__).resolve().parents[1]
CATEGORY = "math/prealgebra/arithmetic_word_problems"


def task(i: int, n: int, m: int, *, easy: bool = False) -> dict[str, Any]:
    return {
        "id": f"t{i}",
        "domain": "math",
        "question": f"A box holds {n} pens. How many pens are in {m} boxes? (item {i})",
        "answer": str(n * m),
        "category": CATEGORY,
        "metadata": {"easy": easy},
    }


TRAIN = [task(i, 3 + i, 4 + i) for i in range(1, 5)]
TRAIN2 = [task(i, 2 + i, 5 + i) for i in range(30, 33)]
DEV = [task(10, 7, 8, easy=True), task(11, 6, 9), task(12, 5, 12)]
DEV2 = [task(20, 9, 9), task(21, 4, 13, easy=True)]
BY_QUESTION = {t["question"]: t for t in TRAIN + TRAIN2 + DEV + DEV2}
ITEMS_PER_CONDITION = 2 * (len(DEV) + len(DEV2))  # two consumers
# Questions of other stories: enough for the distiller's story check (pens and boxes are rare words).
REFERENCE = [{**task(100 + i, 1, 1), "question": f"A train runs {i} km an hour. How far?"} for i in range(120)]


def write_tasks(path: Path, tasks: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks), encoding="utf-8")
    return path


def make_config(tmp_path: Path, **overrides: Any) -> EvalConfig:
    data: dict[str, Any] = {
        "run_id": "smoke",
        "results": "results",
        "conditions": ["vanilla", "self_memory", "naive_transfer", "memcollab"],
        "retries": 1,
        "team": {
            "max_turns": 1,
            "memory": {"taxonomy": "math"},
            "agents": [
                {"name": "big", "model": "big-7b", "base_url": "http://127.0.0.1:9/v1", "strength": 2},
                {"name": "small", "model": "small-1b", "base_url": "http://127.0.0.1:9/v1", "strength": 1},
            ],
        },
        "datasets": [
            {"name": "toy", "train": {"path": "train.jsonl"}, "eval": {"path": "dev.jsonl"}},
            {"name": "toy2", "train": {"path": "train.jsonl"}, "eval": {"path": "dev2.jsonl"}},
        ],
    }
    data.update(overrides)
    write_tasks(tmp_path / "train.jsonl", TRAIN)
    write_tasks(tmp_path / "train2.jsonl", TRAIN2)
    write_tasks(tmp_path / "dev.jsonl", DEV)
    write_tasks(tmp_path / "dev2.jsonl", DEV2)
    return parse_eval_config(data, source=tmp_path / "eval.toml")
