"""Task loaders: format detection, each format's mapping to Task, ids, and errors that name file and line."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import CategoryPath, Task
from memcollab_langgraph.tasks import (
    MATH_SUBJECTS,
    detect_format,
    docstring_asserts,
    iter_tasks,
    load_tasks,
    parse_tasks,
    record_to_task,
    task_to_record,
    write_tasks,
)
from memcollab_langgraph.taxonomy import get_taxonomy
from memcollab_langgraph.verifiers import verify_code

GSM8K = {"question": "Ann has 3 pens and buys 4 more. How many pens?", "answer": "3 + 4 = 7\n#### 7"}
MATH = {
    "problem": "What is $1 + \\frac{1}{2}$?",
    "solution": "We add: $1 + \\frac{1}{2} = \\boxed{\\frac{3}{2}}$.",
    "level": "Level 2",
    "type": "Prealgebra",
}
MBPP = {
    "task_id": 42,
    "text": "Write a function to add two numbers.",
    "code": "def add_two(a, b):\r\n    return a + b",
    "test_list": ["assert add_two(1, 2) == 3", "assert add_two(0, 0) == 0", "assert add_two(-1, 1) == 0"],
    "test_setup_code": "",
    "challenge_test_list": ["assert add_two(10**20, 1) == 10**20 + 1"],
}
HE_PROMPT = (
    "def double(x: int) -> int:\n"
    '    """Return twice x.\n'
    "    >>> double(2)\n"
    "    4\n"
    "    >>> double(-1)\n"
    "    -2\n"
    '    """\n'
)
HUMANEVAL = {
    "task_id": "HumanEval/999",
    "prompt": HE_PROMPT,
    "canonical_solution": "    return 2 * x\n",
    "test": "\n\ndef check(candidate):\n    assert candidate(3) == 6\n    assert candidate(0) == 0\n",
    "entry_point": "double",
}
GENERIC = {
    "id": "t1",
    "domain": "math",
    "question": "What is 6 * 7?",
    "answer": "42",
    "category": "math/prealgebra/order_of_operations",
    "metadata": {"split": "train"},
}


def write_jsonl(path: Path, records: Sequence[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


# --- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (GSM8K, "gsm8k"),
        (MATH, "math"),
        (MBPP, "mbpp"),
        (HUMANEVAL, "humaneval"),
        (GENERIC, "generic"),
        ({"id": "x", "question": "q", "answer": "1"}, "generic"),  # an id makes it generic, not GSM8K
        ({"problem": "p", "solution": "\\boxed{1}", "answer": "1", "subject": "Algebra"}, "math"),
    ],
)
def test_detect_format(record: dict[str, Any], expected: str) -> None:
    assert detect_format(record) == expected


def test_detect_format_rejects_unknown_keys_listing_what_each_format_needs() -> None:
    with pytest.raises(ConfigurationError, match=r"cannot tell the task format from the keys \['prompt'\]") as e:
        detect_format({"prompt": "hi"})
    assert "gsm8k: ['answer', 'question']" in str(e.value)
    assert "format=" in str(e.value)


# --- GSM8K --------------------------------------------------------------------------------------


def test_gsm8k_record() -> None:
    task = record_to_task(GSM8K, "gsm8k")
    digest = hashlib.sha256(GSM8K["question"].encode()).hexdigest()[:12]
    assert task.id == f"gsm8k/{digest}"
    assert (task.domain, task.question, task.answer) == ("math", GSM8K["question"], "7")
    assert task.metadata == {"dataset": "gsm8k", "reference_solution": GSM8K["answer"]}
    assert task.category is None


def test_gsm8k_id_ignores_whitespace_and_position() -> None:
    spaced = {**GSM8K, "question": "  Ann has 3 pens   and buys 4 more.\nHow many pens? "}
    assert record_to_task(spaced, "gsm8k").id == record_to_task(GSM8K, "gsm8k").id
    other = {**GSM8K, "question": "Ann has 3 pens and buys 5 more. How many pens?"}
    assert record_to_task(other, "gsm8k").id != record_to_task(GSM8K, "gsm8k").id


def test_gsm8k_ids_do_not_depend_on_line_or_offset(tmp_path: Path) -> None:
    other = {"question": "Bo has 2 cats and 1 dog. How many pets?", "answer": "2 + 1 = 3\n#### 3"}
    path = write_jsonl(tmp_path / "g.jsonl", [other, GSM8K])
    alone = write_jsonl(tmp_path / "alone.jsonl", [GSM8K])
    assert load_tasks(path, offset=1)[0].id == load_tasks(alone)[0].id == load_tasks(path)[1].id


@pytest.mark.parametrize(
    ("answer", "message"),
    [("3 + 4 = 7", "has no '#### <final answer>' line"), ("3 + 4 = 7\n####  ", "has nothing after '####'")],
)
def test_gsm8k_answer_without_final_answer(tmp_path: Path, answer: str, message: str) -> None:
    path = write_jsonl(tmp_path / "g.jsonl", [GSM8K, {**GSM8K, "answer": answer}])
    with pytest.raises(ConfigurationError, match=rf"g\.jsonl:2: GSM8K record's 'answer' {message}"):
        load_tasks(path)


# --- MATH ---------------------------------------------------------------------------------------


def test_math_record_takes_the_boxed_answer_and_maps_type_to_a_category() -> None:
    task = record_to_task(MATH, "math")
    assert task.answer == "\\frac{3}{2}"
    assert task.category == CategoryPath(domain="math", category="prealgebra")
    assert task.metadata == {
        "dataset": "math",
        "reference_solution": MATH["solution"],
        "subject": "Prealgebra",
        "level": 2,
    }
    assert task.id.startswith("math/")


@pytest.mark.parametrize(("subject", "slug"), sorted(MATH_SUBJECTS.items()))
def test_every_math_subject_maps_to_a_taxonomy_category(subject: str, slug: str) -> None:
    task = record_to_task({**MATH, "type": subject}, "math")
    assert task.category is not None
    assert get_taxonomy("math").validate_path(task.category) == CategoryPath(domain="math", category=slug)


def test_math500_shape_keeps_unique_id_answer_and_subject() -> None:
    record = {
        "problem": "Compute $2^3$.",
        "solution": "It is $\\boxed{8}$.",
        "answer": "8",
        "subject": "Intermediate Algebra",
        "level": 1,
        "unique_id": "test/intermediate_algebra/1.json",
    }
    task = record_to_task(record, "math")
    assert (task.id, task.answer, str(task.category)) == (
        "test/intermediate_algebra/1.json",
        "8",
        "math/intermediate_algebra",
    )
    assert task.metadata["level"] == 1


def test_math_unknown_subject_is_kept_without_a_category() -> None:
    task = record_to_task({**MATH, "type": "Topology"}, "math")
    assert task.category is None
    assert task.metadata["subject"] == "Topology"


def test_math_solution_without_box_or_answer_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match=r"no 'answer' and its 'solution' has no \\boxed"):
        record_to_task({**MATH, "solution": "It is 3/2."}, "math")


# --- MBPP ---------------------------------------------------------------------------------------


def test_mbpp_record() -> None:
    task = record_to_task(MBPP, "mbpp")
    assert task.id == "mbpp/42"
    assert task.domain == "code"
    assert task.question == "Write a function to add two numbers.\n\nFunction signature: `def add_two(a, b)`"
    assert task.entry_point == "add_two"
    assert task.tests == MBPP["test_list"]
    assert task.visible_tests == MBPP["test_list"][:1]
    assert task.test_setup is None
    assert task.metadata == {
        "dataset": "mbpp",
        "reference_solution": MBPP["code"],
        "challenge_tests": MBPP["challenge_test_list"],
    }


def test_a_records_code_with_invalid_escapes_loads_without_warnings() -> None:
    """Data sets hold code such as ``re.findall('\\w+', s)`` in plain strings; parsing it is our business,
    its style is not: no DeprecationWarning/SyntaxWarning may reach the user."""
    record = {
        **MBPP,
        "code": "import re\ndef words(s):\n    return re.findall('\\w+', s)",
        "test_list": ["assert words('a b') == re.findall('\\w+', 'a b')"],
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = record_to_task(record, "mbpp")
    assert task.entry_point == "words"
    assert [str(w.message) for w in caught] == []


def test_mbpp_entry_point_is_the_function_the_first_test_calls_not_a_builtin_around_it() -> None:
    record = {
        **MBPP,
        "code": "import math\ndef helper(x):\n    return x\ndef common(a, b) -> tuple:\n    return tuple(a)",
        "test_list": ["assert set(common((1, 2), (2, 3))) == set((2,))"],
    }
    task = record_to_task(record, "mbpp")
    assert task.entry_point == "common"
    assert task.question.endswith("Function signature: `def common(a, b) -> tuple`")


def test_mbpp_names_classes_the_tests_and_setup_take_from_the_reference() -> None:
    record = {
        **MBPP,
        "code": "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "class Node:\n    pass\ndef longest(arr, n):\n    return n",
        "test_list": ["assert longest([Pair(1, 2)], 1) == 1"],
        "test_setup_code": "root = Node()",
    }
    task = record_to_task(record, "mbpp")
    assert task.question.endswith("The tests also use `Node`, `Pair`; define them as well.")
    assert task.test_setup == "root = Node()"


def test_mbpp_without_reference_code_names_the_function_from_the_test() -> None:
    task = record_to_task({**MBPP, "code": ""}, "mbpp")
    assert task.entry_point == "add_two"
    assert task.question.endswith("The function is named `add_two`.")


def test_mbpp_reference_passes_its_tests_in_the_sandbox() -> None:
    task = record_to_task(MBPP, "mbpp")
    assert verify_code(task, task.metadata["reference_solution"]).correct


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"test_list": []}, "MBPP record's 'test_list' is empty"),
        ({"test_list": "assert f()"}, "MBPP record's 'test_list' must be a list of strings"),
        ({"text": None}, "MBPP record has no 'text'"),
        ({"task_id": [1]}, "MBPP record's 'task_id' must be a string, got list"),
    ],
)
def test_mbpp_bad_fields(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        record_to_task({**MBPP, **change}, "mbpp")


# --- HumanEval ----------------------------------------------------------------------------------


def test_humaneval_record_is_verified_by_its_check_function() -> None:
    task = record_to_task(HUMANEVAL, "humaneval")
    assert task.id == "HumanEval/999"
    assert task.question == HE_PROMPT
    assert task.tests == ["check(double)"]
    assert task.test_setup == HUMANEVAL["test"]
    assert task.visible_tests == ["assert double(2) == 4", "assert double(-1) == -2"]
    reference = task.metadata["reference_solution"]
    assert reference == HE_PROMPT + HUMANEVAL["canonical_solution"]
    assert verify_code(task, reference).correct
    assert verify_code(task, reference, visible_only=True).correct
    wrong = verify_code(task, HE_PROMPT + "    return x + 2\n")
    assert not wrong.correct
    assert "check(double)" in wrong.detail


def test_humaneval_test_without_check_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "he.jsonl", [{**HUMANEVAL, "test": "assert True"}])
    with pytest.raises(ConfigurationError, match=r"he\.jsonl:1: HumanEval record's 'test' does not define check"):
        load_tasks(path)


@pytest.mark.parametrize(
    ("docstring", "expected"),
    [
        (">>> f([1, 2], 'a')\n[1, 2, 'a']", ["assert f([1, 2], 'a') == [1, 2, 'a']"]),
        (">>> round(f(0.5), 2)  # rounded\n0.25", ["assert round(f(0.5), 2) == 0.25"]),
        (">>> f(1)\nTrue\n>>> f(1)\nTrue", ["assert f(1) == True"]),  # duplicates dropped
        (">>> g(1)\n2", []),  # does not call the entry point
        (">>> print(f(1))\nhello", []),  # printed output is not a value
        (">>> f(1)\n<object at 0x1>", []),  # not a literal
        ("f(5) ==> 6\nf('a') ➞ 'b'\nf(2) => [1]", ["assert f(5) == 6", "assert f('a') == 'b'", "assert f(2) == [1]"]),
        (
            "f(3) returns 1\nf(4) should return 16.\n* f([]) -> []",
            ["assert f(3) == 1", "assert f(4) == 16", "assert f([]) == []"],
        ),
        ("f(1, 2) == -1", ["assert f(1, 2) == -1"]),
        ("f(7) => true", []),  # not Python
        ("f(x) => False", []),  # names an unset variable
        ("f(1) = 3", []),  # '=' is how recurrences are written, not examples
        ("f('a,b') -> 1 + 2 = 3", []),
        ("f((1, 2)) ==> 'NO'  # a comment", ["assert f((1, 2)) == 'NO'"]),
        ("f(1, key=2) ==> 3", []),
        ("f([\n  1]) ==> 3", []),  # spans two lines
        (">>> f([]) == 0\n>>> f(2) == [1]", ["assert f([]) == 0", "assert f(2) == [1]"]),
        (">>> f(1) == 5\nFalse", ["assert (f(1) == 5) == False", "assert f(1) == 5"]),
        (">>> f(1)\n2\nf(5) ==> 6", ["assert f(1) == 2", "assert f(5) == 6"]),  # no blank line between
        (">>> f(2)\n[1,\n 2]", ["assert f(2) == [1, 2]"]),  # a value wrapped over two lines
    ],
)
def test_docstring_asserts(docstring: str, expected: list[str]) -> None:
    prompt = (
        "def f(*args):\n    '''Docs.\n" + "\n".join("    " + line for line in docstring.splitlines()) + "\n    '''\n"
    )
    assert docstring_asserts(prompt, "f") == expected


def test_docstring_asserts_tolerates_broken_doctest_indentation() -> None:
    prompt = "def f(x):\n    '''\n    >>> f(1)\n  2\n    f(3) ==> 4\n    '''\n"
    assert docstring_asserts(prompt, "f") == ["assert f(3) == 4"]


# --- generic ------------------------------------------------------------------------------------


def test_generic_record_round_trips(tmp_path: Path) -> None:
    code = Task(
        id="c1",
        domain="code",
        question="Write `inc(x)`.",
        tests=["assert inc(1) == 2", "assert inc(-1) == 0"],
        visible_tests=["assert inc(1) == 2"],
        test_setup="import math",
        entry_point="inc",
        category=CategoryPath.parse("code/math/arithmetic"),
        metadata={"split": "heldout", "reference_solution": "def inc(x):\n    return x + 1\n"},
    )
    tasks = [record_to_task(GENERIC, "generic"), code]
    path = tmp_path / "out" / "tasks.jsonl"
    path.parent.mkdir()
    assert write_tasks(path, tasks) == 2
    assert load_tasks(path) == tasks
    assert [p.name for p in path.parent.iterdir()] == ["tasks.jsonl"]
    first = json.loads(path.read_text().splitlines()[0])
    assert first == GENERIC  # defaults left out, category written as a path string


def test_task_to_record_leaves_out_defaults() -> None:
    assert task_to_record(Task(id="a", domain="code", question="q")) == {"id": "a", "domain": "code", "question": "q"}


def test_write_tasks_to_a_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot write task file"):
        write_tasks(tmp_path / "nope" / "t.jsonl", [record_to_task(GENERIC, "generic")])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"split": "train"}, r" has unknown keys \['split'\].*put anything else under 'metadata'"),
        ({"category": "Math/Algebra"}, r"'s 'category.domain': .*'Math' must be a lower-case slug"),
        ({"question": "  "}, r"'s 'question': Value error, must not be empty"),
        ({"tests": "assert x"}, r"'s 'tests': Input should be a valid list"),
    ],
)
def test_generic_bad_records(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [GENERIC, {**GENERIC, **change}])
    with pytest.raises(ConfigurationError, match=r"t\.jsonl:2: generic record" + message):
        load_tasks(path)


def test_generic_record_without_domain_names_the_missing_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"id": "x", "question": "q", "answer": "1"}])
    with pytest.raises(ConfigurationError, match=r"t\.jsonl:1: generic record's 'domain': Field required"):
        load_tasks(path)


# --- files, windows and errors --------------------------------------------------------------------


def test_load_tasks_limit_and_offset_count_records_not_lines(tmp_path: Path) -> None:
    records = [{**GENERIC, "id": f"t{i}"} for i in range(6)]
    path = write_jsonl(tmp_path / "t.jsonl", [records[0], "", "   ", *records[1:]])
    assert [t.id for t in load_tasks(path)] == [f"t{i}" for i in range(6)]
    assert [t.id for t in load_tasks(path, limit=2)] == ["t0", "t1"]
    assert [t.id for t in load_tasks(path, offset=4)] == ["t4", "t5"]
    assert [t.id for t in load_tasks(path, offset=1, limit=3)] == ["t1", "t2", "t3"]
    assert load_tasks(path, limit=0) == []
    assert load_tasks(path, offset=10) == []


def test_explicit_format_overrides_detection(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"question": "1 + 1?", "answer": "#### 2", "id": "ignored"}])
    with pytest.raises(ConfigurationError, match="generic record's 'domain'"):
        load_tasks(path)
    assert load_tasks(path, format="gsm8k")[0].answer == "2"


def test_format_is_detected_from_the_first_record(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "mixed.jsonl", [GSM8K, MBPP])
    with pytest.raises(ConfigurationError, match=r"mixed\.jsonl:2: GSM8K record has no 'question'"):
        load_tasks(path)
    assert load_tasks(path, limit=1)[0].id.startswith("gsm8k/")


def test_skipped_lines_are_not_decoded_when_the_format_is_given(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [GENERIC, "{broken", {**GENERIC, "id": "t2"}])
    assert [t.id for t in load_tasks(path, format="generic", offset=2)] == ["t2"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "x", ', r"t\.jsonl:3: not valid JSON \(.* at column \d+\); each line must be one JSON object"),
        ("[1, 2]", r"t\.jsonl:3: expected a JSON object, got a JSON list"),
        ('{"question": "2 + 2?"}', r"t\.jsonl:3: GSM8K record has no 'answer' \(its keys: \['question'\]\)"),
        ('{"question": 5, "answer": "#### 5"}', r"t\.jsonl:3: GSM8K record's 'question' must be a string"),
    ],
)
def test_bad_lines_name_file_line_and_problem(tmp_path: Path, line: str, message: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [GSM8K, "", line])
    with pytest.raises(ConfigurationError, match=message) as e:
        load_tasks(path)
    assert not isinstance(e.value, KeyError)
    assert e.value.__cause__ is None or not isinstance(e.value.__cause__, KeyError)


def test_iter_tasks_yields_good_records_before_reaching_a_bad_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [GSM8K, GSM8K, "not json"])
    tasks = iter_tasks(path)
    assert next(tasks).answer == "7"
    assert next(tasks).answer == "7"
    with pytest.raises(ConfigurationError, match=r"t\.jsonl:3: not valid JSON"):
        next(tasks)


def test_unknown_format_names_the_file_and_the_choices(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [GSM8K])
    with pytest.raises(ConfigurationError, match=r"t\.jsonl: unknown task format 'apps'; use one of \['gsm8k'"):
        load_tasks(path, format="apps")  # type: ignore[arg-type]


def test_undetectable_first_record_names_the_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", ["", {"prompt": "p"}])
    with pytest.raises(ConfigurationError, match=r"t\.jsonl:2: cannot tell the task format"):
        load_tasks(path)


@pytest.mark.parametrize(("kwargs", "message"), [({"limit": -1}, "limit must be"), ({"offset": -2}, "offset must be")])
def test_bad_window_is_rejected_at_once(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [GSM8K])
    with pytest.raises(ConfigurationError, match=message):
        iter_tasks(path, **kwargs)  # type: ignore[arg-type]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read task file '.*missing\.jsonl': it does not exist"):
        iter_tasks(tmp_path / "missing.jsonl")
    with pytest.raises(ConfigurationError, match="it is a directory"):
        load_tasks(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(GSM8K).encode() + b"\n\xff\xfe\n")
    with pytest.raises(ConfigurationError, match="is not UTF-8 text"):
        load_tasks(path)


def test_empty_file_has_no_tasks(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    assert load_tasks(path) == []


def test_parse_tasks_reads_any_lines() -> None:
    lines = [json.dumps(GSM8K), json.dumps({**GSM8K, "answer": "no marker"})]
    with pytest.raises(ConfigurationError, match=r"^inline:2: GSM8K record's 'answer' has no"):
        list(parse_tasks(lines, origin="inline"))


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GSM8K).encode() + b"\n")
    assert load_tasks(path)[0].answer == "7"
