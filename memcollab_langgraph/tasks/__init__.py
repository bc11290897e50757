"""Task loaders: GSM8K, MATH, MBPP and HumanEval JSON Lines files, this project's own format, the demo set.

- :func:`load_tasks` / :func:`iter_tasks`: read a ``.jsonl`` file, format detected or given.
- :func:`write_tasks`: write tasks in the generic format that :func:`load_tasks` reads back.
- :func:`detect_format`, :func:`docstring_asserts`: the pieces, for other sources of records.
- :func:`demo_tasks`: the small math and code task set shipped with the library.

Example:
    >>> tasks = demo_tasks("all")
    >>> len(tasks), sorted({t.domain for t in tasks})
    (42, ['code', 'math'])
"""

from __future__ import annotations

from memcollab_langgraph.tasks.demo import DemoSplit, demo_tasks
from memcollab_langgraph.tasks.formats import (
    FORMATS,
    HUMANEVAL_ERRATA,
    MATH_SUBJECTS,
    TaskFormat,
    detect_format,
    docstring_asserts,
    record_to_task,
)
from memcollab_langgraph.tasks.loaders import iter_tasks, load_tasks, parse_tasks, task_to_record, write_tasks

__all__ = [
    "DemoSplit",
    "FORMATS",
    "HUMANEVAL_ERRATA",
    "MATH_SUBJECTS",
    "TaskFormat",
    "demo_tasks",
    "detect_format",
    "docstring_asserts",
    "iter_tasks",
    "load_tasks",
    "parse_tasks",
    "record_to_task",
    "task_to_record",
    "write_tasks",
]
