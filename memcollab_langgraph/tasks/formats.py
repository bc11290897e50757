"""Record formats of task files, and how each record becomes a :class:`~memcollab_langgraph.schema.Task`.

Every converter takes one decoded JSON object and returns a task, or raises
:class:`~memcollab_langgraph.errors.ConfigurationError` saying what is wrong with the record (the
loader adds the file name and line number). Reference solutions go to
``metadata["reference_solution"]`` (the worked solution for math, a complete program for code),
never into the question; ``metadata["dataset"]`` names the source.

- ``gsm8k`` ``{"question", "answer"}``: the answer is what follows the last ``####``. GSM8K has
  no ids, so a task is named ``gsm8k/`` plus the first 12 hex digits of the SHA-256 of its question
  (whitespace collapsed): stable across runs, independent of line order, ``offset`` and ``limit``,
  and distinct between the train and test files, which line numbers would not be.
- ``math`` ``{"problem", "solution", "level", "type"}`` (MATH500's ``subject``, ``answer`` and
  ``unique_id`` also read): the answer is ``answer`` or the solution's last boxed expression; the
  type maps to a category of the built-in math taxonomy (:data:`MATH_SUBJECTS`), an unknown type
  leaves the category to the classifier; the id is ``unique_id`` or ``math/<hash of the problem>``.
- ``mbpp`` ``{"task_id", "text", "code", "test_list", "test_setup_code", "challenge_test_list"}``:
  id ``mbpp/<task_id>``; the hidden tests are all asserts of ``test_list`` and the visible test is
  the first of them; ``test_setup_code`` becomes ``test_setup``; ``challenge_test_list`` (harder
  extras that published MBPP scores do not use) is kept in ``metadata["challenge_tests"]``. MBPP
  evaluations show the model its test asserts (Austin et al., 2021) so that it learns the
  function's name and arity; here the first assert is the visible test and the question also gets
  the **def line of the reference code** for the function that assert calls (the entry point), so
  the parameters are unambiguous, plus the names of classes the tests take from the reference code
  (``Pair``, ``Node``), which the solver must write too.
- ``humaneval`` ``{"task_id", "prompt", "canonical_solution", "test", "entry_point"}``: the id is
  kept, the question is the prompt, the hidden test is ``check(<entry_point>)`` with ``test`` (which
  defines ``check``) as ``test_setup``, and the visible tests are the docstring's examples turned
  into asserts by :func:`docstring_asserts`, minus the few that contradict the checker
  (:data:`HUMANEVAL_ERRATA`).
- ``generic``: this project's format, the fields of :class:`~memcollab_langgraph.schema.Task`
  (``id``, ``domain``, ``question`` required; ``category`` as ``"domain/category/subcategory"``).
"""

from __future__ import annotations

import ast
import builtins
import doctest
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

from pydantic import ValidationError

from memcollab_langgraph._validation import location, refused_value
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import CategoryPath, Task
from memcollab_langgraph.verifiers import extract_final_answer, parse_python

__all__ = [
    "FORMATS",
    "HUMANEVAL_ERRATA",
    "MATH_SUBJECTS",
    "TaskFormat",
    "detect_format",
    "docstring_asserts",
    "record_to_task",
]

TaskFormat = Literal["gsm8k", "math", "mbpp", "humaneval", "generic"]
"""The record formats :func:`~memcollab_langgraph.tasks.load_tasks` reads."""

FORMATS: tuple[TaskFormat, ...] = get_args(TaskFormat)

MATH_SUBJECTS: dict[str, str] = {
    "Algebra": "algebra",
    "Counting & Probability": "counting_and_probability",
    "Geometry": "geometry",
    "Intermediate Algebra": "intermediate_algebra",
    "Number Theory": "number_theory",
    "Prealgebra": "prealgebra",
    "Precalculus": "precalculus",
}
"""MATH's ``type`` (MATH500: ``subject``) to the category slug of the built-in math taxonomy."""

_GENERIC_KEYS = frozenset(Task.model_fields)
_BUILTIN_NAMES = frozenset(dir(builtins))
_NUMBER_KEYS = frozenset({"task_id", "unique_id", "level"})


# --- detection ----------------------------------------------------------------------------------

# Checked in order; the first whose keys are all present wins. Generic comes before GSM8K because a
# generic math task also has "question" and "answer"; it is recognised by its "id".
_SIGNATURES: tuple[tuple[TaskFormat, frozenset[str]], ...] = (
    ("humaneval", frozenset({"task_id", "prompt", "entry_point"})),
    ("mbpp", frozenset({"task_id", "text", "test_list"})),
    ("math", frozenset({"problem", "solution"})),
    ("generic", frozenset({"id", "question"})),
    ("gsm8k", frozenset({"question", "answer"})),
)


def detect_format(record: Mapping[str, Any]) -> TaskFormat:
    """The format of a task record, judged by its keys.

    Raises:
        ConfigurationError: No known format has these keys (the message lists what each format needs).

    Example:
        >>> detect_format({"question": "2 + 2?", "answer": "2 + 2 = 4\\n#### 4"})
        'gsm8k'
        >>> detect_format({"task_id": 11, "text": "...", "code": "...", "test_list": []})
        'mbpp'
    """
    keys = set(record)
    for name, needed in _SIGNATURES:
        if needed <= keys:
            return name
    wanted = "; ".join(f"{name}: {sorted(needed)}" for name, needed in _SIGNATURES)
    raise ConfigurationError(
        f"cannot tell the task format from the keys {sorted(keys)}; a record needs the keys of one "
        f"format ({wanted}), or pass format= explicitly"
    )


# --- field access -------------------------------------------------------------------------------


def _str(record: Mapping[str, Any], key: str, fmt: str, *, optional: bool = False) -> str | None:
    if key not in record or record[key] is None:
        if optional:
            return None
        raise ConfigurationError(f"{fmt} record has no {key!r} (its keys: {sorted(record)})")
    value = record[key]
    if isinstance(value, int) and not isinstance(value, bool) and key in _NUMBER_KEYS:
        return str(value)  # MBPP task_id, MATH500 level
    if not isinstance(value, str):
        raise ConfigurationError(f"{fmt} record's {key!r} must be a string, got {type(value).__name__}")
    return value


def _required(record: Mapping[str, Any], key: str, fmt: str) -> str:
    value = _str(record, key, fmt)
    assert value is not None  # _str raises for a missing required key
    if not value.strip():
        raise ConfigurationError(f"{fmt} record's {key!r} is empty")
    return value


def _str_list(record: Mapping[str, Any], key: str, fmt: str, *, optional: bool = False) -> list[str]:
    if key not in record or record[key] is None:
        if optional:
            return []
        raise ConfigurationError(f"{fmt} record has no {key!r} (its keys: {sorted(record)})")
    value = record[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{fmt} record's {key!r} must be a list of strings, got {value!r:.120}")
    return list(value)


def _text_id(prefix: str, text: str) -> str:
    digest = hashlib.sha256(" ".join(text.split()).encode()).hexdigest()
    return f"{prefix}/{digest[:12]}"


# --- math ---------------------------------------------------------------------------------------


def _gsm8k(record: Mapping[str, Any]) -> Task:
    question = _required(record, "question", "GSM8K")
    solution = _required(record, "answer", "GSM8K")
    if "####" not in solution:
        raise ConfigurationError("GSM8K record's 'answer' has no '#### <final answer>' line")
    final = solution.rsplit("####", 1)[1].strip()
    if not final:
        raise ConfigurationError("GSM8K record's 'answer' has nothing after '####'")
    return Task(
        id=_text_id("gsm8k", question),
        domain="math",
        question=question,
        answer=final,
        metadata={"dataset": "gsm8k", "reference_solution": solution},
    )


def _math(record: Mapping[str, Any]) -> Task:
    problem = _required(record, "problem", "MATH")
    solution = _required(record, "solution", "MATH")
    answer = _str(record, "answer", "MATH", optional=True)
    if not answer or not answer.strip():
        boxed = extract_final_answer(solution)
        if boxed is None or boxed.rule != "boxed":
            raise ConfigurationError("MATH record has no 'answer' and its 'solution' has no \\boxed{...} answer")
        answer = boxed.text
    subject = _str(record, "type", "MATH", optional=True) or _str(record, "subject", "MATH", optional=True)
    level_text = _str(record, "level", "MATH", optional=True)
    metadata: dict[str, Any] = {"dataset": "math", "reference_solution": solution}
    if subject is not None:
        metadata["subject"] = subject
    if level_text is not None:
        digits = re.search(r"\d+", level_text)
        metadata["level"] = int(digits.group()) if digits else level_text
    # An unknown subject is kept in metadata and left for the classifier rather than rejected.
    slug = MATH_SUBJECTS.get(subject.strip()) if subject else None
    unique_id = _str(record, "unique_id", "MATH", optional=True)
    return Task(
        id=unique_id or _text_id("math", problem),
        domain="math",
        question=problem,
        answer=answer.strip(),
        category=CategoryPath(domain="math", category=slug) if slug else None,
        metadata=metadata,
    )


# --- code ---------------------------------------------------------------------------------------


def _called_names(test: str) -> list[str]:
    """Names of the functions a test calls, in reading order (``set(f(x)) == ...`` gives set, f)."""
    tree = parse_python(test)
    if tree is None:
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [n.func.id for n in calls if isinstance(n.func, ast.Name)]


def _top_level(code: str) -> dict[str, ast.stmt]:
    """Top-level functions, classes and assigned names of a program (empty when it does not parse)."""
    tree = parse_python(code)
    if not isinstance(tree, ast.Module):
        return {}
    out: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.setdefault(node.name, node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, node)
    return out


def _mbpp_question(text: str, code: str, tests: list[str], setup: str) -> tuple[str, str | None]:
    """The question with a signature hint, and the entry point (the function the first test calls)."""
    defined = _top_level(code)
    called = _called_names(tests[0])
    entry = next((n for n in called if isinstance(defined.get(n), ast.FunctionDef)), None)
    entry = entry or next((n for n in called if n not in _BUILTIN_NAMES), None)
    node = defined.get(entry) if entry else None
    hints: list[str] = []
    if isinstance(node, ast.FunctionDef):
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        hints.append(f"Function signature: `def {node.name}({ast.unparse(node.args)}){returns}`")
    elif entry is not None:
        hints.append(f"The function is named `{entry}`.")
    # Classes or constants the tests build from the reference program (MBPP's `Pair`, `Node`) must be
    # written by the solver too; say so, or the visible test reads as if they were given.
    used = {n.id for t in [setup, *tests] for n in ast.walk(_parse_or_empty(t)) if isinstance(n, ast.Name)}
    extra = sorted(n for n in used & set(defined) if n != entry and n not in _BUILTIN_NAMES)
    if extra:
        them = "it" if len(extra) == 1 else "them"
        hints.append(f"The tests also use {', '.join(f'`{n}`' for n in extra)}; define {them} as well.")
    return "\n\n".join([text.strip(), *hints]), entry


def _parse_or_empty(source: str) -> ast.AST:
    return parse_python(source) or ast.Module(body=[], type_ignores=[])


def _mbpp(record: Mapping[str, Any]) -> Task:
    task_id = _required(record, "task_id", "MBPP")
    text = _required(record, "text", "MBPP")
    code = _str(record, "code", "MBPP", optional=True) or ""
    tests = _str_list(record, "test_list", "MBPP")
    if not tests:
        raise ConfigurationError("MBPP record's 'test_list' is empty; a code task needs at least one assert")
    challenge = _str_list(record, "challenge_test_list", "MBPP", optional=True)
    setup = _str(record, "test_setup_code", "MBPP", optional=True)
    question, entry = _mbpp_question(text, code, tests, setup or "")
    metadata: dict[str, Any] = {"dataset": "mbpp", "reference_solution": code}
    if challenge:
        metadata["challenge_tests"] = challenge
    return Task(
        id=f"mbpp/{task_id}",
        domain="code",
        question=question,
        tests=tests,
        visible_tests=tests[:1],
        test_setup=setup if setup and setup.strip() else None,
        entry_point=entry,
        metadata=metadata,
    )


def _literal(source: str) -> ast.expr | None:
    """``source`` as a literal expression (``[1, 'a']``, ``-2.5``, ``True``), else ``None``."""
    tree = parse_python(source.strip(), mode="eval")
    if not isinstance(tree, ast.Expression):
        return None
    expr = tree.body
    try:
        ast.literal_eval(expr)
    except (ValueError, TypeError, MemoryError, RecursionError):
        return None
    return expr


def _leading_literal(want: str) -> ast.expr | None:
    """The longest run of leading lines of a doctest's expected output that is a literal.

    The output of an example runs to the next blank line, so prose or a one-line example written
    right below it would otherwise spoil a good value; a value wrapped over lines still parses whole.
    """
    lines = want.splitlines()
    for n in range(len(lines), 0, -1):
        if (expr := _literal("\n".join(lines[:n]))) is not None:
            return expr
    return None


def _calls(expr: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(expr))


def _from_doctests(prompt: str, entry_point: str) -> list[str]:
    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:  # inconsistent indentation in the docstring
        return []
    out: list[str] = []
    for example in examples:
        try:
            expr = ast.parse(example.source.strip(), mode="eval").body
        except SyntaxError:
            continue
        printed = isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "print"
        want = _leading_literal(example.want)
        if want is not None and _calls(expr, entry_point) and not printed:
            # ">>> f(x) == 3" then "True" must not become the chained "f(x) == 3 == True".
            shown = f"({ast.unparse(expr)})" if isinstance(expr, ast.Compare) else ast.unparse(expr)
            out.append(f"assert {shown} == {ast.unparse(want)}")
    return out


# "f(1, 2) ==> 3", "f('a') ➞ True", "f(x) should return 16." and the like, one per line.
_ARROW = re.compile(r"\s*(?:==>|=>|->|➞|→|==|returns|should return)\s*(?P<want>.+?)\s*\.?\s*$")


def _balanced_call(line: str, start: int) -> int | None:
    """Index just past the parenthesis closing the one at ``start``, skipping quoted text."""
    depth, quote, i = 0, "", start
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _from_inline(prompt: str, entry_point: str) -> list[str]:
    head = re.compile(rf"^\s*(?:>>>\s*|[*-]\s*)?(?P<call>{re.escape(entry_point)}\s*\()")
    out: list[str] = []
    for line in prompt.splitlines():
        match = head.match(line)
        if match is None or line.lstrip().startswith("def "):
            continue
        end = _balanced_call(line, match.end("call") - 1)
        arrow = _ARROW.match(line, end) if end is not None else None
        if end is None or arrow is None:
            continue
        want = _literal(re.sub(r"\s+#.*$", "", arrow.group("want")))
        call = _literal_call(line[match.start("call") : end])
        if want is not None and call is not None:
            out.append(f"assert {ast.unparse(call)} == {ast.unparse(want)}")
    return out


def _literal_call(source: str) -> ast.Call | None:
    """A call whose arguments are all literals, positional only; ``is_happy(a)`` names an unset variable."""
    try:
        call = ast.parse(source, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.keywords:
        return None
    if any(_literal(ast.unparse(arg)) is None for arg in call.args):
        return None
    return call


def docstring_asserts(prompt: str, entry_point: str) -> list[str]:
    """Turn the usage examples in a HumanEval prompt's docstring into ``assert`` statements.

    Two shapes are read: doctest examples (``>>> f(x)`` followed by the value on the next line) whose
    expression calls ``entry_point``, and one-line examples ``f(x) ==> y`` (also ``=>``, ``->``,
    ``➞``, ``==``, ``returns``, ``should return``, with or without a leading ``>>>``) whose
    arguments are literals. ``f(x) = y`` is not read: docstrings write recurrences that way. Both sides must
    be Python literals; anything else (``=> true``, ``-> 19 - 5 - 6 = 8``, printed output, examples
    spanning several lines) is skipped rather than guessed. Duplicates are dropped, order is kept.

    Example:
        >>> prompt = "def inc(x):\\n    '''Add one.\\n    >>> inc(1)\\n    2\\n    inc(5) ==> 6\\n    '''\\n"
        >>> docstring_asserts(prompt, "inc")
        ['assert inc(1) == 2', 'assert inc(5) == 6']
    """
    found: list[str] = []
    for text in _docstrings(prompt):
        found += _from_doctests(text, entry_point) + _from_inline(text, entry_point)
    return list(dict.fromkeys(found))


def _docstrings(prompt: str) -> list[str]:
    """The docstrings of a prompt (module, classes, functions), or the whole prompt if it does not parse.

    Reading the docstring rather than the source keeps a closing quote line out of an example's value.
    """
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return [prompt]
    kinds = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    texts = [ast.get_docstring(n, clean=False) for n in ast.walk(tree) if isinstance(n, kinds)]
    return [t for t in texts if t]


# Docstring examples of HumanEval that contradict the task's own checker and canonical solution. Shown
# as visible tests they would fail every correct program and cost the solver turns, so they are left out.
HUMANEVAL_ERRATA: dict[str, frozenset[str]] = {
    "HumanEval/47": frozenset({"assert median([-10, 4, 6, 1000, 10, 20]) == 15.0"}),  # the median is 8.0
    "HumanEval/116": frozenset(  # the examples sort by value; the task and checker sort by count of ones
        {
            "assert sort_array([1, 5, 2, 3, 4]) == [1, 2, 3, 4, 5]",
            "assert sort_array([-2, -3, -4, -5, -6]) == [-6, -5, -4, -3, -2]",
        }
    ),
    "HumanEval/148": frozenset({"assert bf('Earth', 'Mercury') == 'Venus'"}),  # bf returns ('Venus',)
}


def _humaneval(record: Mapping[str, Any]) -> Task:
    task_id = _required(record, "task_id", "HumanEval")
    prompt = _required(record, "prompt", "HumanEval")
    entry = _required(record, "entry_point", "HumanEval").strip()
    test = _required(record, "test", "HumanEval")
    if "def check(" not in test:
        raise ConfigurationError("HumanEval record's 'test' does not define check(candidate)")
    solution = _str(record, "canonical_solution", "HumanEval", optional=True)
    metadata: dict[str, Any] = {"dataset": "humaneval"}
    if solution is not None:
        metadata["reference_solution"] = prompt + solution
    return Task(
        id=task_id,
        domain="code",
        question=prompt,
        tests=[f"check({entry})"],
        visible_tests=[t for t in docstring_asserts(prompt, entry) if t not in HUMANEVAL_ERRATA.get(task_id, ())],
        test_setup=test,
        entry_point=entry,
        metadata=metadata,
    )


# --- generic ------------------------------------------------------------------------------------


def _generic(record: Mapping[str, Any]) -> Task:
    unknown = sorted(set(record) - _GENERIC_KEYS)
    if unknown:
        raise ConfigurationError(
            f"generic record has unknown keys {unknown}; allowed keys: {sorted(_GENERIC_KEYS)} "
            "(put anything else under 'metadata')"
        )
    try:
        return Task.model_validate(dict(record))
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigurationError(
            f"generic record's {location(err) or '(record)'!r}: {err['msg']}{refused_value(err, limit=80)}"
        ) from None


_CONVERTERS: dict[TaskFormat, Callable[[Mapping[str, Any]], Task]] = {
    "gsm8k": _gsm8k,
    "math": _math,
    "mbpp": _mbpp,
    "humaneval": _humaneval,
    "generic": _generic,
}


def record_to_task(record: Mapping[str, Any], fmt: TaskFormat) -> Task:
    """Convert one decoded record of format ``fmt``.

    Raises:
        ConfigurationError: A key is missing, has the wrong type, or the task it describes is invalid.

    Example:
        >>> task = record_to_task({"question": "3 + 4?", "answer": "3 + 4 = 7\\n#### 7"}, "gsm8k")
        >>> task.id, task.answer
        ('gsm8k/1f53b68da458', '7')
    """
    try:
        return _CONVERTERS[fmt](record)
    except ValidationError as e:  # a converter built an invalid Task (an empty id, a bad slug...)
        err = e.errors()[0]
        raise ConfigurationError(
            f"{fmt} record gives an invalid task: {location(err)}: {err['msg']}{refused_value(err)}"
        ) from None
