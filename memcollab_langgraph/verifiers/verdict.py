"""The result of judging one answer against ground truth."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from memcollab_langgraph.verifiers.sandbox import SandboxResult

__all__ = ["ExtractionRule", "TestOutcome", "TestStatus", "Verdict"]

ExtractionRule = Literal["boxed", "gsm8k_marker", "final_answer", "answer_is", "whole_text", "last_number"]
"""Which rule found a final answer in free text, in the order they are tried:
the last ``\\boxed{...}``, the last ``#### x``, the last "final answer: x", the last "the answer is x"
(or "answer: x"), the whole text when it is a single expression, else the last number."""

TestStatus = Literal["passed", "failed", "error", "timeout", "not_run"]
"""``failed``: an assertion did not hold; ``error``: the test raised something else."""


class TestOutcome(BaseModel):
    """One unit test of a code task."""

    __test__ = False  # not a pytest class

    model_config = ConfigDict(frozen=True)

    index: int
    test: str
    """The test statement (shortened when long)."""
    status: TestStatus
    message: str = ""
    """The assertion or exception message, with the actual value of ``assert a == b`` when known."""


class Verdict(BaseModel):
    """Whether an answer is correct, and a one-paragraph explanation that can be fed back to a model."""

    model_config = ConfigDict(frozen=True)

    correct: bool
    detail: str
    """Human- and model-readable explanation (which test failed and how, which answer was compared)."""
    domain: str
    answer: str | None = None
    """What was judged: the extracted final answer (math) or the program (code)."""
    rule: ExtractionRule | None = None
    """The rule that extracted ``answer`` from the model's text (math)."""
    expected: str | None = None
    """The ground truth it was compared with (math)."""
    tests: list[TestOutcome] = Field(default_factory=list)
    """Per-test outcomes (code)."""
    sandbox: SandboxResult | None = None
    """The sandboxed run behind a code verdict."""

    @property
    def passed(self) -> int:
        return sum(t.status == "passed" for t in self.tests)

    @property
    def total(self) -> int:
        return len(self.tests)
