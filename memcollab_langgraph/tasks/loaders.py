"""Read task files (JSON Lines) into :class:`~memcollab_langgraph.schema.Task` lists, and write them back.

One record per line, blank lines ignored. The format (see :mod:`memcollab_langgraph.tasks.formats`)
is detected from the keys of the file's first record unless given. Every problem with the input
is a :class:`~memcollab_langgraph.errors.ConfigurationError` of the form
``"<file>:<line>: <what is wrong>"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import Task
from memcollab_langgraph.tasks.formats import FORMATS, TaskFormat, detect_format, record_to_task

__all__ = ["iter_tasks", "load_tasks", "parse_tasks", "task_to_record", "write_tasks"]


def _check_window(origin: str, fmt: str | None, limit: int | None, offset: int) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise ConfigurationError(f"{origin}: unknown task format {fmt!r}; use one of {list(FORMATS)} or None")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ConfigurationError(f"limit must be None or an integer >= 0, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ConfigurationError(f"offset must be an integer >= 0, got {offset!r}")


def _decode(line: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        raise ConfigurationError(
            f"{where}: not valid JSON ({e.msg} at column {e.colno}); each line must be one JSON object"
        ) from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: expected a JSON object, got a JSON {type(value).__name__}")
    return value


def parse_tasks(
    lines: Iterable[str],
    *,
    origin: str = "<lines>",
    format: TaskFormat | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[Task]:
    """Convert JSON Lines text, line by line, to tasks (the engine of :func:`iter_tasks`).

    Args:
        lines: The lines of a JSON Lines document.
        origin: Name used in error messages (the file name).
        format: Record format, or ``None`` to detect it from the first record.
        limit: Yield at most this many tasks.
        offset: Skip this many records first (skipped lines are not decoded, except the first
            record, which is read to detect the format).

    Raises:
        ConfigurationError: At once for a bad argument; ``"<origin>:<line>: ..."`` during iteration
            for a malformed line or a bad record.

    Example:
        >>> lines = ['{"id": "t1", "domain": "math", "question": "1 + 1?", "answer": "2"}']
        >>> [t.id for t in parse_tasks(lines)]
        ['t1']
    """
    _check_window(origin, format, limit, offset)
    return _parse(lines, origin, format, limit, offset)


def _parse(lines: Iterable[str], origin: str, fmt: TaskFormat | None, limit: int | None, offset: int) -> Iterator[Task]:
    if limit == 0:
        return
    index, yielded = 0, 0
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        index += 1
        if index <= offset and fmt is not None:
            continue
        where = f"{origin}:{lineno}"
        record = _decode(line, where)
        try:
            fmt = fmt or detect_format(record)
            if index <= offset:
                continue
            task = record_to_task(record, fmt)
        except ConfigurationError as e:
            raise ConfigurationError(f"{where}: {e}") from None
        yield task
        yielded += 1
        if limit is not None and yielded >= limit:
            return


def _open_lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8-sig") as f:  # a BOM is not part of the first record
            yield from f
    except OSError as e:
        raise ConfigurationError(f"cannot read task file {str(path)!r}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigurationError(f"task file {str(path)!r} is not UTF-8 text: {e.reason}") from None


def iter_tasks(
    path: str | os.PathLike[str],
    *,
    format: TaskFormat | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[Task]:
    """Lazily read the tasks of a JSON Lines file; see :func:`load_tasks` for the arguments.

    A missing file or a bad argument is reported at once; a bad line when iteration reaches it.
    The file stays open while the iterator is alive.
    """
    source = Path(path)
    if not source.is_file():
        what = "is a directory" if source.is_dir() else "does not exist"
        raise ConfigurationError(f"cannot read task file {str(source)!r}: it {what}")
    lines = _open_lines(source)
    return parse_tasks(lines, origin=str(source), format=format, limit=limit, offset=offset)


def load_tasks(
    path: str | os.PathLike[str],
    *,
    format: TaskFormat | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Task]:
    """Read the tasks of a JSON Lines file in GSM8K, MATH, MBPP, HumanEval or this project's format.

    Args:
        path: A ``.jsonl`` file, one record per line.
        format: ``"gsm8k"``, ``"math"``, ``"mbpp"``, ``"humaneval"`` or ``"generic"``; ``None``
            detects it from the keys of the first record.
        limit: Read at most this many tasks.
        offset: Skip this many records first (``offset=100, limit=50`` reads records 101 to 150).

    Returns:
        The tasks in file order. Ids are stable across runs (see
        :mod:`memcollab_langgraph.tasks.formats`).

    Raises:
        ConfigurationError: The file cannot be read, the format is unknown, or a line is not a JSON
            object of the format; the message names the file, the line and what is wrong.

    Example:
        >>> import json, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "gsm8k.jsonl"
        >>> _ = path.write_text(json.dumps({"question": "Ann has 3 pens and buys 4. How many?",
        ...                                 "answer": "3 + 4 = 7\\n#### 7"}) + "\\n")
        >>> [task] = load_tasks(path)
        >>> task.id, task.domain, task.answer
        ('gsm8k/bbae6a5f726c', 'math', '7')
    """
    return list(iter_tasks(path, format=format, limit=limit, offset=offset))


def task_to_record(task: Task) -> dict[str, Any]:
    """A task as a record of the generic format: defaults left out, the category as a path string.

    Example:
        >>> task_to_record(Task(id="t1", domain="math", question="1 + 1?", answer="2"))
        {'id': 't1', 'domain': 'math', 'question': '1 + 1?', 'answer': '2'}
    """
    record: dict[str, Any] = task.model_dump(mode="json", exclude_defaults=True)
    if task.category is not None:
        record["category"] = str(task.category)
    return record


def write_tasks(path: str | os.PathLike[str], tasks: Iterable[Task]) -> int:
    """Write ``tasks`` as a JSON Lines file of the generic format; :func:`load_tasks` reads it back.

    The file is written next to its final name and then renamed over it, so a reader never sees
    half of it.

    Returns:
        How many tasks were written.

    Raises:
        ConfigurationError: The file cannot be written.
    """
    target = Path(path)
    lines = [json.dumps(task_to_record(t), ensure_ascii=False) + "\n" for t in tasks]
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text("".join(lines), encoding="utf-8")
        os.replace(partial, target)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot write task file {str(target)!r}: {e.strerror or e}") from e
    return len(lines)
