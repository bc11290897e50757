"""Checking drafted constraints: a category label, non-empty fields, at most ``k``, and abstraction.

:func:`build_constraints` turns the distiller model's drafts into :class:`Constraint` objects or
rejections with a reason. The abstraction rule rejects constraints that copy task-specific details
instead of abstracting them.

MemCollab constraints must transfer to *other* tasks, so a constraint that repeats the task's
numbers, names or code is rejected (and the reason recorded). The check is lexical and compares the
constraint with the *source material*: the task (question, answer, tests, setup, entry point) and the
trajectories (answers and every message). A constraint is task-specific when it contains:

* **a number** that also occurs in the source material, except 0, 1 and 2, which general advice
  needs ("index 0", "off by 1", "divisible by 2"). Numbers are compared after dropping trailing
  decimal zeros and thousands separators (``1,200.0`` is ``1200``).
* **an identifier** that also occurs in the source *code* (tests, setup, entry point, Python blocks
  of the trajectories) and is not a Python builtin, keyword or common module: only identifier-shaped
  words are considered (with ``_``, a digit after letters, camelCase, written in backticks or
  followed by ``(``), so the English word "sum" is fine but ``sum_digits(`` or ```total``` is not.
* **a code fragment**: three consecutive words of the constraint, one of them with code punctuation
  (``()[]{}=<>+-*/%:``), that occur verbatim (whitespace-normalized) in the source code.
* **a name**: a capitalized word of the question (a proper noun such as a person's name, but
  also the question's first word) written capitalized after the constraint's first word, unless
  it is a common technical name (Python, Fibonacci, Euler...). Check whole sentences ("When ...,
  enforce ...; avoid ...") so that a name opening a field is not at the start.

Being lexical, it can miss a paraphrased detail and can reject a constraint that legitimately uses
a number the task also happens to contain; both errors are cheap compared with storing task answers.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from memcollab_langgraph.nodes.prompts import WORKED_EXAMPLE
from memcollab_langgraph.nodes.story import StoryCheck
from memcollab_langgraph.schema import CategoryPath, Constraint, Provenance, Task, Trajectory
from memcollab_langgraph.taxonomy import Taxonomy
from memcollab_langgraph.verifiers import extract_code

__all__ = [
    "DistillerOutput",
    "DraftConstraint",
    "DraftRule",
    "RejectedConstraint",
    "RuleOutput",
    "SourceMaterial",
    "build_constraints",
    "source_material",
    "task_specific_reason",
    "template_echo_reason",
]

_ALLOWED_NUMBERS = frozenset({"0", "1", "2"})
_NUMBER = re.compile(r"(?<![A-Za-z_])\d[\d,]*(?:\.\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CODE_CHARS = re.compile(r"[()\[\]{}=<>+\-*/%:]")
_GENERIC_IDENTIFIERS = (
    frozenset(dir(builtins))
    | frozenset(keyword.kwlist)
    | frozenset({"math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string"})
    | frozenset({"self", "cls", "args", "kwargs", "i", "j", "k", "n", "x", "y"})
)
_TECHNICAL_NAMES_TEXT = (
    "Python Fibonacci Euler Euclid Euclidean Pythagorean Pythagoras Vieta Pascal Newton Cauchy Schwarz "
    "Bayes Fermat Heron Gauss Gaussian Catalan Stirling Dijkstra Kadane Horner Legendre Lagrange Taylor "
    "Unicode ASCII True False None Celsius Fahrenheit Roman English Monday Tuesday Wednesday Thursday "
    "Friday Saturday Sunday January February March April May June July August September October "
    "November December"
)
_TECHNICAL_NAMES = frozenset(_TECHNICAL_NAMES_TEXT.split())


@dataclass(frozen=True)
class SourceMaterial:
    """What a constraint must not copy: numbers, code identifiers, code text and names of the sources."""

    numbers: frozenset[str]
    identifiers: frozenset[str]
    code: str
    """All source code, whitespace-normalized, to look up copied fragments."""
    names: frozenset[str]


def _norm_number(text: str) -> str:
    text = text.replace(",", "")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.lstrip("0") or "0"


def _numbers(texts: Iterable[str]) -> frozenset[str]:
    return frozenset(_norm_number(m.group()) for t in texts for m in _NUMBER.finditer(t))


def _squash(text: str) -> str:
    return " ".join(text.split())


_WORDS = re.compile(r"[A-Za-z][A-Za-z-]*")


def _capitalized(text: str, *, skip_first: bool) -> set[str]:
    words = _WORDS.findall(text)[1 if skip_first else 0 :]
    return {w for w in words if w[0].isupper() and not w.isupper() and w not in _TECHNICAL_NAMES}


def source_material(task: Task, trajectories: Sequence[Trajectory]) -> SourceMaterial:
    """Collect the numbers, code and names of a task and its trajectories."""
    prose = [task.question, task.answer or "", *task.tests, *task.visible_tests, task.test_setup or ""]
    code_parts = [*task.tests, *task.visible_tests, task.test_setup or "", task.entry_point or ""]
    for t in trajectories:
        prose.append(t.answer or "")
        texts = [str(m.get("content", "")) for m in t.messages]
        prose.extend(texts)
        for text in [t.answer or "", *texts]:
            if "```" in text or "def " in text:
                code_parts.append(extract_code(text) or "")
    code = "\n".join(p for p in code_parts if p)
    identifiers = frozenset(_IDENT.findall(code)) - _GENERIC_IDENTIFIERS
    return SourceMaterial(
        numbers=_numbers(prose) - _ALLOWED_NUMBERS,
        identifiers=identifiers,
        code=_squash(code),
        names=frozenset(_capitalized(task.question, skip_first=False)),
    )


def _identifier_shaped(text: str) -> set[str]:
    found = set(re.findall(r"`([^`]+)`", text))
    found = {w for span in found for w in _IDENT.findall(span)}
    for word in _IDENT.findall(text):
        if "_" in word.strip("_") or re.search(r"[A-Za-z]\d", word) or re.search(r"[a-z][A-Z]", word):
            found.add(word)
    found.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", text))
    return found


def _copied_fragment(text: str, code: str) -> str | None:
    if not code:
        return None
    words = text.replace("`", " ").split()
    for i in range(len(words) - 2):
        window = " ".join(words[i : i + 3])
        if _CODE_CHARS.search(window) and window.rstrip(".,;") in code:
            return window.rstrip(".,;")
    return None


def task_specific_reason(text: str, source: SourceMaterial) -> str | None:
    """Why ``text`` (a constraint's when/enforce/avoid) copies task details, or ``None`` if it does not.

    Example:
        >>> task = Task(id="t", domain="math", question="Janet sells 16 eggs at $2 each. Revenue?")
        >>> source = source_material(task, [])
        >>> task_specific_reason("When a price is given per item, multiply it by the count", source) is None
        True
        >>> task_specific_reason("When selling 16 eggs, multiply by the price", source)
        "copies task-specific number(s) ['16']"
        >>> task_specific_reason("When Janet sells items, multiply by the price", source)
        "copies task-specific name(s) ['Janet']"
    """
    numbers = sorted(_numbers([text]) & source.numbers)
    if numbers:
        return f"copies task-specific number(s) {numbers}"
    identifiers = sorted((_identifier_shaped(text) & source.identifiers) - _GENERIC_IDENTIFIERS)
    if identifiers:
        return f"copies identifier(s) from the task's code {identifiers}"
    fragment = _copied_fragment(text, source.code)
    if fragment is not None:
        return f"copies code from the task or its solutions: {fragment!r}"
    names = sorted(_capitalized(text, skip_first=True) & source.names)
    if names:
        return f"copies task-specific name(s) {names}"
    return None


# Length bounds are stated in the JSON schema sent to the model but not validated here: servers that
# decode with a grammar built from the schema (llama.cpp) then cannot emit empty or runaway fields,
# while an empty field from any other model is rejected per constraint (not the whole reply).
_TEXT: dict[str, JsonValue] = {"minLength": 12, "maxLength": 240}


class DraftRule(BaseModel):
    """One constraint as the distiller model writes it when its category is the task's (``labels="task"``)."""

    when: str = Field(description="The kind of situation, without task-specific details.", json_schema_extra=_TEXT)
    enforce: str = Field(description="The reasoning invariant to keep.", json_schema_extra=_TEXT)
    avoid: str = Field(description="The violation pattern to avoid.", json_schema_extra=_TEXT)


class DraftConstraint(DraftRule):
    """One constraint as the distiller model writes it, with its own taxonomy label (``labels="distiller"``)."""

    category: str = Field(default="", description="A category slug of the taxonomy.")
    subcategory: str | None = Field(default=None, description="A subcategory slug, or null.")


class RuleOutput(BaseModel):
    """The distiller's structured output when constraints take the task's category."""

    constraints: list[DraftRule]
    """Required (possibly empty), so that a stray object without it is not read as "nothing learned"."""


class DistillerOutput(BaseModel):
    """The distiller's structured output when it labels each constraint."""

    constraints: list[DraftConstraint]
    """Required (possibly empty), so that a stray object without it is not read as "nothing learned"."""


class RejectedConstraint(BaseModel):
    """A drafted constraint that was not stored, and why."""

    model_config = ConfigDict(frozen=True)

    draft: DraftConstraint | DraftRule
    reason: str


def _normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


_TEMPLATE_TEXTS = frozenset(
    _normalized(text)
    for text in (
        *(field.description or "" for field in DraftRule.model_fields.values()),
        "condition",
        "reasoning invariant",
        "violation pattern",
        WORKED_EXAMPLE["when"],
        WORKED_EXAMPLE["enforce"],
    )
)


def template_echo_reason(draft: DraftRule) -> str | None:
    """Why a draft only repeats the prompt: a field description, ``<condition>``, ``...``, the worked example.

    Example:
        >>> template_echo_reason(DraftRule(when="<condition>", enforce="keep units", avoid="mixing units"))
        "the when field repeats the prompt's template: '<condition>'"
    """
    for name in ("when", "enforce", "avoid"):
        text: str = getattr(draft, name)
        words = _normalized(text)
        if text.strip() and (words in _TEMPLATE_TEXTS or not words):  # a description, "<condition>", "..."
            return f"the {name} field repeats the prompt's template: {text!r}"
    return None


def _category(
    draft: DraftRule, taxonomy: Taxonomy, task: Task, fallback: CategoryPath | None
) -> tuple[CategoryPath | None, str | None]:
    if not isinstance(draft, DraftConstraint):  # labels="task": the constraint is filed under the task's category
        if fallback is None:
            return None, "the task has no category, and constraints take the task's category (labels='task')"
        return fallback, None
    label = "/".join(p.strip() for p in (draft.category, draft.subcategory or "") if p and p.strip())
    path = taxonomy.resolve(label, domain=task.domain) if label else None
    if path is not None and path.category is not None:
        return path, None
    if fallback is not None:
        return (
            fallback,
            f"label {label!r} is not in taxonomy {taxonomy.name!r}; used the task's category {fallback}",
        )
    return None, f"label {label!r} is not in taxonomy {taxonomy.name!r} and the task has no category"


def build_constraints(
    drafts: Sequence[DraftRule],
    *,
    k: int,
    taxonomy: Taxonomy,
    task: Task,
    category: CategoryPath | None,
    source: SourceMaterial,
    provenance: Provenance,
    story: StoryCheck | None = None,
) -> tuple[list[Constraint], list[RejectedConstraint], list[str]]:
    """Check drafted constraints; returns the accepted constraints, the rejections and notes.

    A :class:`DraftConstraint` is filed under its own label (the task's category when the label is not
    in the taxonomy); a plain :class:`DraftRule` under the task's category. With ``story``, a constraint
    that restates the task's situation in words is rejected too (:class:`StoryCheck`).
    """
    accepted: list[Constraint] = []
    rejected: list[RejectedConstraint] = []
    notes: list[str] = []
    for i, draft in enumerate(drafts):
        if i >= k:
            rejected.append(RejectedConstraint(draft=draft, reason=f"beyond the limit of k={k} constraints"))
            continue
        echo = template_echo_reason(draft)
        if echo is not None:
            rejected.append(RejectedConstraint(draft=draft, reason=echo))
            continue
        path, note = _category(draft, taxonomy, task, category)
        if path is None:
            rejected.append(RejectedConstraint(draft=draft, reason=note or "no category"))
            continue
        try:
            c = Constraint(
                when=draft.when,
                enforce=draft.enforce,
                avoid=draft.avoid,
                category=path,
                provenance=provenance,
            )
        except ValidationError as e:
            err = e.errors()[0]
            rejected.append(RejectedConstraint(draft=draft, reason=f"{err['loc'][0]}: {err['msg']}"))
            continue
        why = task_specific_reason(c.text, source)
        if why is None and story is not None:
            why = story.reason(c.text, task.question)
        if why is not None:
            rejected.append(RejectedConstraint(draft=draft, reason=why))
            continue
        if note:
            notes.append(note)
        accepted.append(c)
    return accepted, rejected, notes
