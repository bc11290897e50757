"""Offline stand-ins for a team's chat models, so that the notebooks and CI run without a model server.

These are **fakes**, not models: :class:`~memcollab_langgraph.testing.FunctionChatModel` instances that
recognise the bundled demo tasks (:func:`~memcollab_langgraph.tasks.demo_tasks`) in the prompt and
answer from a script:

* as a classifier, any agent replies with the task's own category label;
* the strongest agent (highest ``strength``) solves every task: the ground-truth answer, or the
  task's reference program;
* a weaker agent solves a task only when its prompt carries constraints from the memory, or, without
  them, on about one task in three (chosen by a hash of the agent and task); otherwise it answers wrong;
* as the distiller, the strongest agent writes one abstract constraint for the task's subcategory
  (:data:`RULES`).

A memory built with them has the shape of a real one (categories, merged duplicates, provenance,
utility counters), but the accuracies they produce are scripted and say nothing about real models.
To run the real team, open the runtime without them: ``Runtime(config)`` instead of
``Runtime(config, models=fake_models(config))``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from fractions import Fraction
from functools import cache

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, SystemMessage

from memcollab_langgraph import Task
from memcollab_langgraph.config import Config
from memcollab_langgraph.tasks import demo_tasks
from memcollab_langgraph.testing import FunctionChatModel

__all__ = ["RULES", "fake_models"]

RULES: dict[str, tuple[str, str, str]] = {
    # math
    "arithmetic_word_problems": (
        "a word problem combines several quantities given per item or per unit",
        "compute each subtotal in its own unit before combining them",
        "adding quantities that are counted in different units",
    ),
    "percentages": (
        "several percent changes are applied one after another",
        "apply each percentage to the amount produced by the previous step",
        "adding or subtracting the percentages directly",
    ),
    "rates": (
        "an average rate is asked over parts that take different times",
        "divide the total amount by the total time",
        "averaging the rates of the parts",
    ),
    "fractions_decimals": (
        "fractions of a remaining amount are taken in sequence",
        "take each fraction of what is left after the previous step",
        "taking every fraction of the original whole",
    ),
    "ratios_proportions": (
        "quantities are shared in a given ratio",
        "find the value of one ratio part from the known total or difference first",
        "treating a ratio term as an actual quantity",
    ),
    "unit_conversion": (
        "a quantity must be packed into containers of a fixed size",
        "convert to one unit and round the number of containers up",
        "rounding down and leaving part of the quantity unpacked",
    ),
    "basic_statistics": (
        "a missing value must produce a target mean",
        "work from the total that the target mean requires",
        "averaging the existing mean with the target",
    ),
    "linear_equations": (
        "a word statement describes an unknown number",
        "write one equation that mirrors each phrase in order and solve it",
        "guessing values without checking them against every condition",
    ),
    "equation_word_problems": (
        "ages or amounts are related at two different times",
        "shift every quantity by the same elapsed time before equating",
        "changing only one of the related quantities",
    ),
    "systems_of_equations": (
        "two kinds of items have a known total count and a known total value",
        "set up one equation for the count and one for the value",
        "solving from the total value alone",
    ),
    "arithmetic_sequences": (
        "a term far along an arithmetic sequence is asked",
        "add the common difference times one less than the position to the first term",
        "multiplying the difference by the position itself",
    ),
    "gcd_lcm": (
        "repeating events must coincide again",
        "use the least common multiple of their periods",
        "multiplying the periods or using their greatest common divisor",
    ),
    "divisibility": (
        "divisors or multiples are counted",
        "use the prime factorisation, or floor division at both ends of a range",
        "off-by-one errors at the boundaries of the range",
    ),
    "digits": (
        "the last digit of a large power is asked",
        "find the cycle of last digits and reduce the exponent by its length",
        "computing the full power",
    ),
    "permutations_combinations": (
        "arrangements contain repeated items or selections are unordered",
        "divide by the orderings that give the same outcome",
        "counting identical arrangements as distinct",
    ),
    "probability": (
        "items are drawn without replacement",
        "update the counts after every draw, or count unordered selections",
        "multiplying probabilities as if the draws were independent",
    ),
    "triangles": (
        "a side of a right triangle is unknown",
        "apply the Pythagorean theorem with the correct side as hypotenuse",
        "adding the legs instead of their squares",
    ),
    "angles": (
        "an angle of a regular polygon is given or asked",
        "use that the exterior angles sum to a full turn",
        "confusing interior and exterior angles",
    ),
    "solids_volume": (
        "a liquid is poured between containers of different shapes",
        "keep the volume constant and solve for the new dimension",
        "keeping a length constant instead of the volume",
    ),
    # code
    "manipulation": (
        "consecutive equal characters are grouped",
        "flush the last group after the loop ends",
        "dropping the final group",
    ),
    "palindromes_anagrams": (
        "text is compared ignoring case and punctuation",
        "normalise it to lower-case letters and digits first",
        "comparing the raw strings",
    ),
    "character_counting": (
        "the first character with a frequency property is asked",
        "count all characters in one pass, then scan them in input order",
        "scanning a set whose order differs from the input",
    ),
    "indexing_slicing": (
        "a list is rotated or indexed cyclically",
        "reduce the offset modulo the length and handle the empty list",
        "assuming the offset is smaller than the length",
    ),
    "aggregation": (
        "an aggregate is computed over sliding windows",
        "produce exactly one value per complete window",
        "including partial windows at the edges",
    ),
    "number_theory": (
        "the divisors of a number are summed",
        "pair each divisor below the square root with its cofactor, counting a square root once",
        "counting the number itself or the square root twice",
    ),
    "base_conversion": (
        "an integer is written in another base",
        "collect remainders, reverse them and handle zero explicitly",
        "returning an empty string for zero",
    ),
    "combinatorics": (
        "lattice paths or selections are counted",
        "use a binomial coefficient or a table with correct boundary rows",
        "plain recursion without memoization",
    ),
    "dictionaries_hashing": (
        "items are grouped by an equivalence",
        "key a dictionary by a canonical form of each item",
        "using the item itself as the key",
    ),
    "stacks_queues": (
        "an expression in postfix form is evaluated",
        "pop the right operand first and apply the operator in the original order",
        "swapping the operands of non-commutative operators",
    ),
    "heaps": (
        "the top items by frequency are asked and ties are possible",
        "sort by descending count, then by the stated tie-break",
        "relying on insertion order for ties",
    ),
    "dynamic_programming": (
        "an optimum is built from smaller subproblems",
        "define the table's base cases and mark unreachable states explicitly",
        "greedy choices that are not proven optimal",
    ),
    "binary_search": (
        "the first position meeting a monotone condition is searched",
        "keep a half-open interval and return its left bound",
        "updates that skip the answer or never terminate",
    ),
    "brackets_nesting": (
        "the nesting depth or balance of brackets is measured",
        "track a running depth and reject it going negative or ending non-zero",
        "comparing only the total counts of opening and closing brackets",
    ),
    "dates_times": (
        "durations written in mixed units are parsed",
        "convert every component to the smallest unit before adding",
        "ignoring missing or zero components",
    ),
}
"""Subcategory -> (when, enforce, avoid): the constraint the fake distiller writes for a task."""

_GENERIC = (
    "a multi-step task is solved",
    "check the result against every condition of the statement",
    "stopping at the first plausible value",
)


@cache
def _demo_by_question() -> dict[str, Task]:
    return {t.question.strip(): t for t in demo_tasks("all")}


def _find_task(messages: Sequence[BaseMessage]) -> Task | None:
    text = "\n".join(m.text for m in messages)
    return next((t for q, t in _demo_by_question().items() if q in text), None)


def _wrong_answer(answer: str) -> str:
    try:
        value = Fraction(answer) + 1
    except (ValueError, ZeroDivisionError):
        return f"{answer} + 1"
    return str(float(value)) if "." in answer else str(value)


def _solution(task: Task, correct: bool) -> str:
    if task.domain == "code":
        body = task.metadata.get("reference_solution") if correct else None
        program = body or f"def {task.entry_point}(*args):\n    return None"
        return f"```python\n{program}\n```"
    answer = task.answer or ""
    if correct:
        return f"I work through the quantities one step at a time.\n\nThe final answer is \\boxed{{{answer}}}."
    return f"I combine the numbers as they appear.\n\nThe final answer is \\boxed{{{_wrong_answer(answer)}}}."


def _constraints(task: Task) -> str:
    if task.category is None:
        return json.dumps({"constraints": []})
    when, enforce, avoid = RULES.get(task.category.subcategory or "", _GENERIC)
    draft = {
        "when": when,
        "enforce": enforce,
        "avoid": avoid,
        "category": task.category.category,
        "subcategory": task.category.subcategory,
    }
    return json.dumps({"constraints": [draft]})


def _reply(agent: str, strongest: bool, messages: list[BaseMessage]) -> str:
    system = "\n".join(m.text for m in messages if isinstance(m, SystemMessage))
    task = _find_task(messages)
    if task is None:
        return "I am an offline fake and only know the bundled demo tasks. The final answer is \\boxed{0}."
    if system.startswith("You label tasks"):
        label = task.category
        return json.dumps({"category": label.category, "subcategory": label.subcategory} if label else {})
    if system.startswith(("You compare solutions", "You study one solution")):
        return _constraints(task)
    with_memory = "Constraints distilled" in system
    lucky = zlib.crc32(f"{agent}:{task.id}".encode()) % 3 == 0
    return _solution(task, correct=strongest or with_memory or lucky)


def fake_models(config: Config) -> dict[str, BaseChatModel]:
    """A scripted fake chat model for every agent of ``config`` (see the module docstring).

    Pass the result as ``Runtime(config, models=...)``; no agent then needs a model server.
    """
    strongest = max(config.agents, key=lambda a: a.strength).name
    return {
        spec.name: FunctionChatModel(
            lambda messages, name=spec.name: _reply(name, name == strongest, messages), model_name=spec.model_id
        )
        for spec in config.agents
    }
