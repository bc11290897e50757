"""Evaluation plans and configurations: item order, shared banks, shipped configs, errors that name the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from evaluation_data import DEV, REPO, TRAIN, make_config, write_tasks

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation import load_curated, load_datasets, load_eval_config, plan_evaluation

# -- the plan ---------------------------------------------------------------------------------------


def test_plan_orders_items_by_dataset_consumer_task_condition(tmp_path: Path) -> None:
    config = make_config(tmp_path, conditions=["vanilla", "memcollab"])
    plan = plan_evaluation(config, load_datasets(config))
    assert [tuple(i.key) for i in plan.items[:4]] == [
        ("vanilla", "big", "toy", "t10"),
        ("memcollab", "big", "toy", "t10"),
        ("vanilla", "big", "toy", "t11"),
        ("memcollab", "big", "toy", "t11"),
    ]
    [bank] = plan.banks.values()
    assert (bank.method, bank.builders, bank.sources) == ("contrastive", ("big", "small"), (None,))
    assert bank.name.startswith("contrastive-big_small-")
    assert bank.name.endswith(bank.train.key)


def test_transfer_matrix_shares_banks_with_the_standard_conditions(tmp_path: Path) -> None:
    team = make_config(tmp_path).team.model_dump(exclude={"source"})
    team["agents"].append({"name": "other", "base_url": "http://127.0.0.1:9/v1", "family": "llama"})
    config = make_config(
        tmp_path,
        team=team,
        builders=["big", "small"],
        conditions=["vanilla", "memcollab"],
        transfer_matrix={"builders": [["big"], ["big", "small"]], "consumers": ["small", "other"]},
    )
    cells = {(c.condition.name, c.agent) for c in config.cells()}
    assert {("transfer:big+small", "other"), ("vanilla", "other"), ("transfer:big", "small")} <= cells
    assert ("memcollab", "other") not in cells
    plan = plan_evaluation(config, load_datasets(config))
    banks = {(i.key.condition, i.key.agent): i.bank for i in plan.items if i.key.dataset == "toy"}
    assert banks["transfer:big+small", "other"] == banks["memcollab", "small"]
    assert banks["transfer:big", "small"] == banks["transfer:big", "other"]
    assert len(plan.banks) == 2  # big alone and big+small, each built once


# -- the configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("eval-*.toml")), ids=lambda p: p.name)
def test_shipped_evaluation_configs_parse(path: Path) -> None:
    config = load_eval_config(path)
    assert config.cells()
    assert config.team.distiller_name in {a.name for a in config.team.agents}
    if config.curated is not None:  # hand-written constraints: valid records of the team's taxonomy
        curated = load_curated(config)
        assert curated is not None
        assert len(curated.constraints) == 21


def test_the_example_configuration_parses_and_plans_the_first_reproduction() -> None:
    config = load_eval_config(REPO / "configs" / "eval-local-qwen.toml")
    assert [d.name for d in config.datasets] == ["gsm8k", "mbpp", "humaneval"]
    assert {c.condition.name for c in config.cells()} == {"vanilla", "naive_transfer", "memcollab"}
    assert config.consumer_names == ["qwen-0.5b", "qwen-1.5b"]
    assert {a.local_alias for a in config.team.agents} == {"qwen-0_5b", "qwen-1_5b", "smollm2"}
    assert config.run_directory == (REPO / "results" / "eval-local-qwen").resolve()
    data = config.resolve(config.datasets[0].eval.path)
    if not data.exists():
        pytest.skip(f"benchmark data not present at {data}")
    plan = plan_evaluation(config, load_datasets(config))
    assert len(plan.items) == 3 * 100 * 3 * 2
    humaneval = {i.bank for i in plan.items if i.key.dataset == "humaneval"}
    mbpp = {i.bank for i in plan.items if i.key.dataset == "mbpp"}
    assert humaneval == mbpp, "HumanEval reads the banks built from MBPP train"
    assert len(plan.banks) == 6


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"conditions": ["vanilla", "memcolab"]}, r"conditions: unknown condition\(s\) \['memcolab'\]"),
        ({"consumers": ["huge"]}, r"consumers: unknown agent\(s\) \['huge'\]"),
        ({"retrieval": "dense"}, r"retrieval: Input should be 'task_aware' or 'embedding_only'"),
        ({"k": 0}, r"k: Input should be greater than 0"),
        ({"colour": "blue"}, r"colour: unknown key"),
        ({"datasets": [{"name": "toy", "eval": {"path": "dev.jsonl"}}]}, r"datasets: \['toy'\] have no train file"),
        ({"conditions": []}, r"conditions: nothing to evaluate"),
        ({"builders": ["big"], "consumers": ["big"], "conditions": ["memcollab"]}, r"conditions: .*two agents"),
        ({"consumers": ["small"], "builders": ["big"]}, r"consumers: \['small'\] are not builders"),
        ({"team": "missing.toml"}, r"team = 'missing.toml'.*does not exist"),
        ({"team": {"agents": []}}, r"(?s)\[team\] table.*agents: List should have at least 1 item"),
    ],
)
def test_configuration_errors_name_the_field_and_the_fix(
    tmp_path: Path, override: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_config(tmp_path, **override)


def test_a_team_file_is_read_relative_to_the_evaluation_file(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "team.toml").write_text(
        '[[agents]]\nname = "a"\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8"
    )
    (tmp_path / "configs" / "eval.toml").write_text(
        'team = "team.toml"\nconditions = ["vanilla"]\n[[datasets]]\nname = "d"\neval = { path = "../dev.jsonl" }\n',
        encoding="utf-8",
    )
    write_tasks(tmp_path / "dev.jsonl", DEV)
    config = load_eval_config(tmp_path / "configs" / "eval.toml")
    assert config.run_id == "eval"
    assert config.team.agents[0].name == "a"
    assert [t.id for t in load_datasets(config)[0].eval_tasks] == ["t10", "t11", "t12"]
    assert config.team_for_run().memory.store == str(config.run_directory / "memory")


def test_limited_caps_the_evaluation_tasks_only(tmp_path: Path) -> None:
    config = make_config(tmp_path).limited(1)
    datasets = load_datasets(config)
    assert [len(d.eval_tasks) for d in datasets] == [1, 1]
    assert all(d.train is not None and len(d.train.tasks) == len(TRAIN) for d in datasets)
