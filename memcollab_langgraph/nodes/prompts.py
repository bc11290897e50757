"""Prompt texts and pure prompt builders for the classifier, the solver and the distiller.

Everything here is a pure function of its arguments, so prompts can be asserted on in tests and
changed in one place. Constraints are rendered as one numbered sentence each, "When ..., enforce
...; avoid ...", the form MemCollab stores them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from memcollab_langgraph.schema import CategoryPath, Constraint, ConstraintLabels, Task, Trajectory
from memcollab_langgraph.taxonomy import Taxonomy

__all__ = [
    "DEFAULT_CONSTRAINTS_PREAMBLE",
    "WORKED_EXAMPLE",
    "classifier_messages",
    "contrastive_distiller_messages",
    "render_constraints",
    "render_transcript",
    "single_distiller_messages",
    "solver_messages",
]

_CLASSIFIER_SYSTEM = (
    "You label tasks with a category from a fixed taxonomy. Reply only with the requested fields: "
    "`category` is one category slug of the list, `subcategory` one of its subcategory slugs or null."
)

_MATH_INSTRUCTIONS = (
    "Reason step by step. If a computation helps, you may write one ```python code block that prints "
    "what you need; its output will be shown to you. When you are done, state the final answer as "
    "\\boxed{...}."
)
_CODE_INSTRUCTIONS = (
    "Write a correct, self-contained Python solution. Reply with the complete program in one ```python code block."
)

_DISTILL_FORM = (
    "Write at most {k} constraints. Each has the form: When <condition>, enforce <reasoning invariant>; "
    "avoid <violation pattern>. Constraints must be abstract and reusable: no numbers, names, "
    "identifiers or code copied from the task or its solutions; describe the kind of situation and "
    "the reasoning rule. "
)
_DISTILL_LABELS = "Label each with a `category` and optional `subcategory` slug from this taxonomy:\n{labels}\n"
_DISTILL_REPLY = (
    'Reply with JSON: {{"constraints": [{{"when": ..., "enforce": ..., "avoid": ...{label_fields}}}]}}. '
    "An empty list is fine when nothing general can be learned.\n"
)
WORKED_EXAMPLE: Mapping[str, str] = MappingProxyType(
    {
        "when": "a price is reduced by a percentage and then changed again",
        "enforce": "apply each percentage to the amount that exists at that step",
        "avoid": "adding or subtracting the percentages directly",
    }
)
"""The distiller prompt's one worked example. Without it Qwen2.5-Coder-1.5B echoed the instructions as
constraints, and given three it returned the three verbatim for every task (docs/results.md); a
constraint that copies it is rejected (:func:`~memcollab_langgraph.nodes.abstraction.template_echo_reason`)."""
_DISTILL_EXAMPLE = (
    "Example of the expected abstraction (for a different task): "
    + '{{{{"when": "{when}", "enforce": "{enforce}", "avoid": "{avoid}"'.format(**WORKED_EXAMPLE)
    + "{label_values}}}"
)


def render_constraints(constraints: Sequence[Constraint]) -> str:
    """Constraints as a numbered list of sentences ('' when there are none).

    Example:
        >>> from memcollab_langgraph.schema import CategoryPath, Constraint
        >>> c = Constraint(when="counting outcomes", enforce="fix the sample space first",
        ...                avoid="mixing orders", category=CategoryPath(domain="math", category="geometry"))
        >>> render_constraints([c])
        '1. When counting outcomes, enforce fix the sample space first; avoid mixing orders.'
    """
    return "\n".join(f"{i}. {c.text}" for i, c in enumerate(constraints, start=1))


def classifier_messages(task: Task, taxonomy: Taxonomy) -> list[BaseMessage]:
    """Ask for the category and subcategory of ``task`` among the labels of its domain."""
    labels = taxonomy.render(task.domain)
    user = f"Taxonomy ({task.domain}):\n{labels}\n\nTask:\n{task.question.strip()}\n\nWhich category is it?"
    return [SystemMessage(content=_CLASSIFIER_SYSTEM), HumanMessage(content=user)]


DEFAULT_CONSTRAINTS_PREAMBLE = (
    "Constraints distilled from earlier solutions of similar tasks. Follow them where they apply:"
)
"""What the solver's system prompt says before the retrieved constraints (the prompt of every run so far)."""


def _solver_system(task: Task, constraints: Sequence[Constraint], preamble: str) -> str:
    role = "a careful programmer" if task.domain == "code" else "a careful problem solver"
    text = f"You are {role}."
    if constraints:
        text += f"\n\n{preamble}\n{render_constraints(constraints)}"
    return text


def solver_messages(
    task: Task,
    constraints: Sequence[Constraint],
    *,
    python_tool: bool,
    preamble: str = DEFAULT_CONSTRAINTS_PREAMBLE,
) -> list[BaseMessage]:
    """The first prompt of a solve: role and constraints (system, after ``preamble``), then the task and
    how to answer."""
    parts = [task.question.strip()]
    if task.visible_tests:
        parts.append("Your code should pass tests like these:\n" + "\n".join(task.visible_tests))
    if task.entry_point:
        parts.append(f"The solution must define `{task.entry_point}`.")
    if task.domain == "code" or task.tests or task.visible_tests:
        parts.append(_CODE_INSTRUCTIONS)
    elif python_tool:
        parts.append(_MATH_INSTRUCTIONS)
    else:
        parts.append("Reason step by step, then state the final answer as \\boxed{...}.")
    return [
        SystemMessage(content=_solver_system(task, constraints, preamble)),
        HumanMessage(content="\n\n".join(parts)),
    ]


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters omitted ...]\n{text[-half:]}"


def render_transcript(trajectory: Trajectory, *, max_chars: int = 4000) -> str:
    """An agent's attempt for a distiller: its turns (without the system prompt) and its verdict."""
    lines: list[str] = []
    seen_task = False
    for message in trajectory.messages:
        role = str(message.get("role", "?"))
        if role == "system":
            continue
        if role == "user" and not seen_task:
            seen_task = True  # the task itself is shown once, above the transcripts
            continue
        label = {"assistant": "MODEL", "user": "FEEDBACK"}.get(role, role.upper())
        lines.append(f"[{label}] {message.get('content', '')}")
    body = _clip("\n".join(lines) or "(no reply)", max_chars)
    verdict = {True: "correct", False: "incorrect", None: "not verified"}[trajectory.correct]
    detail = f" ({trajectory.verdict_detail})" if trajectory.verdict_detail else ""
    return f"Final answer: {trajectory.answer!r}. Verdict: {verdict}{detail}.\n{body}"


def _distiller_system(role: str, taxonomy: Taxonomy, task: Task, k: int, labels: ConstraintLabels) -> str:
    # The rules (and the taxonomy, over a thousand tokens) come before anything task-specific: the
    # same for every task of a build, so a server with a prompt cache evaluates them once.
    own = labels == "distiller"
    text = _DISTILL_FORM.format(k=k)
    if own:
        text += _DISTILL_LABELS.format(labels=taxonomy.render(task.domain))
    text += _DISTILL_REPLY.format(label_fields=', "category": ..., "subcategory": ...' if own else "")
    text += _DISTILL_EXAMPLE.format(
        label_values=', "category": "prealgebra", "subcategory": "percentages"' if own else ""
    )
    return f"{role}\n\n{text}"


def _classified(category: CategoryPath | None) -> str:
    return f"(The task was classified as {category}.)\n\n" if category is not None else ""


def contrastive_distiller_messages(
    task: Task,
    preferred: Trajectory,
    unpreferred: Sequence[Trajectory],
    *,
    taxonomy: Taxonomy,
    k: int,
    category: CategoryPath | None,
    max_chars: int,
    labels: ConstraintLabels = "task",
) -> list[BaseMessage]:
    """Contrast a preferred trajectory with unpreferred ones and ask for abstract constraints."""
    system = _distiller_system(
        "You compare solutions of the same task by different solvers and distill what separates the "
        "better reasoning from the worse into general constraints that help on *other* tasks.",
        taxonomy,
        task,
        k,
        labels,
    )
    others = "\n\n".join(
        f"UNPREFERRED SOLUTION {i}:\n{render_transcript(t, max_chars=max_chars)}"
        for i, t in enumerate(unpreferred, start=1)
    )
    user = (
        f"TASK:\n{task.question.strip()}\n\n"
        f"PREFERRED SOLUTION:\n{render_transcript(preferred, max_chars=max_chars)}\n\n{others}\n\n"
        f"{_classified(category)}What reasoning invariant does the preferred solution keep that the "
        f"unpreferred ones violate? Write at most {k} constraints in the form and JSON described above."
    )
    return [SystemMessage(content=system), HumanMessage(content=user)]


def single_distiller_messages(
    task: Task,
    trajectory: Trajectory,
    *,
    taxonomy: Taxonomy,
    k: int,
    category: CategoryPath | None,
    max_chars: int,
    labels: ConstraintLabels = "task",
) -> list[BaseMessage]:
    """Distill constraints from one trajectory (the non-contrastive baselines)."""
    system = _distiller_system(
        "You study one solution of a task and distill general reasoning constraints that would help "
        "on *other* tasks of the same kind.",
        taxonomy,
        task,
        k,
        labels,
    )
    user = (
        f"TASK:\n{task.question.strip()}\n\n"
        f"SOLUTION:\n{render_transcript(trajectory, max_chars=max_chars)}\n\n"
        f"{_classified(category)}What should a solver keep doing, or stop doing, on similar tasks? "
        f"Write at most {k} constraints in the form and JSON described above."
    )
    return [SystemMessage(content=system), HumanMessage(content=user)]
