"""Math verification: GSM8K and MATH answer formats, extraction rules, worker threads."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

import pytest

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import Task
from memcollab_langgraph.verifiers import extract_final_answer, math_equivalent, verify_math

EQUIVALENT = [
    ("72", "Natalia sold 48 + 24 = 72 clips.\n#### 72"),
    ("72.0", "#### 72"),
    ("72.00", "72"),
    ("1,200", "#### 1200"),
    ("$1,200", "#### 1200"),
    ("\\$1,200.00", "1200"),
    ("1200", "#### 1,200"),
    ("-5", "-5.00"),
    ("18 apples", "#### 18"),
    ("**18**", "#### 18"),
    ("0.5", "\\frac{1}{2}"),
    ("\\frac12", "0.5"),
    ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("$\\frac{1}{2}$", "0.5"),
    ("1/2", "\\frac{1}{2}"),
    ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2"),
    ("[1, 2)", "[1,2)"),
    ("(-\\infty, 3]", "(-\\infty,3]"),
    ("x = 3", "3"),
    ("\\text{(B)}", "\\text{(B)}"),
    ("10\\%", "10\\%"),
    ("(x+1)^2", "x^2+2x+1"),
    ("x**2 + 2**x", "x^2+2^x"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    ("3", "The sum is $1+2=\\boxed{3}$."),
]

NOT_EQUIVALENT = [
    ("73", "#### 72"),
    ("7.2", "#### 72"),
    ("12", "#### 1200"),
    ("0.51", "\\frac{1}{2}"),
    ("\\frac{1}{3}", "0.5"),
    ("(1, 2)", "[1,2)"),
    ("[1, 2]", "[1,2)"),
    ("-3", "3"),
    ("x^2+1", "(x+1)^2"),
    ("five", "5"),
    ("", "5"),
]


@pytest.mark.parametrize(("prediction", "truth"), EQUIVALENT)
def test_equivalent_answers(prediction: str, truth: str) -> None:
    assert math_equivalent(prediction, truth)


@pytest.mark.parametrize(("prediction", "truth"), NOT_EQUIVALENT)
def test_wrong_answers_are_rejected(prediction: str, truth: str) -> None:
    assert not math_equivalent(prediction, truth)


@pytest.mark.parametrize(
    ("text", "answer", "rule"),
    [
        ("First $x = \\boxed{2}$, then \\boxed{\\frac{3}{4}}.", "\\frac{3}{4}", "boxed"),
        ("Nested: \\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}", "boxed"),
        ("She pays 3 * 400 = 1,200 dollars.\n#### 1,200", "1,200", "gsm8k_marker"),
        ("#### 3\nno wait\n#### 4", "4", "gsm8k_marker"),
        ("Steps 1, 2, 3.\n**Final Answer:** 42", "42", "final_answer"),
        ("Final answer:\n$x=2$", "$x=2$", "final_answer"),
        ("The final answer is 3.5. I hope it is correct.", "3.5", "final_answer"),
        ("So 3 + 4 = 7. The answer is 7.", "7", "answer_is"),
        ("The answer isn't obvious. We get 9", "9", "last_number"),
        ("Answer: $1,200.", "$1,200", "answer_is"),
        ("\\frac{1}{2}", "\\frac{1}{2}", "whole_text"),
        ("x = -3", "x = -3", "whole_text"),
        ("I counted 3 cats, 4 dogs and finally 17 animals", "17", "last_number"),
        ("The total is 2.5.", "2.5", "last_number"),
    ],
)
def test_extraction_rules(text: str, answer: str, rule: str) -> None:
    extracted = extract_final_answer(text)
    assert extracted is not None
    assert (extracted.text, extracted.rule) == (answer, rule)
    assert text[extracted.start :].startswith(answer.rstrip("."))


def test_no_answer_in_text() -> None:
    assert extract_final_answer("I do not know.") is None
    assert extract_final_answer("") is None


def _gsm8k() -> Task:
    return Task(id="gsm8k/1", domain="math", question="How many?", answer="3 * 24 = 72\n#### 72")


def test_verify_math_correct_reply() -> None:
    verdict = verify_math(_gsm8k(), "Each box has 24, so 3 boxes hold 72.\nThe answer is 72.")
    assert verdict.correct
    assert (verdict.answer, verdict.rule, verdict.expected) == ("72", "answer_is", "72")
    assert "equals" in verdict.detail


def test_verify_math_wrong_reply_names_both_answers() -> None:
    verdict = verify_math(_gsm8k(), "So the final answer is \\boxed{70}")
    assert not verdict.correct
    assert "'70'" in verdict.detail
    assert "'72'" in verdict.detail
    assert verdict.rule == "boxed"


def test_verify_math_math_style_task() -> None:
    task = Task(id="math/1", domain="math", question="Solve.", answer="\\left[ 1, 2 \\right)")
    assert verify_math(task, "The solution set is $\\boxed{[1,2)}$.").correct
    assert not verify_math(task, "The solution set is $\\boxed{(1,2)}$.").correct


@pytest.mark.parametrize("reply", [None, "", "no idea"])
def test_verify_math_without_answer(reply: str | None) -> None:
    verdict = verify_math(_gsm8k(), reply)
    assert not verdict.correct
    assert verdict.answer is None
    assert "No final answer" in verdict.detail


def test_verify_math_needs_ground_truth() -> None:
    task = Task(id="x", domain="math", question="?")
    with pytest.raises(ConfigurationError, match="'x' has no ground-truth answer"):
        verify_math(task, "42")


CASES = [(p, t, True) for p, t in EQUIVALENT[::3]] + [(p, t, False) for p, t in NOT_EQUIVALENT[::2]]


def test_works_in_worker_threads() -> None:
    """math-verify's signal.alarm raises outside the main thread; our wrapper must not."""

    def judge(case: tuple[str, str, bool]) -> tuple[bool, bool, bool]:
        assert threading.current_thread() is not threading.main_thread()
        return math_equivalent(case[0], case[1]), case[2], verify_math(_gsm8k(), "\\boxed{72}").correct

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(judge, CASES))
    assert [r[0] for r in results] == [r[1] for r in results]
    assert all(r[2] for r in results)


def test_pending_interval_timer_is_not_clobbered() -> None:
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        assert math_equivalent("0.5", "\\frac{1}{2}")
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 90 < remaining <= 100
        assert signal.getsignal(signal.SIGALRM) is handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired


@pytest.mark.parametrize("answer", ["9^{9^{9^{9}}}", "2^{100000000}", "10**10**10", "12345!"])
def test_costly_answers_do_not_hang_a_thread(answer: str) -> None:
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert not pool.submit(math_equivalent, answer, "5").result(timeout=10)
        assert pool.submit(math_equivalent, answer, answer).result(timeout=10)
    assert time.monotonic() - start < 2
