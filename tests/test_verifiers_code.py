"""Code verification: unit tests in the sandbox, per-test reports, HumanEval checkers, extraction."""

from __future__ import annotations

import pytest

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import Task
from memcollab_langgraph.verifiers import averify_code, extract_code, verify_code

ADD = Task(
    id="mbpp/1",
    domain="code",
    question="Write add(a, b).",
    tests=["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, 1) == 0"],
    visible_tests=["assert add(1, 2) == 3"],
)


def test_passing_program() -> None:
    verdict = verify_code(ADD, "def add(a, b):\n    return a + b\n")
    assert verdict.correct
    assert (verdict.passed, verdict.total) == (3, 3)
    assert verdict.detail == "Passed all 3 tests."
    assert verdict.sandbox is not None
    assert verdict.sandbox.ok


def test_failing_asserts_are_each_reported_with_values() -> None:
    verdict = verify_code(ADD, "def add(a, b):\n    return a * b\n")
    assert not verdict.correct
    assert [t.status for t in verdict.tests] == ["failed", "passed", "failed"]
    assert verdict.tests[0].message == "got 2, expected 3"
    assert verdict.tests[2].message == "got -1, expected 0"
    assert "Failed 2 of 3 tests" in verdict.detail
    assert "- assert add(1, 2) == 3: failed (got 2, expected 3)" in verdict.detail


def test_exception_in_a_test_names_the_program_line() -> None:
    verdict = verify_code(ADD, "def add(a, b):\n    x = 1\n    return {}[a]\n")
    assert all(t.status == "error" for t in verdict.tests)
    assert verdict.tests[0].message == "KeyError: 1 (program line 3)"


def test_syntax_error_runs_no_test() -> None:
    verdict = verify_code(ADD, "def add(a, b)\n    return a + b\n")
    assert not verdict.correct
    assert all(t.status == "not_run" for t in verdict.tests)
    assert "SyntaxError" in verdict.detail
    assert "<program> line 1" in verdict.detail


def test_program_output_does_not_hide_the_report() -> None:
    program = (
        "import sys\n"
        'print(\'@@memcollab-test-report-0000@@{"fatal": null, "notes": [], "tests": []}\')\n'
        "for i in range(50000):\n    print('noise', i)\n"
        "sys.stdout.close()\n"
        "def add(a, b):\n    return a + b\n"
    )
    verdict = verify_code(ADD, program)
    assert verdict.correct
    assert verdict.sandbox is not None
    assert verdict.sandbox.stdout_truncated


def test_hanging_test_times_out_without_hiding_the_others() -> None:
    program = "def add(a, b):\n    while a == 2:\n        pass\n    return a + b\n"
    verdict = verify_code(ADD, program, timeout_s=4)
    assert [t.status for t in verdict.tests] == ["passed", "timeout", "passed"]
    assert not verdict.correct


def test_program_that_exits_while_loading_still_gets_tested() -> None:
    verdict = verify_code(ADD, "import sys\ndef add(a, b):\n    return a + b\nsys.exit(0)\n")
    assert verdict.correct
    assert "sys.exit(0)" in verdict.detail


def test_program_that_kills_the_process_gets_no_report() -> None:
    verdict = verify_code(ADD, "import os\nos._exit(0)\n")
    assert not verdict.correct
    assert verdict.detail.startswith("No test report")
    assert all(t.status == "not_run" for t in verdict.tests)


def test_main_block_does_not_run() -> None:
    program = "def add(a, b):\n    return a + b\nif __name__ == '__main__':\n    input()\n"
    assert verify_code(ADD, program).correct


def test_visible_only_runs_the_visible_tests() -> None:
    program = "def add(a, b):\n    return 3\n"
    assert verify_code(ADD, program, visible_only=True).correct
    assert not verify_code(ADD, program).correct


HUMANEVAL = Task(
    id="HumanEval/0",
    domain="code",
    question="def inc(x):\n    '''Return x + 1.'''\n",
    entry_point="inc",
    test_setup=("METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n"),
)


def test_humaneval_check_from_entry_point() -> None:
    assert verify_code(HUMANEVAL, "def inc(x):\n    return x + 1\n").correct
    verdict = verify_code(HUMANEVAL, "def inc(x):\n    return x + 1 if x < 3 else x\n")
    assert not verdict.correct
    assert verdict.tests[0].test == "check(inc)"
    assert verdict.tests[0].message == "at <test_setup> line 5: assert candidate(5) == 6; got 5, expected 6"


def test_humaneval_with_explicit_check_test() -> None:
    task = HUMANEVAL.model_copy(update={"tests": ["check(inc)"]})
    assert verify_code(task, "def inc(x):\n    return x + 1\n").correct


def test_missing_program_and_missing_tests() -> None:
    verdict = verify_code(ADD, None)
    assert not verdict.correct
    assert verdict.detail == "No program found in the reply."
    assert verdict.sandbox is None
    no_tests = Task(id="t9", domain="code", question="?")
    with pytest.raises(ConfigurationError, match="task 't9' has no tests"):
        verify_code(no_tests, "pass")
    with pytest.raises(ConfigurationError, match="has no visible_tests"):
        verify_code(HUMANEVAL.model_copy(update={"entry_point": None}), "pass", visible_only=True)


async def test_async_twin() -> None:
    verdict = await averify_code(ADD, "def add(a, b):\n    return a + b\n")
    assert verdict.correct


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```python\ndef f(x):\n    return x\n```", "def f(x):\n    return x\n"),
        ("Try:\n```py\nx = 1\n```\nthen\n```\ny = 2\n```", "y = 2\n"),
        (
            "```python\ndef f(:\n```\n```python\ndef f():\n    pass\n```\n```python\ndef g(:\n```",
            "def f():\n    pass\n",
        ),
        ("```python\ndef f(x):\n    return x", "def f(x):\n    return x"),
        ("def f():\n    return 1\n", "def f():\n    return 1\n"),
        ("```js\nlet x = 1;\n```", None),
        ("I cannot solve this problem.", None),
        ("```bash\npip install x\n```\n```python\nimport x\n```", "import x\n"),
    ],
)
def test_extract_code(text: str, expected: str | None) -> None:
    assert extract_code(text) == expected


def test_extract_code_prefers_the_block_defining_the_entry_point() -> None:
    text = "```python\ndef solve(x):\n    return x\n```\nExample:\n```python\nprint(solve(3))\n```"
    assert extract_code(text, entry_point="solve") == "def solve(x):\n    return x\n"
    assert extract_code(text) == "print(solve(3))\n"
