"""What each evaluation item's solver saw and said: ``<run>/transcripts.jsonl``, read back per task.

``items.jsonl`` keeps one compact :class:`~memcollab_langgraph.evaluation.ItemResult` per item, enough
for the report. To see *why* memory changed an answer, one needs the conversation: the constraints
that were put in the prompt, the model's replies, the sandbox feedback and the verifier's verdict.
The runner appends a :class:`Transcript` for every finished item (before its result, so a finished
item has one; :func:`~memcollab_langgraph.evaluation.collect.transcript_from_solve` builds it), and
``memcollab eval show RUN TASK`` prints the transcripts of one task side by side.

Transcripts are diagnostics: they are flushed but not fsync-ed per item, and a re-solved item (a
retried failure) appends a newer transcript that replaces the older one on reading.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.evaluation.results import ItemKey, TruncatedResultWarning

__all__ = ["TRANSCRIPTS_FILE", "RetrievedConstraint", "Transcript", "TranscriptLog"]

TRANSCRIPTS_FILE = "transcripts.jsonl"


class RetrievedConstraint(BaseModel):
    """A constraint put in the solver's prompt: its id, text, category and the fallback level it came from."""

    id: str
    text: str
    category: str
    level: str


class Transcript(BaseModel):
    """One item's solve: the constraints retrieved, the conversation and the verdict."""

    run_id: str
    condition: str
    agent: str
    dataset: str
    task_id: str
    category: str | None = None
    retrieved: list[RetrievedConstraint] = []
    messages: list[dict[str, Any]] = []
    """The solver's conversation (system prompt with the constraints, task, replies, feedback)."""
    answer: str | None = None
    correct: bool | None = None
    verdict: str | None = None
    """The verifier's explanation."""
    stop_reason: str | None = None

    @property
    def key(self) -> ItemKey:
        return ItemKey(self.condition, self.agent, self.dataset, self.task_id)


class TranscriptLog:
    """``<run directory>/transcripts.jsonl``: append one transcript per finished item, read them per task."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / TRANSCRIPTS_FILE
        self._lock = threading.Lock()

    def append(self, transcript: Transcript) -> None:
        line = transcript.model_dump_json() + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                if f.tell() > 0 and not _ends_with_newline(self.path):
                    f.write("\n")  # after a crash mid-line: the next transcript starts on its own line
                f.write(line)
                f.flush()

    def latest(self) -> dict[ItemKey, Transcript]:
        """The last transcript of every item (an incomplete or unreadable line is skipped with a warning)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return {}
        out: dict[ItemKey, Transcript] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                transcript = Transcript.model_validate_json(line)
            except ValidationError:
                warnings.warn(
                    f"{self.path}:{number}: skipped an unreadable transcript line", TruncatedResultWarning, stacklevel=2
                )
                continue
            out[transcript.key] = transcript
        return out

    def for_task(self, task_id: str) -> list[Transcript]:
        """The transcripts of one task (every condition and agent), in the order they were written.

        Raises:
            ConfigurationError: The run has no transcript of that task.
        """
        found = [t for t in self.latest().values() if t.task_id == task_id]
        if not found:
            raise ConfigurationError(
                f"no transcript of task {task_id!r} in {self.path} (runs made before transcripts were written "
                "have none; task ids are in items.jsonl)"
            )
        return found


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
