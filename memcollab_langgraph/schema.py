"""Typed records of the MemCollab method: tasks, trajectories, constraints and their provenance.

These are plain pydantic models. They are persisted in an untyped LangGraph store as
``{"kind": ..., "v": 1, "content": {...}}`` (see :func:`to_record` / :func:`from_record`) and
re-validated on every read, so a value written by an older or foreign writer is rejected
with a clear error instead of flowing on half-formed.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from memcollab_langgraph.errors import ConfigurationError

__all__ = [
    "AgentRef",
    "CategoryPath",
    "Constraint",
    "ConstraintLabels",
    "ConstraintStatus",
    "DistillMethod",
    "Provenance",
    "Task",
    "Trajectory",
    "Usage",
    "UtilityCounter",
    "from_record",
    "to_record",
]

ConstraintStatus = Literal["candidate", "validated", "archived"]
"""Lifecycle of a constraint: ``candidate`` when first written, ``validated`` once supported by more
than one model or task (the promotion gate), ``archived`` when evicted or superseded (never deleted)."""

DistillMethod = Literal["contrastive", "self", "naive_transfer", "self_contrast", "manual"]
"""How a constraint was produced: MemCollab's cross-agent contrast, or one of the paper's baselines."""

ConstraintLabels = Literal["task", "distiller"]
"""Where a distilled constraint's category comes from: ``"task"``, the category its source task was
classified into (the distiller is not shown the taxonomy); ``"distiller"``, a label the distiller model
picks from the taxonomy for each constraint (the task's category when its label is not valid)."""

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Usage(BaseModel):
    """Token usage and latency of one or more LLM calls by one model."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    """Model id that made the calls (``None`` when no call was made)."""
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    """Wall-clock seconds spent waiting for the model."""
    cached_calls: int = 0
    """Calls answered by an LLM response cache: their latency is the lookup's, their tokens the original call's."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        models = sorted({m for m in (self.model, other.model) if m})
        return Usage(
            model=",".join(models) or None,
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            latency_s=self.latency_s + other.latency_s,
            cached_calls=self.cached_calls + other.cached_calls,
        )


class AgentRef(BaseModel):
    """Identity of an agent: its registry name, the model behind it and the model's family."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str
    family: str = "unknown"


class CategoryPath(BaseModel):
    """A node of a task taxonomy: ``domain / category / subcategory``.

    Segments are lower-case slugs (``[a-z0-9_-]``) so that they can be used as store namespace labels.

    Example:
        >>> p = CategoryPath(domain="math", category="algebra", subcategory="linear_equations")
        >>> str(p), str(p.parent())
        ('math/algebra/linear_equations', 'math/algebra')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: str
    category: str | None = None
    subcategory: str | None = None

    @field_validator("domain", "category", "subcategory")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _SEGMENT.match(value):
            raise ValueError(
                f"category segment {value!r} must be a lower-case slug of letters, digits, '_' or '-' "
                f"(for example {re.sub(r'[^a-z0-9_-]+', '_', value.strip().lower()).strip('_')!r})"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        # "math/algebra/linear_equations" is accepted wherever a CategoryPath is expected.
        if isinstance(data, str):
            parts = [p.strip() for p in data.strip().strip("/").split("/")]
            return dict(zip(("domain", "category", "subcategory"), parts, strict=False))
        return data

    def model_post_init(self, __context: Any) -> None:
        if self.subcategory is not None and self.category is None:
            raise ValueError(f"subcategory {self.subcategory!r} needs a category")

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in (self.domain, self.category, self.subcategory) if p is not None)

    @property
    def depth(self) -> int:
        return len(self.parts)

    def parent(self) -> CategoryPath | None:
        """The next coarser level, or ``None`` for a bare domain."""
        if self.subcategory is not None:
            return CategoryPath(domain=self.domain, category=self.category)
        if self.category is not None:
            return CategoryPath(domain=self.domain)
        return None

    def lineage(self) -> list[CategoryPath]:
        """This path followed by each coarser level, down to the domain."""
        out: list[CategoryPath] = [self]
        while (p := out[-1].parent()) is not None:
            out.append(p)
        return out

    def contains(self, other: CategoryPath) -> bool:
        """Whether ``other`` is this node or lies below it."""
        return other.parts[: self.depth] == self.parts

    @classmethod
    def parse(cls, text: str) -> CategoryPath:
        """Parse ``"domain/category/subcategory"`` (one to three segments)."""
        parts = [p.strip() for p in text.strip().strip("/").split("/")]
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise ConfigurationError(
                f"category path {text!r} must have one to three '/'-separated segments, "
                "e.g. 'math/algebra/linear_equations'"
            )
        try:
            return cls(**dict(zip(("domain", "category", "subcategory"), parts, strict=False)))
        except ValidationError as e:
            raise ConfigurationError(f"invalid category path {text!r}: {e.errors()[0]['msg']}") from None

    def __str__(self) -> str:
        return "/".join(self.parts)


class Task(BaseModel):
    """One problem to solve.

    Math tasks carry a ground-truth ``answer``; code tasks carry ``tests`` (hidden, used to verify)
    and ``visible_tests`` (shown to the solver), each a Python statement such as an ``assert``.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    domain: str
    question: str
    answer: str | None = None
    tests: list[str] = Field(default_factory=list)
    visible_tests: list[str] = Field(default_factory=list)
    test_setup: str | None = None
    """Code run before the tests (MBPP ``test_setup_code``, HumanEval's ``check`` definition...)."""
    entry_point: str | None = None
    category: CategoryPath | None = None
    """A known category label, when the data set provides one."""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", "domain", "question")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class Trajectory(BaseModel):
    """One agent's attempt at one task: the whole conversation, its answer and what it cost."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    agent: AgentRef
    messages: list[dict[str, Any]] = Field(default_factory=list)
    """The conversation as ``{"role": ..., "content": ...}`` dicts (system, user, assistant, tool)."""
    answer: str | None = None
    """The final answer (a number or expression for math, a program for code), ``None`` if none."""
    turns: int = 0
    """Reasoning turns: model calls that received feedback, plus the final one."""
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    correct: bool | None = None
    """Verdict against ground truth, ``None`` until verified."""
    verdict_detail: str | None = None
    sample_index: int = 0
    """Index among several samples of the same agent on the same task (self-contrast)."""
    created_at: datetime = Field(default_factory=_utcnow)


class Provenance(BaseModel):
    """Where a constraint came from. Merged (united) when duplicates are consolidated."""

    model_config = ConfigDict(extra="forbid")

    source_task_ids: list[str] = Field(default_factory=list)
    preferred_agents: list[AgentRef] = Field(default_factory=list)
    unpreferred_agents: list[AgentRef] = Field(default_factory=list)
    distiller_models: list[str] = Field(default_factory=list)
    methods: list[DistillMethod] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=_utcnow)
    updated_at: datetime = Field(default_factory=_utcnow)

    @property
    def agents(self) -> list[AgentRef]:
        """Every agent whose trajectory contributed, preferred or not, without repeats."""
        return _unique([*self.preferred_agents, *self.unpreferred_agents])

    @property
    def models(self) -> list[str]:
        """Model ids of origin (the agents' models), sorted."""
        return sorted({a.model for a in self.agents})

    @property
    def families(self) -> list[str]:
        """Model families of origin, sorted."""
        return sorted({a.family for a in self.agents})

    def merge(self, other: Provenance) -> Provenance:
        """The union of both provenances; the oldest creation time and the newest update time."""
        return Provenance(
            source_task_ids=_unique([*self.source_task_ids, *other.source_task_ids]),
            preferred_agents=_unique([*self.preferred_agents, *other.preferred_agents]),
            unpreferred_agents=_unique([*self.unpreferred_agents, *other.unpreferred_agents]),
            distiller_models=_unique([*self.distiller_models, *other.distiller_models]),
            methods=_unique([*self.methods, *other.methods]),
            created_at=min(self.created_at, other.created_at),
            updated_at=max(self.updated_at, other.updated_at),
        )


class UtilityCounter(BaseModel):
    """How often a constraint was retrieved for one consumer model, and how often that succeeded."""

    model_config = ConfigDict(extra="forbid")

    uses: int = 0
    successes: int = 0

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.uses if self.uses else None


class Constraint(BaseModel):
    """An abstract reasoning constraint: "When <when>, enforce <enforce>; avoid <avoid>"."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    when: str
    enforce: str
    avoid: str
    category: CategoryPath
    provenance: Provenance = Field(default_factory=Provenance)
    support: int = 1
    """How many distillations produced this constraint (duplicates merged into it)."""
    status: ConstraintStatus = "candidate"
    utility: dict[str, UtilityCounter] = Field(default_factory=dict)
    """Per consumer model id: uses and verified successes."""
    version: int = 1
    superseded_by: str | None = None

    @field_validator("when", "enforce", "avoid")
    @classmethod
    def _clean(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be empty")
        return value

    @property
    def text(self) -> str:
        """The constraint as one sentence, the form rendered into prompts."""
        when, enforce = _strip_lead(self.when, "when"), _strip_lead(self.enforce, "enforce")
        return f"When {when}, enforce {enforce}; avoid {_strip_lead(self.avoid, 'avoid')}."

    @property
    def fingerprint(self) -> str:
        """Hash of the normalized text and category: equal fingerprints are exact duplicates."""
        norm = re.sub(r"[^a-z0-9 ]+", "", self.text.lower())
        norm = " ".join(norm.split())
        return hashlib.sha256(f"{self.category}|{norm}".encode()).hexdigest()[:32]

    @property
    def total_uses(self) -> int:
        return sum(u.uses for u in self.utility.values())

    @property
    def total_successes(self) -> int:
        return sum(u.successes for u in self.utility.values())


def _strip_lead(text: str, word: str) -> str:
    text = text.strip().rstrip(".;,")
    if text.lower().startswith(word + " "):
        text = text[len(word) + 1 :]
    return text


_T = TypeVar("_T")


def _unique(items: list[_T]) -> list[_T]:
    out: list[_T] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


_KINDS: dict[str, type[BaseModel]] = {
    "constraint": Constraint,
    "task": Task,
    "trajectory": Trajectory,
}
_RECORD_VERSION = 1

_M = TypeVar("_M", bound=BaseModel)


def to_record(obj: BaseModel) -> dict[str, Any]:
    """Wrap a model as the JSON value stored in a LangGraph store."""
    kind = next((k for k, cls in _KINDS.items() if isinstance(obj, cls)), None)
    if kind is None:
        raise ConfigurationError(f"cannot store a {type(obj).__name__}; storable kinds: {sorted(_KINDS)}")
    return {"kind": kind, "v": _RECORD_VERSION, "content": obj.model_dump(mode="json")}


def from_record(value: dict[str, Any], cls: type[_M]) -> _M:
    """Re-validate a stored record as ``cls``; a record of another kind or version is an error."""
    expected = next(k for k, c in _KINDS.items() if c is cls)
    if not isinstance(value, dict) or value.get("kind") != expected or value.get("v") != _RECORD_VERSION:
        got = (value.get("kind"), value.get("v")) if isinstance(value, dict) else type(value).__name__
        raise ConfigurationError(
            f"stored value is not a {expected!r} record of version {_RECORD_VERSION} (got {got!r}); "
            "was this namespace written by another program?"
        )
    return cls.model_validate(value["content"])
