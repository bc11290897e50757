"""Per-item evaluation results and their append-only, crash-safe JSONL store.

One :class:`ItemResult` is written per (condition, agent, data set, task) as soon as the item
finishes, to ``<root>/<run id>/items.jsonl``. Each line is written with a single ``write`` on a file
opened in append mode, then flushed and ``fsync``-ed, so a crash loses at most the line being
written. Reading tolerates exactly that: a truncated *last* line is skipped with a warning (it may
also be a line another thread is writing right now: reading during a run is allowed). Any other bad
line is corruption and raises :class:`~memcollab_langgraph.errors.StoreError`.

A re-run skips what is done: :meth:`ResultsStore.finished` gives the keys that have a result without
an ``error``; a failed item is run again and its new line supersedes the old one (the last line of a
key wins, :meth:`ResultsStore.latest`). Several threads of one process may append at once; a run
directory has one writing process at a time.

The planned items of a run are kept next to them in ``plan.json`` (:class:`RunPlan`), so reports
can say how much of a partial run is finished.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from memcollab_langgraph.errors import ConfigurationError, StoreError
from memcollab_langgraph.evaluation.conditions import Condition

__all__ = [
    "ITEMS_FILE",
    "PLAN_FILE",
    "ItemKey",
    "ItemResult",
    "ResultsStore",
    "RunPlan",
    "TruncatedResultWarning",
]

ITEMS_FILE = "items.jsonl"
PLAN_FILE = "plan.json"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TruncatedResultWarning(UserWarning):
    """The last line of a results file is incomplete: a crash mid-write, or a line being written."""


class ItemKey(NamedTuple):
    """What identifies one evaluated item in a run."""

    condition: str
    agent: str
    dataset: str
    task_id: str


class ItemResult(BaseModel):
    """The outcome of one task solved by one agent under one condition.

    ``correct`` is ``None`` when the item failed (``error`` says why) or was not verified; such items
    are left out of accuracies and paired tests, and counted separately.
    """

    model_config = ConfigDict(extra="forbid")

    run_id: str
    condition: str
    agent: str
    """The consumer agent's name."""
    model: str
    """The consumer agent's model id."""
    dataset: str
    task_id: str
    correct: bool | None = None
    answer: str | None = None
    turns: int = 0
    """Reasoning turns of the solve."""
    prompt_tokens: int = 0
    """Prompt tokens of every model call made for this item (classifier and solver)."""
    completion_tokens: int = 0
    """Completion tokens of every model call made for this item."""
    calls: int = 0
    """Model calls made for this item."""
    cached_calls: int = 0
    """Of those, calls answered by the LLM response cache (near-zero latency, the original call's tokens)."""
    tokens_by_step: dict[str, int] = Field(default_factory=dict)
    """Total tokens per step (``"classify"``, ``"solve"``...), to separate overhead from solving."""
    latency_s: float = 0.0
    """Wall-clock seconds of the item, from start to finish."""
    category: str | None = None
    """The category the task was classified into (``domain/category/subcategory``)."""
    retrieved_ids: list[str] = Field(default_factory=list)
    """Ids of the constraints put into the prompt, in rank order."""
    retrieved_levels: list[str] = Field(default_factory=list)
    """The fallback level each of them came from (``exact``, ``category``, ``domain``), in the same order."""
    memory_source: list[str] = Field(default_factory=list)
    """Agents whose trajectories built the memory used (empty without memory)."""
    bank: str | None = None
    """Name of the memory bank read."""
    error: str | None = None
    """Why the item failed (``"TimeoutError: ..."``), ``None`` when it ran to the end."""
    started_at: datetime = Field(default_factory=_utcnow)
    finished_at: datetime = Field(default_factory=_utcnow)
    code_version: str | None = None
    """The library version that produced the result (with the git commit when run from a checkout)."""

    @field_validator("run_id", "condition", "agent", "dataset", "task_id")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def key(self) -> ItemKey:
        return ItemKey(self.condition, self.agent, self.dataset, self.task_id)

    @property
    def finished(self) -> bool:
        """Whether the item ran to the end (it is not run again on resume)."""
        return self.error is None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class RunPlan(BaseModel):
    """What a run intends to evaluate, written before it starts."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    items: list[ItemKey] = Field(default_factory=list)
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    """The conditions as data (see :meth:`RunPlan.of`)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form run settings: models, data set files, seeds."""
    created_at: datetime = Field(default_factory=_utcnow)

    @classmethod
    def of(
        cls,
        run_id: str,
        items: Iterable[ItemKey],
        conditions: Iterable[Condition] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> RunPlan:
        """A plan from keys and :class:`Condition` objects."""
        return cls(
            run_id=run_id,
            items=list(items),
            conditions=[asdict(c) for c in conditions],
            metadata=dict(metadata or {}),
        )


def _parse_line(line: str, number: int, path: Path) -> ItemResult:
    try:
        return ItemResult.model_validate_json(line)
    except ValidationError as e:
        raise StoreError(
            f"{path}:{number}: not a valid result record ({e.errors()[0]['msg']}); the file was edited "
            "or written by another program: fix or remove that line"
        ) from e


class ResultsStore:
    """The results of one run: ``<root>/<run_id>/items.jsonl`` and ``plan.json``.

    Nothing is created until the first write, and reading a run that has not started gives nothing.

    Args:
        root: Directory holding one sub-directory per run.
        run_id: Name of the run (its directory name).

    Example:
        >>> import tempfile
        >>> store = ResultsStore(tempfile.mkdtemp(), "demo")
        >>> store.append(ItemResult(run_id="demo", condition="vanilla", agent="a", model="m",
        ...                         dataset="gsm8k", task_id="1", correct=True))
        >>> [r.correct for r in store.read()], ItemKey("vanilla", "a", "gsm8k", "1") in store.finished()
        ([True], True)
    """

    def __init__(self, root: str | os.PathLike[str], run_id: str) -> None:
        if not run_id or run_id in (".", "..") or "/" in run_id or "\\" in run_id or run_id != run_id.strip():
            raise ConfigurationError(
                f"run id {run_id!r} must be a plain directory name (no '/', not empty or '.'/'..')"
            )
        self.run_id = run_id
        self.directory = Path(root) / run_id
        self._lock = threading.Lock()
        self._repaired = False

    @property
    def items_path(self) -> Path:
        return self.directory / ITEMS_FILE

    @property
    def plan_path(self) -> Path:
        return self.directory / PLAN_FILE

    def _ensure_directory(self) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            _fsync_directory(self.directory.parent)

    def _repair_tail(self) -> None:
        """Cut an incomplete last line left by a crash, so the next record starts on its own line."""
        if self._repaired:
            return
        self._repaired = True
        path = self.items_path
        if not path.exists():
            return
        with path.open("rb+") as f:
            size = f.seek(0, os.SEEK_END)
            keep = _after_last_newline(f, size)
            if keep == size:
                return
            warnings.warn(
                f"{path}: dropped an incomplete last line of {size - keep} bytes (interrupted write)",
                TruncatedResultWarning,
                stacklevel=4,
            )
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())

    def append(self, item: ItemResult) -> None:
        """Write one result durably (one line, flushed and fsync-ed before returning).

        Raises:
            ConfigurationError: The item belongs to another run.
        """
        self.extend([item])

    def extend(self, items: Sequence[ItemResult]) -> None:
        """Write several results, each on its own line, with one fsync at the end."""
        for item in items:
            if item.run_id != self.run_id:
                raise ConfigurationError(f"result of run {item.run_id!r} appended to the store of run {self.run_id!r}")
        if not items:
            return
        data = "".join(item.model_dump_json() + "\n" for item in items).encode()
        with self._lock:
            self._ensure_directory()
            self._repair_tail()
            fd = os.open(self.items_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)

    async def aappend(self, item: ItemResult) -> None:
        """Async :meth:`append`: the write and fsync run in a worker thread."""
        await asyncio.to_thread(self.append, item)

    def read(self) -> list[ItemResult]:
        """Every result line, oldest first (including superseded failures); see :meth:`latest`.

        Raises:
            StoreError: A line other than the last is not a valid record.
        """
        path = self.items_path
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        lines = text.split("\n")
        tail = lines.pop()  # "" when the file ends with a newline, else an incomplete last line
        out = [_parse_line(line, i, path) for i, line in enumerate(lines, 1) if line.strip()]
        if tail.strip():
            warnings.warn(
                f"{path}:{len(lines) + 1}: ignored an incomplete last line (a crash mid-write, or a "
                "line being written now)",
                TruncatedResultWarning,
                stacklevel=2,
            )
        return out

    def latest(self) -> list[ItemResult]:
        """One result per key, the last written, in order of first appearance."""
        by_key: dict[ItemKey, ItemResult] = {}
        for item in self.read():
            by_key[item.key] = item
        return list(by_key.values())

    def finished(self) -> set[ItemKey]:
        """Keys whose latest result ran to the end: a re-run skips them; failed items run again."""
        return {item.key for item in self.latest() if item.finished}

    def write_plan(self, plan: RunPlan) -> None:
        """Write ``plan.json`` atomically (temporary file, fsync, rename)."""
        if plan.run_id != self.run_id:
            raise ConfigurationError(f"plan of run {plan.run_id!r} written to the store of run {self.run_id!r}")
        with self._lock:
            self._ensure_directory()
            tmp = self.plan_path.with_suffix(".json.tmp")
            with tmp.open("w", encoding="utf-8") as f:
                f.write(plan.model_dump_json(indent=2))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.plan_path)
            _fsync_directory(self.directory)

    def read_plan(self) -> RunPlan | None:
        """The run's plan, ``None`` when none was written.

        Raises:
            StoreError: ``plan.json`` exists but is not a valid plan.
        """
        try:
            text = self.plan_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return RunPlan.model_validate(json.loads(text))
        except (ValueError, ValidationError) as e:
            raise StoreError(f"{self.plan_path}: not a valid run plan ({e}); rewrite it with write_plan") from e


def _after_last_newline(f: BinaryIO, size: int, block: int = 65_536) -> int:
    """Offset just past the last newline of a file (0 if none), reading backwards from the end."""
    end = size
    while end > 0:
        start = max(0, end - block)
        f.seek(start)
        chunk = f.read(end - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def _fsync_directory(path: Path) -> None:
    """Make a new directory entry durable; not possible (nor needed) on every platform."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
