"""Math answers: find a model's final answer in free text and compare it with ground truth.

Equivalence is decided by HuggingFace's ``math-verify`` (SymPy underneath), never by hand-rolled
parsing: ``0.5``, ``1/2`` and ``\\boxed{\\frac{1}{2}}`` are equal, so are ``$1,200``, ``1200`` and
``1200.00``; intervals, sets, matrices and equations are compared structurally.

Threads and timeouts. ``math-verify`` bounds parsing and comparison with ``signal.alarm``, which only
works in the main thread (elsewhere it raises ``ValueError``), while LangGraph runs sync nodes in
worker threads. So the alarm is used only in the main thread and only when no other interval timer
is pending (``pytest-timeout`` and others use the same signal); in any other thread it is disabled.
Since SymPy can also hang inside C code where no signal is delivered (``9^{9^{9^9}}`` computes a
huge integer while holding the GIL), answers that look that costly are compared as normalized text
instead, in every thread. ``math-verify``'s warning that timeouts are off is filtered out for that
reason.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from pydantic import BaseModel, ConfigDict

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import Task
from memcollab_langgraph.verifiers.verdict import ExtractionRule, Verdict

__all__ = ["ExtractedAnswer", "extract_final_answer", "math_equivalent", "verify_math"]

_TIMEOUT_S = 5
_MAX_ANSWER_CHARS = 500
_COSTLY = re.compile(
    r"\^\s*\{[^{}]*\^"  # nested exponent in braces: 9^{9^{9}}
    r"|\^\s*\(?[\w.]+\)?\s*\^"  # chained exponents: 9^9^9
    r"|\*\*\s*\(?[\w.]+\)?\s*\*\*"  # chained Python powers: 9**9**9
    r"|(?:\^|\*\*)\s*\{?\s*\(?\s*-?\d{5,}"  # exponents of five digits and more
    r"|\d{4,}\s*!"  # factorials of four digits and more
)
_NUMBER = re.compile(r"[-+]?\s*(?:\\?\$|[€£¥])?\s*-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\.?")
_LATEX_DELIMITED = re.compile(r"\$|\\\(|\\\[|\\boxed|\\fbox")
_PHRASES: tuple[tuple[ExtractionRule, re.Pattern[str]], ...] = (
    ("gsm8k_marker", re.compile(r"####[ \t]*(?P<a>[^\n]+)")),
    ("final_answer", re.compile(r"(?i)final\s+answer(?:\s+is)?[\s*:=]*(?P<a>[^\n]+)")),
    ("answer_is", re.compile(r"(?i)\banswer(?:\s+is\b|\s*:)[\s*:=]*(?P<a>[^\n]+)")),
)
_LAST_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+)?")


class _NoTimeoutWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_NoTimeoutWarning())


class ExtractedAnswer(BaseModel):
    """A final answer found in free text, and the rule that found it."""

    model_config = ConfigDict(frozen=True)

    text: str
    rule: ExtractionRule
    start: int
    """Offset of the answer in the source text."""


def _last_boxed(text: str) -> ExtractedAnswer | None:
    for match in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*", text))):
        start = match.end()
        if start < len(text) and text[start] == "{":
            depth = 0
            for i in range(start, len(text)):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                if depth == 0:
                    return ExtractedAnswer(text=text[start + 1 : i].strip(), rule="boxed", start=start + 1)
        elif token := re.match(r"[^\s$]+", text[start:]):  # \boxed 5
            return ExtractedAnswer(text=token.group(), rule="boxed", start=start)
    return None


def _clean_phrase(answer: str) -> str:
    answer = re.split(r"\.\s", answer, maxsplit=1)[0]  # the sentence ends, a decimal point does not
    return answer.strip().strip("*").strip().rstrip(".,;").strip()


def _is_single_expression(text: str) -> bool:
    """A one-line answer such as ``\\frac{1}{2}``, ``x = 3`` or ``$1,200``, not a sentence."""
    if "\n" in text.strip() or len(text) > 120:
        return False
    bare = re.sub(r"\\text\{[^{}]*\}|\\[A-Za-z]+", "", text)
    return re.search(r"[A-Za-z]{3,}", bare) is None


def extract_final_answer(text: str) -> ExtractedAnswer | None:
    """Find the final answer in a model's reply; ``None`` when there is none.

    Rules, first that applies wins (see :data:`ExtractionRule`): last ``\\boxed{}``, last ``#### x``,
    last "final answer: x", last "the answer is x", the whole text if it is one expression, the last
    number.

    Example:
        >>> extract_final_answer("So 3 + 4 = 7.\\nThe answer is 7.")
        ExtractedAnswer(text='7', rule='answer_is', start=28)
        >>> extract_final_answer(r"Thus $x = \\boxed{\\frac{1}{2}}$.").rule
        'boxed'
    """
    if (boxed := _last_boxed(text)) is not None:
        return boxed
    for rule, pattern in _PHRASES:
        matches = [m for m in pattern.finditer(text) if _clean_phrase(m.group("a"))]
        if matches:
            last = matches[-1]
            return ExtractedAnswer(text=_clean_phrase(last.group("a")), rule=rule, start=last.start("a"))
    stripped = text.strip()
    if stripped and _is_single_expression(stripped):
        return ExtractedAnswer(text=stripped.rstrip("."), rule="whole_text", start=text.index(stripped))
    numbers = list(_LAST_NUMBER.finditer(text))
    if numbers:
        return ExtractedAnswer(text=numbers[-1].group(), rule="last_number", start=numbers[-1].start())
    return None


def _ground_truth(answer: str) -> str:
    """The answer part of a ground truth: after GSM8K's ``####``, or a MATH solution's last box."""
    if "####" in answer:
        return answer.rsplit("####", 1)[1].strip()
    boxed = _last_boxed(answer)
    return boxed.text if boxed is not None else answer.strip()


def _alarm_seconds() -> int | None:
    """math-verify's ``signal.alarm`` timeout, only where it works and clobbers no other timer."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return _TIMEOUT_S if signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) else None


def _parse(text: str, timeout: int | None) -> list[Any]:
    if _NUMBER.fullmatch(text):  # plain numbers, with currency and thousands separators
        plain = re.sub(r"[\s,$€£¥\\]", "", text).rstrip(".")
        return list(parse(plain, extraction_config=[ExprExtractionConfig()], parsing_timeout=timeout))
    text = text.replace("**", "^")  # Python-style powers, which math-verify misreads
    if not _LATEX_DELIMITED.search(text):  # bare LaTeX as in MATH's ground truths
        text = "\\boxed{" + re.sub(r"(?<!\\)%", r"\\%", text) + "}"
    configs = [LatexExtractionConfig(), ExprExtractionConfig()]
    return list(parse(text, extraction_config=configs, parsing_timeout=timeout))


def _as_text(answer: str) -> str:
    text = re.sub(r"\\left|\\right|\\!|\\,|\\;|\$|\s", "", answer)
    return text.lower().rstrip(".")


def _compare(prediction: str, ground_truth: str) -> tuple[bool, str]:
    """Equivalence and how it was decided (``"math-verify"`` or ``"text"`` with the reason)."""
    gold = _ground_truth(ground_truth).strip().rstrip(".").strip()
    prediction = prediction.strip().strip("*").strip().rstrip(".").strip()  # markdown bold, a period
    if any(len(s) > _MAX_ANSWER_CHARS or _COSTLY.search(s) for s in (prediction, gold)):
        return _as_text(prediction) == _as_text(gold), "text (too costly to evaluate symbolically)"
    timeout = _alarm_seconds()
    gold_parsed, pred_parsed = _parse(gold, timeout), _parse(prediction, timeout)
    if not gold_parsed or not pred_parsed:
        return _as_text(prediction) == _as_text(gold), "text (math-verify could not parse it)"
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout)), "math-verify"


def math_equivalent(prediction: str, ground_truth: str) -> bool:
    """Whether a final answer equals the ground truth mathematically.

    ``prediction`` is an answer, not a whole reply (use :func:`extract_final_answer` or
    :func:`verify_math` for replies). ``ground_truth`` may be a GSM8K solution ending in
    ``#### x``, a MATH answer in bare LaTeX, or a MATH solution with a ``\\boxed{}`` answer.

    Example:
        >>> math_equivalent("$1,200", "Janet pays 12 * 100 = 1200 dollars.\\n#### 1200")
        True
        >>> math_equivalent("0.5", r"\\frac{1}{2}"), math_equivalent("[1, 2)", "(1, 2)")
        (True, False)
    """
    return _compare(prediction, ground_truth)[0]


def verify_math(task: Task, answer_text: str | None) -> Verdict:
    """Judge a model's reply (or bare final answer) to a math task against ``task.answer``.

    Args:
        task: A task with a ground-truth ``answer``.
        answer_text: The model's reply or its final answer; ``None`` counts as no answer.

    Raises:
        ConfigurationError: If the task has no ground-truth answer.

    Example:
        >>> task = Task(id="g1", domain="math", question="6 * 12?", answer="6 * 12 = 72\\n#### 72")
        >>> verdict = verify_math(task, "6 * 12 = 72, so the final answer is 72.0")
        >>> verdict.correct, verdict.answer, verdict.rule
        (True, '72.0', 'final_answer')
    """
    if task.answer is None or not task.answer.strip():
        raise ConfigurationError(
            f"task {task.id!r} has no ground-truth answer; math verification needs Task.answer "
            "(use verify_code for tasks with tests)"
        )
    expected = _ground_truth(task.answer)
    extracted = extract_final_answer(answer_text) if answer_text else None
    if extracted is None:
        return Verdict(
            correct=False, domain=task.domain, expected=expected, detail="No final answer found in the reply."
        )
    correct, how = _compare(extracted.text, task.answer)
    verb = "equals" if correct else "does not equal"
    return Verdict(
        correct=correct,
        domain=task.domain,
        answer=extracted.text,
        rule=extracted.rule,
        expected=expected,
        detail=f"Final answer {extracted.text!r} (found by rule {extracted.rule!r}) {verb} "
        f"the expected {expected!r} (compared by {how}).",
    )
