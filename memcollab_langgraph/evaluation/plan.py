"""The plan of an evaluation run, computed before anything runs: tasks, items, banks and metadata.

:func:`load_datasets` reads the task files of an
:class:`~memcollab_langgraph.evaluation.config.EvalConfig`; :func:`plan_evaluation` (pure) refuses
leakage, then lists every item, (data set, condition, consumer, task), in the order the runner
solves them, and the memory banks they read. A bank is named after its condition's method and
builders (:meth:`~memcollab_langgraph.evaluation.Condition.bank_name`) and its training tasks
(:attr:`TrainSet.key`): data sets with the same training tasks, and conditions that need the same
memory, share one bank, which is built once. The ``curated`` condition's constraints are read from
their file (:func:`load_curated`) into one bank named after their content.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation.conditions import CURATED, Condition, check_no_leakage
from memcollab_langgraph.evaluation.config import EvalConfig
from memcollab_langgraph.evaluation.results import ItemKey, ResultsStore, RunPlan
from memcollab_langgraph.memory import jsonl
from memcollab_langgraph.nodes import DistillerMethod, StoryCheck
from memcollab_langgraph.nodes.prompts import DEFAULT_CONSTRAINTS_PREAMBLE
from memcollab_langgraph.runtime import open_taxonomy
from memcollab_langgraph.schema import Constraint, Task
from memcollab_langgraph.tasks import load_tasks

__all__ = [
    "SETTINGS_BEFORE_THEY_EXISTED",
    "BankPlan",
    "CuratedBank",
    "EvaluationPlan",
    "LoadedDataset",
    "TrainSet",
    "WorkItem",
    "check_same_settings",
    "load_curated",
    "load_datasets",
    "plan_evaluation",
]


@dataclass(frozen=True)
class TrainSet:
    """The training tasks a data set's memory is built from."""

    label: str
    """Where they come from: ``<file>[offset:offset+limit]``."""
    key: str
    """Part of the bank name: the file's stem and a digest of the task ids."""
    tasks: tuple[Task, ...]
    story_check: StoryCheck | None = None
    """The distiller's story check, its rare words taken from the whole training file (or the team's
    ``story_reference``)."""
    story_note: str = ""
    """What was decided about the story check, and why."""


@dataclass(frozen=True)
class LoadedDataset:
    """A data set's evaluation tasks and training tasks, read from their files."""

    name: str
    eval_tasks: tuple[Task, ...]
    train: TrainSet | None


@dataclass(frozen=True)
class BankPlan:
    """One memory bank to build: from whose trajectories, how, from which training tasks."""

    name: str
    method: DistillerMethod
    samples: int
    builders: tuple[str, ...]
    sources: tuple[str | None, ...]
    """One build run per entry: its ``source_agent`` (``None``: one run over all builders)."""
    train: TrainSet

    def thread_prefix(self, source: str | None) -> str:
        """Checkpointer threads of one build run: ``<bank>:<source or "all">:<task id>``."""
        return f"{self.name}:{source or 'all'}"


@dataclass(frozen=True)
class CuratedBank:
    """The ``curated`` condition's memory: constraints read from a file, imported as they are."""

    name: str
    """``curated-<file stem>-<digest of the constraints>``: another file content is another bank."""
    path: Path
    constraints: tuple[Constraint, ...]

    @property
    def source(self) -> str:
        """Where the memory came from, in results and reports: ``file:<file name>``."""
        return f"file:{self.path.name}"

    def describe(self) -> dict[str, Any]:
        """The bank in a run's plan (``plan.json``, ``--dry-run``)."""
        return {"method": CURATED, "file": str(self.path), "constraints": len(self.constraints)}


@dataclass(frozen=True)
class WorkItem:
    """One task solved by one consumer under one condition."""

    key: ItemKey
    task: Task
    condition: Condition
    bank: str | None
    memory_source: tuple[str, ...]
    """The agents whose trajectories built the bank, or ``file:<name>`` for curated constraints."""


@dataclass(frozen=True)
class EvaluationPlan:
    """Everything a run will do, in order; see :func:`plan_evaluation`."""

    run_id: str
    items: tuple[WorkItem, ...]
    banks: Mapping[str, BankPlan]
    """The banks distilled from training tasks."""
    conditions: tuple[Condition, ...]
    metadata: Mapping[str, Any]
    curated: CuratedBank | None = None
    """The bank of constraints read from a file, when the ``curated`` condition is evaluated."""

    def run_plan(self) -> RunPlan:
        """The ``plan.json`` of the run."""
        return RunPlan.of(self.run_id, [i.key for i in self.items], self.conditions, self.metadata)


def _slug(text: str, limit: int = 20) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit] or "tasks"


def _window(path: Path, limit: int | None, offset: int) -> str:
    end = "" if limit is None else str(offset + limit)
    return f"{path.name}[{offset}:{end}]"


def load_datasets(config: EvalConfig) -> list[LoadedDataset]:
    """Read every data set's evaluation and training tasks.

    Raises:
        ConfigurationError: A file cannot be read or parsed, or a file repeats a task id.
    """
    out: list[LoadedDataset] = []
    for dataset in config.datasets:
        spec = dataset.eval
        path = config.resolve(spec.path)
        tasks = tuple(load_tasks(path, format=spec.format, limit=spec.limit, offset=spec.offset))
        _check_unique_ids(tasks, f"data set {dataset.name!r}: evaluation file {path}")
        train: TrainSet | None = None
        if dataset.train is not None:
            tspec = dataset.train
            tpath = config.resolve(tspec.path)
            ttasks = tuple(load_tasks(tpath, format=tspec.format, limit=tspec.limit, offset=tspec.offset))
            _check_unique_ids(ttasks, f"data set {dataset.name!r}: train file {tpath}")
            digest = hashlib.sha256("\x1f".join(sorted(t.id for t in ttasks)).encode()).hexdigest()[:8]
            story_check, story_note = config.team.story_check(tpath, format=tspec.format)
            train = TrainSet(
                label=_window(tpath, tspec.limit, tspec.offset),
                key=f"{_slug(tpath.stem)}-{digest}",
                tasks=ttasks,
                story_check=story_check,
                story_note=story_note,
            )
        out.append(LoadedDataset(name=dataset.name, eval_tasks=tasks, train=train))
    return out


def load_curated(config: EvalConfig) -> CuratedBank | None:
    """Read the ``curated`` condition's constraints (``None`` when the configuration has none).

    Raises:
        ConfigurationError: The file cannot be read, a line is not a constraint (naming the line), a
            category is not in the team's taxonomy (naming the constraint), or the file holds none.
    """
    if config.curated is None:
        return None
    path = config.resolve(config.curated)
    constraints = jsonl.read(path)
    if not constraints:
        raise ConfigurationError(
            f"curated = {str(config.curated)!r}: {path} holds no constraints; write one JSON object per line "
            '({"when": ..., "enforce": ..., "avoid": ..., "category": "math/prealgebra"})'
        )
    taxonomy = open_taxonomy(config.team)
    for number, constraint in enumerate(constraints, start=1):
        try:
            taxonomy.validate_path(constraint.category)
        except ConfigurationError as e:
            raise ConfigurationError(f"{path}: constraint {number} ({constraint.text[:60]!r}...): {e}") from None
    digest = hashlib.sha256("\x1f".join(sorted(c.fingerprint for c in constraints)).encode()).hexdigest()[:8]
    return CuratedBank(name=f"curated-{_slug(path.stem)}-{digest}", path=path, constraints=tuple(constraints))


def _check_unique_ids(tasks: Sequence[Task], where: str) -> None:
    seen: set[str] = set()
    repeated: set[str] = set()
    for task in tasks:
        (repeated if task.id in seen else seen).add(task.id)
    if repeated:
        raise ConfigurationError(f"{where} repeats task id(s) {sorted(repeated)[:10]}; task ids must be unique")


def _check_leakage(datasets: Sequence[LoadedDataset]) -> None:
    problems: list[str] = []
    for dataset in datasets:
        if dataset.train is None:
            continue
        try:
            check_no_leakage(dataset.train.tasks, dataset.eval_tasks)
        except ConfigurationError as e:
            problems.append(f"data set {dataset.name!r} (memory from {dataset.train.label}): {e}")
    if problems:
        raise ConfigurationError("refusing to evaluate on training tasks:\n  " + "\n  ".join(problems))


def plan_evaluation(
    config: EvalConfig, datasets: Sequence[LoadedDataset], curated: CuratedBank | None = None
) -> EvaluationPlan:
    """Every item of the run in the order it is solved, and the banks the items read.

    ``curated`` is the ``curated`` condition's memory (:func:`load_curated`), required when the
    configuration evaluates it.

    The leakage guard runs first. Items are ordered data set, consumer, task, condition (why: see
    :mod:`memcollab_langgraph.evaluation.runner`). A bank is named after its condition's method and builders
    (:meth:`Condition.bank_name`) and its training tasks (:attr:`TrainSet.key`), so data sets with
    the same training tasks, and conditions needing the same memory, share it.

    Raises:
        ConfigurationError: An evaluation task was used to build its memory (naming the data set
            and the task ids), a data set with memory conditions has no training tasks, or the
            ``curated`` condition is evaluated without its constraints.
    """
    _check_leakage(datasets)
    cells = config.cells()
    if curated is None and any(c.condition.name == CURATED for c in cells):
        raise ConfigurationError(
            f"the {CURATED!r} condition needs its constraints: plan_evaluation(config, datasets, load_curated(config))"
        )
    consumers = list(dict.fromkeys(cell.agent for cell in cells))
    banks: dict[str, BankPlan] = {}
    items: list[WorkItem] = []
    for dataset in datasets:
        for consumer in consumers:
            resolved: list[tuple[Condition, str | None, tuple[str, ...]]] = []
            for cell in (c for c in cells if c.agent == consumer):
                if cell.condition.memory == "file" and curated is not None:
                    resolved.append((cell.condition, curated.name, (curated.source,)))
                    continue
                bank = _bank_for(config, cell.condition, consumer, dataset, banks)
                builders = cell.condition.builders_for(consumer, config.team_of(cell.condition))
                resolved.append((cell.condition, bank, builders))
            for task in dataset.eval_tasks:
                for condition, bank, source in resolved:
                    key = ItemKey(condition.name, consumer, dataset.name, task.id)
                    items.append(WorkItem(key=key, task=task, condition=condition, bank=bank, memory_source=source))
    conditions = tuple({c.condition.name: c.condition for c in cells}.values())
    metadata = _metadata(config, datasets, banks, items, curated)
    return EvaluationPlan(config.run_id, tuple(items), banks, conditions, metadata, curated)


def _bank_for(
    config: EvalConfig, condition: Condition, consumer: str, dataset: LoadedDataset, banks: dict[str, BankPlan]
) -> str | None:
    team = config.team_of(condition)
    base = condition.bank_name(consumer, team)
    if base is None or condition.method is None:
        return None
    if dataset.train is None:
        raise ConfigurationError(
            f"data set {dataset.name!r}: condition {condition.name!r} needs memory built from training tasks; "
            "add a train file to the data set"
        )
    name = f"{base}-{dataset.train.key}"
    if name not in banks:
        banks[name] = BankPlan(
            name=name,
            method=condition.method,
            samples=condition.samples,
            builders=condition.builders_for(consumer, team),
            sources=condition.single_source_builds(consumer, team),
            train=dataset.train,
        )
    return name


def _fingerprint(config: EvalConfig, datasets: Sequence[LoadedDataset], curated: CuratedBank | None) -> dict[str, Any]:
    """The settings every item of a run must share; a run directory refuses a different fingerprint."""
    team = config.team
    local = dict(team.local.models) if team.local is not None else {}
    agents = {
        a.name: {
            "model": local.get(a.local_alias, a.model_id) if a.local_alias else a.model_id,
            "temperature": a.temperature,
            "max_tokens": a.max_tokens,
            "strength": a.strength,
        }
        for a in team.agents
    }
    train = {d.name: d.train.key for d in datasets if d.train is not None}  # the training tasks, by content
    story = {d.name: d.train.story_check.describe() for d in datasets if d.train and d.train.story_check}
    value = {
        "agents": agents,
        "distiller": team.distiller_name,
        "distiller_labels": team.distiller_labels,
        "distiller_story_check": story,
        "classifier": config.classifier if config.classifier == "consumer" else team.classifier_name,
        "taxonomy": team.memory.taxonomy,
        "max_turns": config.turns,
        "retrieval": config.retrieval,
        "k": config.k,
        "fallback": config.fallback,
        "constraints_preamble": config.constraints_preamble,
        "stop_on_repeat": config.stop_on_repeat,
        "self_contrast": [config.self_contrast_samples, config.self_contrast_temperature],
        "seed": config.seed,
        "train": train,
        "curated": curated.name if curated is not None else None,  # the file's constraints, by content
    }
    normalized: dict[str, Any] = json.loads(json.dumps(value))
    return normalized


def _metadata(
    config: EvalConfig,
    datasets: Sequence[LoadedDataset],
    banks: Mapping[str, BankPlan],
    items: Sequence[WorkItem],
    curated: CuratedBank | None,
) -> dict[str, Any]:
    cells: dict[str, dict[str, dict[str, str | None]]] = {}
    for item in items:
        cells.setdefault(item.key.dataset, {}).setdefault(item.key.condition, {})[item.key.agent] = item.bank
    bank_info: dict[str, dict[str, Any]] = {
        b.name: {"method": b.method, "builders": list(b.builders), "samples": b.samples, "train": b.train.label}
        for b in banks.values()
    }
    if curated is not None:
        bank_info[curated.name] = curated.describe()
    return {
        "fingerprint": _fingerprint(config, datasets, curated),
        "config": str(config.source) if config.source else None,
        "team": str(config.team.source) if config.team.source else None,
        "datasets": {
            d.name: {
                "eval": str(config.resolve(spec.eval.path)),
                "eval_tasks": len(d.eval_tasks),
                "train": d.train.label if d.train else None,
                "train_tasks": len(d.train.tasks) if d.train else 0,
            }
            for d, spec in zip(datasets, config.datasets, strict=True)
        },
        "banks": bank_info,
        "cells": cells,
        "cache": str(config.resolve(config.cache)) if config.cache else None,
        "max_concurrency": config.max_concurrency,
    }


SETTINGS_BEFORE_THEY_EXISTED: dict[str, Any] = {
    "fallback": "domain",
    "distiller_labels": "distiller",
    "distiller_story_check": {},
    "constraints_preamble": DEFAULT_CONSTRAINTS_PREAMBLE,
    "curated": None,
    "stop_on_repeat": False,
}
"""What runs planned before a setting existed did: retrieval fell back to the whole domain, the
distiller labelled each constraint from the taxonomy shown in its prompt, no story check ran, and
the solver was told to follow the constraints where they apply; no constraints were read from a file;
a solve that repeated its previous program went on to its next turn."""


def check_same_settings(results: ResultsStore, plan: EvaluationPlan) -> None:
    """Refuse to add ``plan``'s items to a run directory whose plan was made with other settings."""
    previous = results.read_plan()
    if previous is None:
        return
    before = previous.metadata.get("fingerprint")
    if isinstance(before, dict):
        before = {**SETTINGS_BEFORE_THEY_EXISTED, **before}
    now = plan.metadata["fingerprint"]
    if before == now:
        return
    changed = sorted(k for k in set(now) | set(before or {}) if (before or {}).get(k) != now.get(k))
    raise ConfigurationError(
        f"run {plan.run_id!r} in {results.directory} was started with other settings (changed: {changed}); "
        "results made with different settings must not be mixed: use a new run_id (--run-id) or delete the "
        "run directory"
    )
