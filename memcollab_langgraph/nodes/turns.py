"""What the solver does after each model reply: stop, run tests, run Python, or ask again.

Pure functions of the task and the reply text; the solver node performs the chosen action.

* **Code tasks** (the task has tests, an entry point, or the domain ``code``): the program is the
  last Python block (see :func:`~memcollab_langgraph.verifiers.extract_code`). With visible tests it
  is run against them in the sandbox and failures are fed back; without, it is the final answer.
* **Math and other tasks**: an explicit final answer (``\\boxed{}``, ``#### x``, "final answer: x",
  "the answer is x") ends the solve. Otherwise a fenced Python block is run in the sandbox and its
  output fed back (MathChat style). Otherwise a weaker extraction (the whole reply is one expression,
  or its last number) is accepted as the final answer.
* A math reply that writes a Python block and then that block's output itself (Qwen models write
  ```` ```output ```` blocks after their code) reasons from a result nobody computed: the reply is
  cut after the Python block (:attr:`TurnPlan.kept`), the block is run and the real output fed back,
  whatever answer the invented output led to. That answer is kept only if the turn budget runs out
  (or, with the solver's ``stop_on_repeat``, the next reply repeats the program).
* An empty reply, a code reply without a program, or a math reply without any answer gets a short
  request to answer properly, and the issue is recorded.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

from memcollab_langgraph.schema import Task
from memcollab_langgraph.verifiers import SandboxResult, Verdict, extract_code, extract_final_answer

__all__ = [
    "INVENTED_OUTPUT",
    "SolveKind",
    "StopReason",
    "TurnAction",
    "TurnPlan",
    "clip",
    "cut_invented_output",
    "plan_turn",
    "python_feedback",
    "solve_kind",
    "failed_tests_feedback",
]

SolveKind = Literal["code", "math"]
StopReason = Literal["final_answer", "passed_visible_tests", "max_turns", "context_full", "repeated_answer"]
"""Why a solve ended: an answer was given (and, for code with visible tests, passed them), the turn
budget ran out while feedback was still pending, the conversation with its feedback no longer fit
the model's context window (the last answer is kept), or the reply repeated the program (or text) of
the reply before it, which would only get the same feedback again (with ``stop_on_repeat``)."""
TurnAction = Literal["stop", "run_tests", "run_python", "ask_again"]

_STRICT_RULES = frozenset({"boxed", "gsm8k_marker", "final_answer", "answer_is"})
_EMPTY = "Your reply was empty."
INVENTED_OUTPUT = "the reply wrote its own output for its Python block"
"""The issue recorded when a reply was cut before an output it invented."""

_FENCE = re.compile(r"```[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)```", re.DOTALL)
_PYTHON = frozenset({"python", "py", "python3", "py3"})
_OUTPUT = frozenset({"output", "text", "plaintext", "console", "stdout", ""})
_LABEL = re.compile(r"\s*(?:(?:the\s+)?(?:output|result)s?(?:\s+(?:is|was))?\s*:?\s*)?", re.IGNORECASE)


@dataclass(frozen=True)
class TurnPlan:
    """The decision after one reply."""

    action: TurnAction
    answer: str | None = None
    """The answer this reply gives (the program for code), if any; kept if the budget runs out."""
    program: str | None = None
    """Code to run (``run_tests``, ``run_python``)."""
    feedback: str | None = None
    """The message to send back (``ask_again``)."""
    issue: str | None = None
    """What was wrong with the reply, for the usage log."""
    kept: str | None = None
    """The reply as it stays in the conversation when it had to be cut (``None``: kept whole)."""


def solve_kind(task: Task) -> SolveKind:
    """``code`` when the task is checked by running code, else ``math`` (a final answer is compared)."""
    if task.domain == "code" or task.tests or task.visible_tests or task.entry_point:
        return "code"
    return "math"


def clip(text: str, limit: int) -> str:
    """``text`` shortened to about ``limit`` characters, keeping its head and tail."""
    if len(text) <= limit:
        return text
    half = max(limit // 2, 1)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters omitted ...]\n{text[-half:]}"


def _plan_code(task: Task, text: str, *, run_visible_tests: bool) -> TurnPlan:
    program = extract_code(text, entry_point=task.entry_point)
    if program is None:
        name = f" defining `{task.entry_point}`" if task.entry_point else ""
        return TurnPlan(
            "ask_again",
            feedback=f"No Python program found in your reply. Reply with the complete program{name} "
            "in one ```python code block.",
            issue="no program in the reply",
        )
    if run_visible_tests and task.visible_tests:
        return TurnPlan("run_tests", answer=program, program=program)
    return TurnPlan("stop", answer=program)


def cut_invented_output(text: str) -> str | None:
    r"""The reply up to the end of its first Python block, if the model then wrote that block's output.

    The output block must follow the Python block directly (at most a label such as "Output:" in
    between) and be fenced as ``output``, ``text``, ``console``... or untagged.

    Example:
        >>> reply = "So:\n```python\nprint(48 + 48 / 2)\n```\n```output\n60.0\n```\nThus \\boxed{60}."
        >>> cut_invented_output(reply)
        'So:\n```python\nprint(48 + 48 / 2)\n```'
        >>> cut_invented_output("```python\nprint(1)\n```\nThis prints 1, so \\boxed{1}.") is None
        True
    """
    fences = list(_FENCE.finditer(text))
    for code, after in itertools.pairwise(fences):
        if code.group("lang").lower() not in _PYTHON:
            continue
        between = text[code.end() : after.start()]
        if after.group("lang").lower() in _OUTPUT and _LABEL.fullmatch(between):
            return text[: code.end()]
        return None  # the first Python block is followed by the reply's own reasoning
    return None


def _plan_math(text: str, *, python_tool: bool) -> TurnPlan:
    head = cut_invented_output(text) if python_tool else None
    program = extract_code(head) if head is not None else None
    if head is not None and program is not None:
        guessed = extract_final_answer(text)
        return TurnPlan(
            "run_python",
            answer=guessed.text if guessed is not None else None,
            program=program,
            issue=INVENTED_OUTPUT,
            kept=head,
        )
    extracted = extract_final_answer(text)
    if extracted is not None and extracted.rule in _STRICT_RULES:
        return TurnPlan("stop", answer=extracted.text)
    weak = extracted.text if extracted is not None else None
    program = extract_code(text) if python_tool and "```" in text else None
    if program is not None:
        return TurnPlan("run_python", answer=weak, program=program)
    if weak is not None:
        return TurnPlan("stop", answer=weak)
    return TurnPlan(
        "ask_again",
        feedback="No final answer found in your reply. State the final answer as \\boxed{...}.",
        issue="no final answer in the reply",
    )


def plan_turn(task: Task, text: str, *, python_tool: bool = True, run_visible_tests: bool = True) -> TurnPlan:
    """Decide what to do with one reply; see the module docstring.

    Example:
        >>> task = Task(id="m", domain="math", question="2 + 2?", answer="4")
        >>> plan_turn(task, "2 + 2 = 4, so the answer is \\\\boxed{4}.").action
        'stop'
        >>> plan_turn(task, "Let me compute.\\n```python\\nprint(2 + 2)\\n```").action
        'run_python'
        >>> plan_turn(task, "").issue
        'empty reply'
    """
    if not text.strip():
        how = (
            "Reply with the complete program in one ```python code block."
            if solve_kind(task) == "code"
            else "Solve the task and state the final answer as \\boxed{...}."
        )
        return TurnPlan("ask_again", feedback=f"{_EMPTY} {how}", issue="empty reply")
    if solve_kind(task) == "code":
        return _plan_code(task, text, run_visible_tests=run_visible_tests)
    return _plan_math(text, python_tool=python_tool)


def failed_tests_feedback(verdict: Verdict, *, max_chars: int = 2000) -> str:
    """Feedback after failed visible tests."""
    return (
        f"Your program did not pass the tests.\n{clip(verdict.detail, max_chars)}\n"
        "Fix it and reply with the complete corrected program in one ```python code block."
    )


def python_feedback(result: SandboxResult, *, max_chars: int = 2000) -> str:
    """Feedback after running the reply's Python block: its output, or its error."""
    out = result.stdout.strip() or "(no output)"
    text = f"Output of your Python code:\n```\n{clip(out, max_chars)}\n```"
    if not result.ok:
        err = "\n".join(result.stderr.strip().splitlines()[-8:])
        text += f"\nThe run ended with an error ({result.reason}):\n```\n{clip(err, max_chars)}\n```"
    return text + "\nContinue, and when you are done state the final answer as \\boxed{...}."
