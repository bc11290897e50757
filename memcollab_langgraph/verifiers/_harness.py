"""Test harness run inside the sandbox by :mod:`memcollab_langgraph.verifiers.code`.

It is not imported by the library: ``code.py`` reads this file's text, fills in the JSON payload and
runs it with :func:`~memcollab_langgraph.verifiers.sandbox.run_python`. Setup, program and tests
share one namespace named ``__solution__`` (so ``if __name__ == "__main__":`` blocks of the program
do not run). Each test runs separately under its own ``SIGALRM`` budget, so one failing or hanging
test does not hide the others. The report is written as one JSON line after a per-run random marker,
on a duplicate of the original stdout, then the process ends with ``os._exit(0)`` so that threads
or ``atexit`` hooks left by the program cannot hold it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import os
import signal
import sys
import traceback
from typing import Any

_PAYLOAD = "__PAYLOAD__"  # replaced by a JSON string literal before the harness runs
_MC: dict[str, Any] = {}
_LIMIT = 300


class _TestTimeout(BaseException):
    """Raised by SIGALRM when one test exceeds its budget; a BaseException so tests cannot catch it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _TestTimeout


def _short(text: str, limit: int = _LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename} line {exc.lineno})"
    where = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<program>"]
    at = f" (program line {where[-1].lineno})" if where else ""
    message = str(exc)
    return _short(f"{type(exc).__name__}: {message}{at}" if message else f"{type(exc).__name__}{at}")


def _run(source: str, name: str, ns: dict[str, Any]) -> BaseException | None:
    signal.setitimer(signal.ITIMER_REAL, _MC["per_test_s"])
    try:
        exec(compile(source, name, "exec"), ns)
    except (Exception, SystemExit, KeyboardInterrupt, _TestTimeout) as exc:
        return exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def _actual(line: str, scope: dict[str, Any], local: dict[str, Any]) -> str:
    """For a failed ``assert a == b``: both sides' values, so the solver learns what it returned."""
    try:
        stmt = ast.parse(line.strip()).body
    except SyntaxError:  # one line of a multi-line statement
        return ""
    if len(stmt) != 1 or not isinstance(stmt[0], ast.Assert):
        return ""
    cmp = stmt[0].test
    if not (isinstance(cmp, ast.Compare) and len(cmp.ops) == 1 and isinstance(cmp.ops[0], ast.Eq)):
        return ""
    signal.setitimer(signal.ITIMER_REAL, _MC["per_test_s"])
    try:
        left = eval(compile(ast.Expression(cmp.left), "<test>", "eval"), scope, local)
        right = eval(compile(ast.Expression(cmp.comparators[0]), "<test>", "eval"), scope, local)
        return f"got {_short(repr(left), 150)}, expected {_short(repr(right), 150)}"
    except (Exception, _TestTimeout):  # the values are a bonus; the failure is reported anyway
        return ""
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _assertion(exc: AssertionError, sources: dict[str, str]) -> str:
    """The assertion's message, the failing line when it is not the test itself, and the values."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    parts = [str(exc)] if str(exc) else []
    if tb is not None and (source := sources.get(tb.tb_frame.f_code.co_filename)) is not None:
        lines = source.splitlines()
        line = lines[tb.tb_lineno - 1] if 0 < tb.tb_lineno <= len(lines) else ""
        if not tb.tb_frame.f_code.co_filename.startswith("<test "):
            parts.append(f"at {tb.tb_frame.f_code.co_filename} line {tb.tb_lineno}: {line.strip()}")
        parts.append(_actual(line, tb.tb_frame.f_globals, tb.tb_frame.f_locals))
    return _short("; ".join(p for p in parts if p) or "AssertionError")


def _test(index: int, test: str, ns: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    outcome: dict[str, Any] = {"index": index, "test": _short(test, 200), "status": "passed", "message": ""}
    name = f"<test {index}>"
    sources[name] = test
    exc = _run(test, name, ns)
    if isinstance(exc, _TestTimeout):
        outcome.update(status="timeout", message=f"exceeded {_MC['per_test_s']:g} s")
    elif isinstance(exc, AssertionError):
        outcome.update(status="failed", message=_assertion(exc, sources))
    elif exc is not None:
        outcome.update(status="error", message=_describe(exc))
    return outcome


def main() -> None:
    out = os.dup(1)  # the report still gets out if the program closes or redirects stdout
    _MC.update(json.loads(_PAYLOAD))
    signal.signal(signal.SIGALRM, _on_alarm)
    ns: dict[str, Any] = {"__name__": "__solution__", "__builtins__": builtins}
    sources = {"<test_setup>": _MC["setup"], "<program>": _MC["program"]}
    fatal, notes = None, []
    # The program loads first: MBPP's setup code builds objects from classes the program defines.
    if (exc := _run(_MC["program"], "<program>", ns)) is not None:
        if isinstance(exc, SystemExit):
            notes.append(f"the program called sys.exit({exc.code!r}) while loading; tests ran anyway")
        elif isinstance(exc, _TestTimeout):
            fatal = f"the program did not finish loading within {_MC['per_test_s']:g} s"
        else:
            fatal = f"the program failed while loading: {_describe(exc)}"
    if fatal is None and _MC["setup"] and (exc := _run(_MC["setup"], "<test_setup>", ns)) is not None:
        fatal = f"test setup failed: {_describe(exc)}"
    results = [
        _test(i, t, ns, sources) if fatal is None else {"index": i, "test": _short(t, 200), "status": "not_run"}
        for i, t in enumerate(_MC["tests"])
    ]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # the program closed or replaced it
            stream.flush()
    report = json.dumps({"fatal": fatal, "notes": notes, "tests": results})
    os.write(out, f"\n{_MC['marker']}{report}\n".encode())
    os._exit(0)


if __name__ == "__main__":
    main()
