"""The evaluation configuration: a team, data sets, conditions and consumers, read from TOML.

A file such as::

    run_id = "first"                      # the run's directory name; default the file's stem
    results = "../results"                # runs live in <results>/<run_id>
    team = "local-team.toml"              # a team configuration file, or an embedded [team] table
    conditions = ["vanilla", "naive_transfer", "memcollab"]
    consumers = ["qwen-0.5b", "qwen-1.5b"]    # agents evaluated; default the builders
    builders = ["qwen-0.5b", "qwen-1.5b"]     # whose trajectories build memory; default every agent
    retrieval = "task_aware"              # or "embedding_only" (the ablation)
    k = 3
    max_concurrency = 1
    cache = "../results/llm-cache.sqlite" # LLM response cache shared by runs; omit to disable
    seed = 0
    curated = "constraints.jsonl"         # constraints of the "curated" condition (listed in conditions)

    [[datasets]]
    name = "gsm8k"
    train = { path = "../../shared/data/gsm8k_train.jsonl", limit = 100 }
    eval = { path = "../../shared/data/gsm8k_dev.jsonl", limit = 100 }

    [transfer_matrix]                     # optional: memory built from A, B, A+B used by A, B, C
    builders = [["qwen-0.5b"], ["qwen-1.5b"], ["qwen-0.5b", "qwen-1.5b"]]
    consumers = ["qwen-0.5b", "qwen-1.5b", "smollm2"]

Relative paths are resolved against the directory of the file that contains them. Every table
rejects unknown keys, and a validation error names the field and the fix.

How the pieces relate: the standard conditions (:func:`~memcollab_langgraph.evaluation.standard_conditions`)
resolve ``self``, ``others`` and ``all`` within ``builders``, so every consumer of a standard
condition must be a builder. An agent that only consumes memory (a model of another family) is
evaluated through the transfer matrix, whose builder sets are explicit.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from memcollab_langgraph.config import (
    Config,
    MemoryConfig,
    load_config,
    parse_config,
    read_toml,
    validate_config,
)
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation.conditions import (
    CURATED,
    VANILLA,
    Condition,
    EvalCell,
    curated_condition,
    standard_conditions,
    transfer_matrix_conditions,
)
from memcollab_langgraph.memory.models import DEFAULT_FALLBACK, FallbackLevel
from memcollab_langgraph.nodes.prompts import DEFAULT_CONSTRAINTS_PREAMBLE
from memcollab_langgraph.tasks import TaskFormat

__all__ = [
    "ACCEPTED_CONDITIONS",
    "CONDITION_NAMES",
    "DatasetConfig",
    "EvalConfig",
    "TaskFileConfig",
    "TransferMatrixConfig",
    "apply_overrides",
    "load_eval_config",
    "parse_eval_config",
]

CONDITION_NAMES: tuple[str, ...] = tuple(c.name for c in standard_conditions())
"""The paper's baselines and MemCollab: the default ``conditions``."""

ACCEPTED_CONDITIONS: tuple[str, ...] = (*CONDITION_NAMES, CURATED)
"""Names accepted in ``conditions``: :data:`CONDITION_NAMES` and ``"curated"`` (constraints from the
``curated`` file)."""

RUN_MEMORY_COLLECTION = "memcollab-eval"
"""The Chroma collection of a run's memory store, ``<run dir>/memory``."""

_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskFileConfig(_Strict):
    """A window of a task file (JSON Lines, see :func:`~memcollab_langgraph.tasks.load_tasks`)."""

    path: Path
    """The file, relative to the evaluation configuration's directory."""
    format: TaskFormat | None = None
    """``gsm8k``, ``math``, ``mbpp``, ``humaneval`` or ``generic``; detected from the first record by default."""
    limit: int | None = Field(default=None, ge=0)
    """Read at most this many tasks."""
    offset: int = Field(default=0, ge=0)
    """Skip this many records first."""


class DatasetConfig(_Strict):
    """One data set: the tasks evaluated and the training tasks its memory is built from."""

    name: str
    """Name in results and reports (letters, digits, ``_ . -``)."""
    eval: TaskFileConfig
    """The evaluation tasks."""
    train: TaskFileConfig | None = None
    """The training tasks memory is built from (required with memory conditions). Data sets with the
    same training tasks share their memory banks (HumanEval evaluated with memory from MBPP train)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _DATASET_NAME.match(value):
            raise ValueError(f"data set name {value!r} must start with a letter or digit and contain only '_ . -'")
        return value


class TransferMatrixConfig(_Strict):
    """Memory built from each builder set, used by each consumer (see :func:`transfer_matrix_conditions`)."""

    builders: list[list[str]] = Field(min_length=1)
    """Builder sets, e.g. ``[["a"], ["b"], ["a", "b"]]``; one agent is distilled with
    ``single_method``, several are contrasted with ``multi_method``."""
    consumers: list[str] = Field(min_length=1)
    single_method: Literal["self", "naive_transfer"] = "self"
    multi_method: Literal["contrastive"] = "contrastive"


class EvalConfig(_Strict):
    """A whole evaluation configuration; see the module docstring for the file format."""

    team: Config
    """The agents (their models and endpoints), the distiller, the classifier and the taxonomy."""
    run_id: str = Field(min_length=1)
    """The run's directory name; re-running the same run id resumes it."""
    results: Path = Path("results")
    """Directory holding one sub-directory per run."""
    datasets: list[DatasetConfig] = Field(min_length=1)
    conditions: list[str] = Field(default_factory=lambda: list(CONDITION_NAMES))
    """Conditions applied to every consumer (:data:`ACCEPTED_CONDITIONS`); default the paper's five."""
    curated: Path | None = None
    """Constraints of the ``curated`` condition: JSON Lines, one constraint object (``when``, ``enforce``,
    ``avoid``, ``category``) or one record exported by :meth:`~memcollab_langgraph.memory.MemoryBank.export_jsonl`
    per line."""
    consumers: list[str] | None = None
    """Agents evaluated under ``conditions``; default every builder."""
    builders: list[str] | None = None
    """Agents whose trajectories build the memory of the standard conditions; default every agent."""
    transfer_matrix: TransferMatrixConfig | None = None
    retrieval: Literal["task_aware", "embedding_only"] = "task_aware"
    """How memory conditions retrieve: by task category (MemCollab) or the whole domain (ablation)."""
    k: int = Field(default=3, gt=0)
    """Constraints retrieved per task (the paper's p)."""
    fallback: FallbackLevel = DEFAULT_FALLBACK
    """The coarsest level task-aware retrieval falls back to when the task's category has fewer than ``k``
    constraints: ``"exact"``, ``"category"`` (a subcategory's parent) or ``"domain"`` (any category)."""
    classifier: Literal["consumer", "team"] = "consumer"
    """Who classifies evaluation tasks for retrieval: the consumer's own model, or the team's [classifier]."""
    constraints_preamble: str = Field(default=DEFAULT_CONSTRAINTS_PREAMBLE, min_length=1)
    """What the solver's system prompt says before the retrieved constraints (memory conditions)."""
    max_turns: int | None = Field(default=None, gt=0)
    """Reasoning turns per solve; default the team's ``max_turns``."""
    stop_on_repeat: bool = False
    """End an evaluation solve when a reply repeats the previous reply's program (or text) instead of asking
    again. The solves that build memory banks are not affected: their trajectories stay as before."""
    max_concurrency: int = Field(default=1, gt=0)
    """Tasks built and items solved at the same time."""
    retries: int = Field(default=3, gt=0)
    """Attempts per model-calling node on transient errors (connection, timeout, rate limit, 5xx)."""
    max_consecutive_failures: int = Field(default=5, gt=0)
    """Items in a row failing with such errors (after their retries) that stop the run: the server is down."""
    cache: Path | None = None
    """SQLite file of the LLM response cache (shared by runs); ``None`` disables it."""
    seed: int = 0
    """Sent to models that take a ``seed`` (all but the self-contrast samples); also the bootstrap seed."""
    self_contrast_samples: int = Field(default=2, ge=2)
    """Samples per training task for ``self_contrast``."""
    self_contrast_temperature: float = Field(default=0.7, gt=0.0, le=2.0)
    """Sampling temperature of the self-contrast samples of an agent configured at temperature 0."""
    build_failure_tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    """Fraction of a bank's training tasks whose build may fail (after retries) for the bank to be used."""
    source: Path | None = Field(default=None, exclude=True)
    """The file this configuration was read from."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [a.name for a in self.team.agents]
        unknown = [c for c in self.conditions if c not in ACCEPTED_CONDITIONS]
        if unknown:
            raise ValueError(f"conditions: unknown condition(s) {unknown}; use names of {list(ACCEPTED_CONDITIONS)}")
        if len(set(self.conditions)) != len(self.conditions):
            raise ValueError(f"conditions: a name is listed twice in {self.conditions}")
        if (CURATED in self.conditions) != (self.curated is not None):
            raise ValueError(
                f"curated: the {CURATED!r} condition reads its constraints from this file; set curated = "
                '"constraints.jsonl" when conditions list it'
                if self.curated is None
                else f"curated = {str(self.curated)!r}: no condition reads it; add {CURATED!r} to conditions or "
                "remove curated"
            )
        _known("builders", self.builders or [], names)
        _known("consumers", self.consumers or [], names)
        outside = [c for c in self.consumer_names if c not in self.builder_names]
        memory_conditions = [c for c in self.conditions if c not in (VANILLA, CURATED)]
        if outside and memory_conditions:
            raise ValueError(
                f"consumers: {outside} are not builders {self.builder_names}, but the conditions "
                f"{memory_conditions} resolve 'self', 'others' and 'all' within the builders; add them to "
                "builders, or evaluate them through [transfer_matrix]"
            )
        if self.transfer_matrix is not None:
            for group in self.transfer_matrix.builders:
                _known("transfer_matrix.builders", group, names)
            _known("transfer_matrix.consumers", self.transfer_matrix.consumers, names)
        elif not self.conditions:
            raise ValueError("conditions: nothing to evaluate; list conditions, or add a [transfer_matrix] table")
        datasets = [d.name for d in self.datasets]
        if len(set(datasets)) != len(datasets):
            raise ValueError(f"datasets: names must be unique; got {datasets}")
        try:
            cells = self.cells()
        except ConfigurationError as e:
            raise ValueError(f"conditions: {e}") from None
        if any(cell.condition.method is not None for cell in cells):
            missing = [d.name for d in self.datasets if d.train is None]
            if missing:
                raise ValueError(
                    f"datasets: {missing} have no train file, but distilled memory conditions build memory from it; "
                    'add train = { path = "..." } (HumanEval, which has no train split, can use MBPP train)'
                )
        return self

    # -- what the configuration describes --------------------------------------------------------

    @property
    def builder_names(self) -> list[str]:
        """The agents building the memory of the standard conditions."""
        return list(self.builders) if self.builders is not None else [a.name for a in self.team.agents]

    @property
    def consumer_names(self) -> list[str]:
        """The agents evaluated under the standard conditions."""
        return list(self.consumers) if self.consumers is not None else self.builder_names

    def standard_conditions(self) -> list[Condition]:
        """The configured conditions (the paper's, and ``curated``), with this configuration's ``k`` and
        retrieval variant, in report order."""
        known = [
            *standard_conditions(k=self.k, self_contrast_samples=self.self_contrast_samples),
            curated_condition(k=self.k),
        ]
        return [self._with_retrieval(c) for c in known if c.name in self.conditions]

    def _with_retrieval(self, condition: Condition) -> Condition:
        if not condition.uses_memory:
            return condition
        return dataclasses.replace(condition, retrieval=self.retrieval, ranker=None)

    def cells(self) -> list[EvalCell]:
        """Every (condition, consumer) evaluated, standard conditions first, without repeats.

        Raises:
            ConfigurationError: A condition cannot serve a consumer (a contrast of fewer than two
                builders, naive transfer without another builder...).
        """
        cells: list[EvalCell] = []
        for condition in self.standard_conditions():
            for consumer in self.consumer_names:
                condition.builders_for(consumer, self.team_of(condition))
                cells.append(EvalCell(condition, consumer))
        if self.transfer_matrix is not None:
            matrix = transfer_matrix_conditions(
                self.transfer_matrix.builders,
                self.transfer_matrix.consumers,
                k=self.k,
                single_method=self.transfer_matrix.single_method,
                multi_method=self.transfer_matrix.multi_method,
            )
            team = [a.name for a in self.team.agents]
            for cell in matrix:
                condition = self._with_retrieval(cell.condition)
                condition.builders_for(cell.agent, team)
                cells.append(EvalCell(condition, cell.agent))
        seen: set[tuple[str, str]] = set()
        unique: list[EvalCell] = []
        for cell in cells:
            if (cell.condition.name, cell.agent) not in seen:
                seen.add((cell.condition.name, cell.agent))
                unique.append(cell)
        return unique

    def team_of(self, condition: Condition) -> list[str]:
        """The agents ``condition`` resolves its builders within (builders, or the whole team for transfers
        and for the conditions without builders)."""
        if condition.memory in ("agents", "file", "none"):
            return [a.name for a in self.team.agents]
        return self.builder_names

    def resolve(self, path: str | Path) -> Path:
        """``path`` relative to the configuration file's directory (the working directory without one)."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.source is None:
            return p
        return self.source.parent / p

    @property
    def results_root(self) -> Path:
        """The directory of runs, absolute."""
        return self.resolve(self.results).resolve()

    @property
    def run_directory(self) -> Path:
        """``<results>/<run_id>``: items, plan, report, checkpoints and the run's memory store."""
        return self.results_root / self.run_id

    @property
    def turns(self) -> int:
        """Reasoning turns per solve in effect."""
        return self.max_turns if self.max_turns is not None else self.team.max_turns

    def team_for_run(self) -> Config:
        """The team configuration with its memory store moved into the run directory.

        Every run builds its banks in its own embedded Chroma store (``<run dir>/memory``), so an
        evaluation never writes into a team's working memory and a resumed run finds its banks.
        """
        memory: MemoryConfig = self.team.memory.model_copy(
            update={"store": str(self.run_directory / "memory"), "collection": RUN_MEMORY_COLLECTION}
        )
        return self.team.model_copy(update={"memory": memory, "max_concurrency": self.max_concurrency})

    def limited(self, limit: int) -> EvalConfig:
        """A copy evaluating at most ``limit`` tasks per data set (training tasks unchanged, so the
        banks, and the finished items of a later full run with the same run id, are the same).

        Raises:
            ConfigurationError: ``limit`` is negative.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigurationError(f"limit must be an integer >= 0, got {limit!r}")
        datasets = []
        for d in self.datasets:
            capped = limit if d.eval.limit is None else min(limit, d.eval.limit)
            datasets.append(d.model_copy(update={"eval": d.eval.model_copy(update={"limit": capped})}))
        return self.model_copy(update={"datasets": datasets})


def _known(field: str, chosen: list[str], names: list[str]) -> None:
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise ValueError(f"{field}: unknown agent(s) {unknown}; the team's agents are {names}")


def _team(value: Any, source: Path | None) -> Config:
    base = source.parent if source is not None else Path.cwd()
    if isinstance(value, str):
        path = Path(value).expanduser()
        try:
            return load_config(path if path.is_absolute() else base / path)
        except ConfigurationError as e:
            raise ConfigurationError(f"team = {value!r}: {e}") from None
    if isinstance(value, Mapping):
        try:
            return parse_config(dict(value), source=source)
        except ConfigurationError as e:
            raise ConfigurationError(f"[team] table: {e}") from None
    if value is None:
        raise ConfigurationError(
            'team: required key is missing; name a team configuration file (team = "local-team.toml") '
            "or embed one as a [team] table with [[team.agents]]"
        )
    raise ConfigurationError(f"team must be a file name or a [team] table, got {type(value).__name__}: {value!r}")


def parse_eval_config(data: Mapping[str, Any], *, source: Path | None = None) -> EvalConfig:
    """Validate an evaluation configuration mapping (as read from TOML).

    ``run_id`` defaults to the stem of ``source``.

    Raises:
        ConfigurationError: A field is invalid (every problem is listed with its field), or the
            team configuration is.

    Example:
        >>> config = parse_eval_config({
        ...     "run_id": "demo",
        ...     "team": {"agents": [{"name": "a", "base_url": "http://127.0.0.1:9/v1"},
        ...                         {"name": "b", "base_url": "http://127.0.0.1:9/v1"}]},
        ...     "conditions": ["vanilla", "memcollab"],
        ...     "datasets": [{"name": "toy", "train": {"path": "train.jsonl"}, "eval": {"path": "dev.jsonl"}}],
        ... })
        >>> [(c.condition.name, c.agent) for c in config.cells()]
        [('vanilla', 'a'), ('vanilla', 'b'), ('memcollab', 'a'), ('memcollab', 'b')]
    """
    values = dict(data)
    values["team"] = _team(values.get("team"), source)
    if "run_id" not in values and source is not None:
        values["run_id"] = source.stem
    return validate_config(EvalConfig, values, what="evaluation configuration", source=source)


def load_eval_config(path: str | Path, overrides: Sequence[str] = ()) -> EvalConfig:
    """Read and validate an evaluation configuration file (TOML), with ``KEY=VALUE`` overrides.

    Args:
        path: The TOML file.
        overrides: Settings replacing the file's, e.g. ``"fallback=domain"``, ``"k=2"``,
            ``"team.max_turns=2"`` (a dotted key reaches into a table). The value is read as a TOML
            value, or taken as a string when it is not one (``domain`` is ``"domain"``).

    Raises:
        ConfigurationError: The file is missing, not TOML, an override is malformed, or a field is invalid.
    """
    data, file = read_toml(path, what="evaluation configuration", examples="configs/eval-*.toml")
    return parse_eval_config(apply_overrides(data, overrides), source=file)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``data`` with each ``KEY=VALUE`` of ``overrides`` set (see :func:`load_eval_config`); ``data`` is unchanged.

    Example:
        >>> apply_overrides({"k": 3, "team": {"max_turns": 3}}, ["k=2", "team.max_turns=1", "fallback=domain"])
        {'k': 2, 'team': {'max_turns': 1}, 'fallback': 'domain'}
    """
    out = copy.deepcopy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts):
            raise ConfigurationError(f"override {override!r} is not KEY=VALUE; e.g. --set fallback=domain --set k=2")
        try:
            value = tomllib.loads(f"value = {raw.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        table = out
        for part in parts[:-1]:
            inner = table.setdefault(part.strip(), {})
            if not isinstance(inner, dict):
                raise ConfigurationError(f"override {override!r}: {part.strip()!r} is a value, not a table")
            table = inner
        table[parts[-1].strip()] = value
    return out
