"""Code answers: pull the program out of a model's reply and run the task's unit tests on it.

The program, the task's ``test_setup`` and its tests run together in the sandbox
(:mod:`memcollab_langgraph.verifiers.sandbox`) under a small harness that runs every test
separately, with its own time budget, and reports each outcome (with the actual value of a failed
``assert f(x) == y``) as one JSON line after a random marker, so that the program's own prints
cannot hide or fake it by accident. A program that deliberately reads the harness (it runs in the
same process) could forge the report; the sandbox contains damage, not cheating.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import Task
from memcollab_langgraph.verifiers.sandbox import SandboxResult, arun_python, run_python
from memcollab_langgraph.verifiers.verdict import TestOutcome, Verdict

__all__ = ["averify_code", "extract_code", "parse_python", "verify_code"]

_HARNESS = Path(__file__).with_name("_harness.py")
_FENCE = re.compile(r"```[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_LANGS = {"", "python", "py", "python3", "py3"}
_MIN_OUTPUT_BYTES = 256_000  # the report is the last line; keep room for it after a chatty program


def parse_python(source: str, mode: Literal["exec", "eval"] = "exec") -> ast.AST | None:
    """``ast.parse(source)``, or ``None`` when it is not Python.

    The compiler's warnings about the source (invalid escape sequences in a data set's or a model's
    code) concern that code, not the caller, and are not shown.

    Example:
        >>> parse_python("x = '\\d'") is not None, parse_python("def (") is None
        (True, True)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return ast.parse(source, mode=mode)
        except (SyntaxError, ValueError, MemoryError, RecursionError):  # ValueError: NUL bytes
            return None


def _parses(source: str) -> bool:
    return parse_python(source) is not None


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", source, re.MULTILINE) is not None


def extract_code(text: str, *, entry_point: str | None = None) -> str | None:
    """The Python program in a model's reply, or ``None``.

    Among fenced code blocks tagged Python (or untagged), the last one that parses is preferred,
    and with ``entry_point`` the last one that defines that function; an unterminated last fence (a
    truncated reply) counts. Without fences, the whole text is taken if it parses as Python.

    Example:
        >>> reply = "Here:\\n```python\\ndef add(a, b):\\n    return a + b\\n```\\nUse `add(1, 2)`."
        >>> extract_code(reply)
        'def add(a, b):\\n    return a + b\\n'
        >>> extract_code("No code, sorry.") is None
        True
    """
    blocks = [m.group("body") for m in _FENCE.finditer(text) if m.group("lang").lower() in _PYTHON_LANGS]
    blocks = [b for b in blocks if b.strip()]
    if blocks:
        parsing = [b for b in blocks if _parses(b)]
        defining = [b for b in parsing if entry_point and _defines(b, entry_point)]
        return (defining or parsing or blocks)[-1]
    if "```" not in text and text.strip() and _parses(text):
        return text
    return None


def _tests_of(task: Task, visible_only: bool) -> list[str]:
    tests = task.visible_tests if visible_only else task.tests
    if not tests and task.entry_point and task.test_setup and "def check(" in task.test_setup:
        tests = [f"check({task.entry_point})"]  # HumanEval: the checker is the test
    if not tests:
        which = "visible_tests" if visible_only else "tests"
        raise ConfigurationError(
            f"task {task.id!r} has no {which} to run; give it {which} (Python statements such as "
            "asserts) or a test_setup defining check(candidate) plus an entry_point"
        )
    return tests


def _script(task: Task, program: str, tests: list[str], marker: str, per_test_s: float) -> str:
    payload = {
        "marker": marker,
        "setup": task.test_setup or "",
        "program": program,
        "tests": tests,
        "per_test_s": per_test_s,
    }
    return _HARNESS.read_text().replace('"__PAYLOAD__"', repr(json.dumps(payload)), 1)


def _report(stdout: str, marker: str) -> dict[str, Any] | None:
    lines = [line for line in stdout.splitlines() if line.startswith(marker)]
    if not lines:
        return None
    report: dict[str, Any] = json.loads(lines[-1][len(marker) :])
    return report


@dataclass(frozen=True)
class _Job:
    program: str
    tests: list[str]
    marker: str
    script: str


def _prepare(task: Task, program: str | None, visible_only: bool, timeout_s: float) -> _Job | Verdict:
    """The run to make, or the verdict when there is nothing to run."""
    tests = _tests_of(task, visible_only)
    if program is None or not program.strip():
        outcomes = [TestOutcome(index=i, test=t[:200], status="not_run") for i, t in enumerate(tests)]
        return Verdict(correct=False, detail="No program found in the reply.", domain=task.domain, tests=outcomes)
    marker = f"@@memcollab-test-report-{secrets.token_hex(8)}@@"
    per_test_s = max(0.5, timeout_s / (len(tests) + 1))
    return _Job(program, tests, marker, _script(task, program, tests, marker, per_test_s))


def _verdict(task: Task, job: _Job, run: SandboxResult) -> Verdict:
    report = _report(run.stdout, job.marker)
    if report is None:
        stderr_tail = "\n".join(run.stderr.strip().splitlines()[-5:])
        why = run.reason if not run.ok else "the program ended the process before the tests reported"
        detail = f"No test report: {why}." + (f"\n{stderr_tail}" if stderr_tail else "")
        outcomes = [TestOutcome(index=i, test=t[:200], status="not_run") for i, t in enumerate(job.tests)]
        return Verdict(
            correct=False, detail=detail, domain=task.domain, answer=job.program, tests=outcomes, sandbox=run
        )
    outcomes = [TestOutcome.model_validate(t) for t in report["tests"]]
    passed = sum(t.status == "passed" for t in outcomes)
    if report["fatal"]:
        detail = f"No test ran: {report['fatal']}."
    elif passed == len(outcomes):
        detail = f"Passed all {passed} tests."
    else:
        bad = [t for t in outcomes if t.status != "passed"]
        lines = [f"- {t.test}: {t.status}" + (f" ({t.message})" if t.message else "") for t in bad]
        detail = f"Failed {len(bad)} of {len(outcomes)} tests:\n" + "\n".join(lines)
    if report["notes"]:
        detail += "\nNote: " + "; ".join(report["notes"])
    correct = report["fatal"] is None and passed == len(outcomes) > 0
    return Verdict(correct=correct, detail=detail, domain=task.domain, answer=job.program, tests=outcomes, sandbox=run)


def verify_code(
    task: Task,
    program: str | None,
    *,
    visible_only: bool = False,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    max_output_bytes: int = _MIN_OUTPUT_BYTES,
) -> Verdict:
    """Run ``task``'s unit tests against ``program`` in the sandbox.

    The script is ``program`` + ``task.test_setup`` + each of the tests (``task.tests``, or
    ``task.visible_tests`` with ``visible_only``; a HumanEval task with a ``check`` in its setup
    and an ``entry_point`` but no tests gets ``check(<entry_point>)``).

    Args:
        task: A task with tests.
        program: The program (see :func:`extract_code`); ``None`` or blank counts as no answer.
        visible_only: Run the tests shown to the solver instead of the hidden ones.
        timeout_s: Wall-clock limit of the whole run; each test gets a share of it.
        memory_mb: Memory limit of the run.
        max_output_bytes: Output kept from the run (at least 256 kB, for the report).

    Raises:
        ConfigurationError: If the task has no tests to run.

    Example:
        >>> task = Task(id="t", domain="code", question="add", tests=["assert add(1, 2) == 3"])
        >>> verify_code(task, "def add(a, b):\\n    return a + b").detail
        'Passed all 1 tests.'
        >>> print(verify_code(task, "def add(a, b):\\n    return a - b").detail)
        Failed 1 of 1 tests:
        - assert add(1, 2) == 3: failed (got -1, expected 3)
    """
    job = _prepare(task, program, visible_only, timeout_s)
    if isinstance(job, Verdict):
        return job
    output = max(max_output_bytes, _MIN_OUTPUT_BYTES)
    run = run_python(job.script, timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=output)
    return _verdict(task, job, run)


async def averify_code(
    task: Task,
    program: str | None,
    *,
    visible_only: bool = False,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    max_output_bytes: int = _MIN_OUTPUT_BYTES,
) -> Verdict:
    """Async twin of :func:`verify_code` (the run happens in a worker thread).

    Example:
        >>> import asyncio
        >>> task = Task(id="t", domain="code", question="add", tests=["assert add(1, 2) == 3"])
        >>> asyncio.run(averify_code(task, "def add(a, b):\\n    return a + b")).correct
        True
    """
    job = _prepare(task, program, visible_only, timeout_s)
    if isinstance(job, Verdict):
        return job
    output = max(max_output_bytes, _MIN_OUTPUT_BYTES)
    run = await arun_python(job.script, timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=output)
    return _verdict(task, job, run)
