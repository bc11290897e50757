"""Verifiers: math answer equivalence and sandboxed code execution.

- :func:`verify_math` / :func:`math_equivalent` / :func:`extract_final_answer`: final answers
  compared with ``math-verify``.
- :func:`verify_code` / :func:`extract_code`: unit tests run in :func:`run_python`'s sandbox.

Both return a :class:`Verdict` whose ``detail`` can be shown to the solver as feedback.
"""

from __future__ import annotations

from memcollab_langgraph.verifiers.code import averify_code, extract_code, parse_python, verify_code
from memcollab_langgraph.verifiers.math import (
    ExtractedAnswer,
    extract_final_answer,
    math_equivalent,
    verify_math,
)
from memcollab_langgraph.verifiers.sandbox import SandboxResult, arun_python, run_python
from memcollab_langgraph.verifiers.verdict import ExtractionRule, TestOutcome, TestStatus, Verdict

__all__ = [
    "ExtractedAnswer",
    "ExtractionRule",
    "SandboxResult",
    "TestOutcome",
    "TestStatus",
    "Verdict",
    "arun_python",
    "averify_code",
    "extract_code",
    "parse_python",
    "extract_final_answer",
    "math_equivalent",
    "run_python",
    "verify_code",
    "verify_math",
]
