"""The bundled demo task set: valid, well spread over the taxonomy, and every reference answer verifies."""

from __future__ import annotations

import ast
import doctest
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from importlib.resources import files

import pytest

import memcollab_langgraph.tasks as tasks_package
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import Task
from memcollab_langgraph.tasks import demo, demo_tasks, formats, load_tasks, loaders
from memcollab_langgraph.taxonomy import get_taxonomy
from memcollab_langgraph.verifiers import verify_code, verify_math

ALL = demo_tasks("all")
MATH = [t for t in ALL if t.domain == "math"]
CODE = [t for t in ALL if t.domain == "code"]


def test_composition() -> None:
    assert (len(MATH), len(CODE)) == (25, 17)
    assert [t.domain for t in ALL] == ["math"] * 25 + ["code"] * 17
    assert len({t.id for t in ALL}) == len(ALL)
    assert all(t.id.startswith(f"demo/{t.domain}/") for t in ALL)
    math_categories = Counter(t.category.category for t in MATH if t.category)
    assert set(math_categories) == {"prealgebra", "algebra", "number_theory", "counting_and_probability", "geometry"}
    assert math_categories["prealgebra"] >= 6  # arithmetic, percentages, rates, fractions...
    prealgebra = {t.category.subcategory for t in MATH if t.category and t.category.category == "prealgebra"}
    assert {"percentages", "rates", "fractions_decimals", "arithmetic_word_problems"} <= prealgebra
    code_categories = Counter(t.category.category for t in CODE if t.category)
    assert set(code_categories) == {"strings", "lists_arrays", "math", "data_structures", "algorithms_dp", "parsing"}
    assert min(code_categories.values()) >= 2


def test_splits() -> None:
    train, heldout = demo_tasks("train"), demo_tasks("heldout")
    assert demo_tasks() == train  # "train" is the default
    assert Counter(t.domain for t in heldout) == {"math": 2, "code": 2}
    assert {t.id for t in train} | {t.id for t in heldout} == {t.id for t in ALL}
    assert not {t.id for t in train} & {t.id for t in heldout}
    assert all(t.metadata["split"] in {"train", "heldout"} for t in ALL)
    # Memory built on train can reach every held-out task: its category also occurs in train.
    train_categories = {t.category.parent() for t in train if t.category}
    assert all(t.category is not None and t.category.parent() in train_categories for t in heldout)


def test_unknown_split() -> None:
    with pytest.raises(
        ConfigurationError, match=r"unknown demo split 'test'; use one of \['train', 'heldout', 'all'\]"
    ):
        demo_tasks("test")  # type: ignore[arg-type]


def test_every_call_returns_fresh_tasks() -> None:
    first = demo_tasks("all")
    first[0].metadata["split"] = "changed"
    assert demo_tasks("all")[0].metadata["split"] != "changed"


@pytest.mark.parametrize("task", ALL, ids=lambda t: t.id)
def test_category_is_a_leaf_of_the_builtin_taxonomy(task: Task) -> None:
    assert task.category is not None
    assert task.category.domain == task.domain
    assert task.category.depth == 3
    assert get_taxonomy().validate_path(task.category) == task.category


@pytest.mark.parametrize("task", MATH, ids=lambda t: t.id)
def test_math_answer_is_a_number_that_verifies(task: Task) -> None:
    assert task.answer is not None
    Fraction(task.answer)  # an integer, a decimal or a common fraction
    assert not task.tests
    assert verify_math(task, task.answer).correct
    assert verify_math(task, f"So the final answer is {task.answer}.").correct
    assert not verify_math(task, str(Fraction(task.answer) + 1)).correct


@pytest.mark.parametrize("task", CODE, ids=lambda t: t.id)
def test_code_task_shape(task: Task) -> None:
    assert task.answer is None
    assert len(task.tests) >= 3
    assert task.visible_tests == task.tests[:1]
    assert task.entry_point is not None
    assert f"`{task.entry_point}(" in task.question  # the signature is in the question
    reference = task.metadata["reference_solution"]
    defined = [n.name for n in ast.parse(reference).body if isinstance(n, ast.FunctionDef)]
    assert task.entry_point in defined
    for test in task.tests:
        ast.parse(test)
        assert task.entry_point in test


def test_every_code_reference_solution_passes_all_tests() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(lambda t: verify_code(t, t.metadata["reference_solution"]), CODE))
    failed = {t.id: v.detail for t, v in zip(CODE, verdicts, strict=True) if not v.correct}
    assert not failed, failed
    assert [v.passed for v in verdicts] == [len(t.tests) for t in CODE]


@pytest.mark.parametrize(
    ("task_id", "naive"),
    [
        (
            "demo/code/fewest-coins",  # greedy, largest coin first
            "def fewest_coins(coins, amount):\n    n = 0\n    for c in sorted(coins, reverse=True):\n"
            "        n += amount // c\n        amount %= c\n    return n if amount == 0 else -1\n",
        ),
        (
            "demo/code/postfix-evaluation",  # floor division instead of truncation
            "def eval_postfix(tokens):\n    s = []\n    for t in tokens:\n"
            "        if t in '+-*/' and len(t) == 1:\n            b, a = s.pop(), s.pop()\n"
            "            s.append({'+': a + b, '-': a - b, '*': a * b, '/': a // b}[t])\n"
            "        else:\n            s.append(int(t))\n    return s[-1]\n",
        ),
        (
            "demo/code/proper-divisor-sum",  # correct but linear: too slow for n near 10**9
            "def proper_divisor_sum(n):\n    return sum(d for d in range(1, n) if n % d == 0)\n",
        ),
        (
            "demo/code/rotate-right",  # forgets that k may exceed the length
            "def rotate_right(items, k):\n    return items[-k:] + items[:-k]\n",
        ),
    ],
)
def test_hidden_tests_catch_the_usual_mistakes(task_id: str, naive: str) -> None:
    task = next(t for t in CODE if t.id == task_id)
    assert verify_code(task, naive, visible_only=True).correct  # the visible test alone does not tell
    assert not verify_code(task, naive).correct


def test_demo_file_is_package_data_in_the_generic_format() -> None:
    resource = files("memcollab_langgraph").joinpath("data/demo_tasks.jsonl")
    assert resource.is_file()
    with_path = str(resource)
    assert load_tasks(with_path, format="generic") == ALL
    assert load_tasks(with_path) == ALL  # detected as generic


def test_doctests_of_the_tasks_modules() -> None:
    for module in (tasks_package, formats, loaders, demo):
        assert doctest.testmod(module).failed == 0, module.__name__
