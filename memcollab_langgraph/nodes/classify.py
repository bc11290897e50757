"""Task classifier: map a task to ``domain / category / subcategory`` of a taxonomy.

The model is asked for a :class:`CategoryChoice` with structured output, parsed robustly (see
:mod:`~memcollab_langgraph.nodes.parsing`), and the labels are resolved leniently against the
taxonomy ("Number Theory" is ``number_theory``). When the reply is unusable (empty, truncated,
prose without JSON, labels not in the taxonomy, ``parsed=None``), or the server refuses the prompt as
longer than the model's context, the node falls back to :func:`deterministic_classify` and records that
it fell back and why in ``classification``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory.ranking import bm25_scores
from memcollab_langgraph.nodes.effects import NodeRunnable, Program, as_node, perform
from memcollab_langgraph.nodes.inputs import read_task
from memcollab_langgraph.nodes.llm import ContextFull, ModelCall, StructuredMethod, structured_within_context_effect
from memcollab_langgraph.nodes.parsing import Parsed, parse_structured
from memcollab_langgraph.nodes.prompts import classifier_messages
from memcollab_langgraph.schema import CategoryPath, Task
from memcollab_langgraph.taxonomy import Taxonomy, get_taxonomy

__all__ = [
    "CategoryChoice",
    "Classification",
    "ClassificationSource",
    "ClassifierSettings",
    "TaskLabelUse",
    "create_classifier_node",
    "deterministic_classify",
    "interpret_choice",
]

ClassificationSource = Literal["model", "task_label", "keyword", "domain"]
"""Who decided the category: the model, the task's own label, BM25 over the taxonomy's descriptions,
or nobody (only the domain is known)."""

TaskLabelUse = Literal["never", "fallback", "prefer"]
"""Use of a task's known ``category``: ignore it, use it when the model fails (default), or use it
instead of calling the model."""


class CategoryChoice(BaseModel):
    """The classifier's structured output."""

    category: str = Field(description="A category slug of the taxonomy.")
    subcategory: str | None = Field(default=None, description="A subcategory slug of that category, or null.")


class Classification(BaseModel):
    """The category a task was given, and how."""

    model_config = ConfigDict(frozen=True)

    path: CategoryPath
    source: ClassificationSource
    fell_back: bool
    """Whether the model's answer was not used (and a deterministic rule decided)."""
    reason: str | None = None
    """Why the model's answer was not used, or what had to be repaired or dropped."""
    model: str | None = None
    raw: str | None = None
    """The model's raw reply when it was not usable."""


@dataclass(frozen=True, kw_only=True)
class ClassifierSettings:
    """Settings of :func:`create_classifier_node`."""

    use_task_label: TaskLabelUse = "fallback"
    structured_method: StructuredMethod | None = None

    def __post_init__(self) -> None:
        if self.use_task_label not in get_args(TaskLabelUse):
            raise ConfigurationError(
                f"use_task_label must be one of {list(get_args(TaskLabelUse))}, got {self.use_task_label!r}"
            )


def _known_label(task: Task, taxonomy: Taxonomy) -> CategoryPath | None:
    if task.category is None:
        return None
    try:
        return taxonomy.validate_path(task.category)
    except ConfigurationError:
        return None


def deterministic_classify(
    task: Task, taxonomy: Taxonomy, *, use_task_label: bool = True
) -> tuple[CategoryPath, ClassificationSource]:
    """Classify without a model: the task's label, else BM25 over label descriptions, else the domain.

    Every leaf of the task's domain is described by its slugs and descriptions (subcategory and
    category); the leaf whose description scores highest against the question wins, ties going to
    the first in taxonomy order. Without any word in common, only the domain is returned.

    Example:
        >>> from memcollab_langgraph.taxonomy import get_taxonomy
        >>> task = Task(id="t", domain="math", question="What is the remainder of 2^10 modulo 7?")
        >>> path, source = deterministic_classify(task, get_taxonomy("math"))
        >>> str(path), source
        ('math/number_theory/modular_arithmetic', 'keyword')
    """
    if use_task_label and (label := _known_label(task, taxonomy)) is not None:
        return label, "task_label"
    domain = taxonomy.domains[task.domain]
    leaves = taxonomy.paths(task.domain, leaves_only=True)
    docs = []
    for path in leaves:
        category = domain.categories[str(path.category)]
        sub = category.subcategories.get(path.subcategory or "", "")
        docs.append(" ".join([*path.parts[1:], category.description, sub]).replace("_", " "))
    scores = bm25_scores(task.question, docs)
    best = max(range(len(leaves)), key=lambda i: (scores[i], -i)) if leaves else None
    if best is None or scores[best] <= 0.0:
        return CategoryPath(domain=task.domain), "domain"
    return leaves[best], "keyword"


def interpret_choice(
    parsed: Parsed[CategoryChoice], taxonomy: Taxonomy, domain: str
) -> tuple[CategoryPath | None, str | None]:
    """The taxonomy path a parsed reply names, or ``None`` with the reason it is unusable.

    A subcategory that is not in the taxonomy is dropped (the category alone is kept, and the
    returned reason says so); a category that is not in the taxonomy makes the reply unusable.
    """
    if parsed.value is None:
        return None, parsed.reason
    choice = parsed.value
    category = choice.category.strip()
    path = taxonomy.resolve(category, domain=domain) if category else None
    if path is None or path.category is None:
        known = sorted(taxonomy.domains[domain].categories)
        return None, f"category {choice.category!r} is not in taxonomy {taxonomy.name!r}; known: {known}"
    notes = [parsed.reason] if parsed.reason else []
    sub = (choice.subcategory or "").strip()
    if sub and path.subcategory is None:
        full = taxonomy.resolve(f"{path.category}/{sub}", domain=domain)
        if full is not None and full.subcategory is not None:
            path = full
        else:
            notes.append(f"subcategory {choice.subcategory!r} is not under {path}; kept the category")
    return path, "; ".join(notes) or None


def _program(
    model: BaseChatModel, taxonomy: Taxonomy, settings: ClassifierSettings, state: Mapping[str, Any]
) -> Program[dict[str, Any]]:
    task = read_task(state)
    if task.domain not in taxonomy.domains:
        raise ConfigurationError(
            f"task {task.id!r} has domain {task.domain!r}, which taxonomy {taxonomy.name!r} does not "
            f"know (domains: {sorted(taxonomy.domains)}); pass a taxonomy covering it"
        )
    label = _known_label(task, taxonomy)
    if settings.use_task_label == "prefer" and label is not None:
        result = Classification(path=label, source="task_label", fell_back=False)
        return {"category": label, "classification": result}
    reply = yield from perform(
        structured_within_context_effect(
            model, CategoryChoice, classifier_messages(task, taxonomy), method=settings.structured_method
        )
    )
    if isinstance(reply, ContextFull):  # the task is too long for the classifier's context: no model verdict
        why = f"the classifier's prompt does not fit the model's context ({reply.error})"
        guess, by = deterministic_classify(task, taxonomy, use_task_label=settings.use_task_label != "never")
        return {"category": guess, "classification": Classification(path=guess, source=by, fell_back=True, reason=why)}
    parsed = parse_structured(reply.result, CategoryChoice)
    path, reason = interpret_choice(parsed, taxonomy, task.domain)
    if path is not None:
        result = Classification(path=path, source="model", fell_back=False, reason=reason, model=reply.usage.model)
    else:
        path, source = deterministic_classify(task, taxonomy, use_task_label=settings.use_task_label != "never")
        result = Classification(
            path=path, source=source, fell_back=True, reason=reason, model=reply.usage.model, raw=parsed.raw
        )
    call = ModelCall(step="classify", usage=reply.usage, ok=not result.fell_back, reason=reason)
    return {"category": path, "classification": result, "usage_log": [call]}


def create_classifier_node(
    model: BaseChatModel,
    taxonomy: Taxonomy | str = "default",
    *,
    use_task_label: TaskLabelUse = "fallback",
    structured_method: StructuredMethod | None = None,
    name: str = "classify",
) -> NodeRunnable:
    """A node labelling ``state["task"]`` with a category of ``taxonomy``.

    Reads ``task``. Writes ``category`` (:class:`CategoryPath`), ``classification``
    (:class:`Classification`: source, whether it fell back and why) and ``usage_log`` (one
    :class:`ModelCall`, unless no model call was made).

    Args:
        model: The chat model that classifies (the solver's model or a cheap one).
        taxonomy: A :class:`Taxonomy` or a built-in name.
        use_task_label: See :data:`TaskLabelUse`.
        structured_method: ``with_structured_output`` method; ``None`` is the model's default.
        name: The runnable's name.

    Raises:
        ConfigurationError: Bad settings; at run time, a task whose domain the taxonomy lacks.

    Example:
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> reply = '{"category": "Number Theory", "subcategory": "Primes Factorization"}'
        >>> model = ScriptedChatModel([reply])
        >>> node = create_classifier_node(model, "math")
        >>> task = Task(id="t1", domain="math", question="Is 91 prime?")
        >>> update = node.invoke({"task": task})
        >>> str(update["category"]), update["classification"].fell_back
        ('math/number_theory/primes_factorization', False)
    """
    tax = get_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
    if not isinstance(tax, Taxonomy):
        raise ConfigurationError(f"taxonomy must be a Taxonomy or a built-in name, got {taxonomy!r}")
    if not isinstance(model, BaseChatModel):
        raise ConfigurationError(f"model must be a langchain BaseChatModel, got {type(model).__name__}")
    settings = ClassifierSettings(use_task_label=use_task_label, structured_method=structured_method)
    return as_node(name, lambda state: _program(model, tax, settings, state))
