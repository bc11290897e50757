"""Evaluation conditions as data: which memory a consumer agent gets, how it was built and retrieved.

A :class:`Condition` says, independently of any agent, *whose* trajectories build the memory
(``memory``), *how* they are distilled (``method``), and *how* constraints are retrieved
(``retrieval``, ``k``). An :class:`EvalCell` pairs a condition with the consumer agent that solves
the evaluation tasks. The paper's five baselines are :func:`standard_conditions`; the cross-model
transfer matrix (memory built from A, B or A+B, consumed by A, B, C) is
:func:`transfer_matrix_conditions`.

Memory is shared where it can be: :meth:`Condition.bank_name` depends only on the method and the
resolved builder agents, so two cells that need the same memory (MemCollab for A and for B, or
``self_memory`` of A and the transfer row "from A") name the same bank and it is built once.

Retrieval variants:

* ``"task_aware"`` (default, the paper's method): classify the task, keep only constraints of its
  category (falling back to the parent category, then the domain), rank by BM25.
* ``"embedding_only"`` (the ablation without task-aware categorization): no classifier and no
  category filter; the retriever is queried at the *domain* level (:meth:`Condition.fixed_category`),
  so every constraint of the task's domain competes, ranked by dense similarity when the store has an
  embedding index and by BM25 otherwise (``ranker="auto"``).
* ``"none"``: no retrieval (only for the memory-less baseline).

Besides the paper's conditions, :func:`curated_condition` gives the consumer constraints written by
hand (or exported from another bank) instead of distilled ones, retrieved the same way: a control that
tells what distilled memory does from what any constraints in the prompt do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import RankerName
from memcollab_langgraph.nodes import DistillerMethod
from memcollab_langgraph.schema import CategoryPath, Task

__all__ = [
    "TRANSFER_PREFIX",
    "CURATED",
    "VANILLA",
    "Condition",
    "EvalCell",
    "MemorySource",
    "RetrievalVariant",
    "check_no_leakage",
    "curated_condition",
    "is_transfer",
    "plan_cells",
    "standard_conditions",
    "transfer_matrix_conditions",
]

MemorySource = Literal["none", "self", "others", "agents", "all", "file"]
"""Whose trajectories build the memory: nobody, the consumer itself, every other agent of the team,
the agents listed in ``builders``, or the whole team; ``"file"``: nobody's, the constraints are read
from a file (:func:`curated_condition`)."""

RetrievalVariant = Literal["task_aware", "embedding_only", "none"]
"""How constraints are retrieved; see the module docstring."""

VANILLA = "vanilla"
"""Name of the memory-less baseline every condition is compared with."""

CURATED = "curated"
"""Name of the condition whose memory is read from a file of constraints (:func:`curated_condition`)."""

TRANSFER_PREFIX = "transfer:"
"""Names of transfer-matrix conditions start with this, followed by the builders joined by ``+``."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]*$")
_SINGLE_SOURCE: frozenset[str] = frozenset({"self", "naive_transfer"})


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One evaluation condition, independent of the consumer agent.

    Args:
        name: Unique name (letters, digits and ``_ . : + -``), used in result files and reports.
        memory: Whose trajectories build the memory (see :data:`MemorySource`); ``"file"`` for
            constraints read from a file, which need no method and no builders.
        builders: The building agents when ``memory="agents"``.
        method: How the memory is distilled (``None`` exactly when ``memory`` is ``"none"`` or ``"file"``).
        retrieval: How it is retrieved; default ``"task_aware"`` with memory, ``"none"`` without.
        ranker: Ranking of retrieved constraints; default ``"bm25"`` for task-aware retrieval and
            ``"auto"`` (dense when the store has an index) for embedding-only retrieval.
        k: Constraints retrieved per task (the paper's budget p).
        samples: Solves per building agent and task (``self_contrast`` needs at least 2).
        description: One line for reports.

    Raises:
        ConfigurationError: An inconsistent combination (memory without method, a contrast of fewer
            than two trajectories, builders without ``memory="agents"``...).

    Example:
        >>> c = Condition(name="memcollab", memory="all", method="contrastive")
        >>> c.retrieval, c.ranker, c.builders_for("small", ["small", "big"])
        ('task_aware', 'bm25', ('small', 'big'))
    """

    name: str
    memory: MemorySource = "none"
    builders: tuple[str, ...] = ()
    method: DistillerMethod | None = None
    retrieval: RetrievalVariant | None = None
    ranker: RankerName | None = None
    k: int = 3
    samples: int = 1
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(
                f"condition name {self.name!r} must start with a letter or digit and contain only "
                "letters, digits and '_ . : + -'"
            )
        where = f"condition {self.name!r}"
        if self.memory not in get_args(MemorySource):
            raise ConfigurationError(f"{where}: memory must be one of {get_args(MemorySource)}, got {self.memory!r}")
        object.__setattr__(self, "builders", tuple(self.builders))
        if self.retrieval is None:
            object.__setattr__(self, "retrieval", "none" if self.memory == "none" else "task_aware")
        if self.ranker is None:
            object.__setattr__(self, "ranker", "auto" if self.retrieval == "embedding_only" else "bm25")
        self._check_memory(where)
        for label, value in (("k", self.k), ("samples", self.samples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{where}: {label} must be a positive int, got {value!r}")
        if self.method == "self_contrast" and self.samples < 2:
            raise ConfigurationError(f"{where}: self_contrast contrasts several samples; set samples >= 2")

    def _check_memory(self, where: str) -> None:
        if self.retrieval not in get_args(RetrievalVariant):
            raise ConfigurationError(
                f"{where}: retrieval must be one of {get_args(RetrievalVariant)}, got {self.retrieval!r}"
            )
        if self.memory == "none":
            if self.method is not None or self.retrieval != "none" or self.builders:
                raise ConfigurationError(
                    f"{where}: memory='none' takes no method, builders or retrieval; "
                    f"got method={self.method!r}, builders={self.builders!r}, retrieval={self.retrieval!r}"
                )
            return
        if self.memory == "file":
            if self.method is not None or self.builders or self.retrieval == "none" or self.samples != 1:
                raise ConfigurationError(
                    f"{where}: memory='file' reads its constraints from a file: it takes no method, builders or "
                    f"samples, and needs a retrieval variant (got method={self.method!r}, builders={self.builders!r}, "
                    f"samples={self.samples!r}, retrieval={self.retrieval!r})"
                )
            return
        if self.method is None or self.retrieval == "none":
            raise ConfigurationError(
                f"{where}: memory={self.memory!r} needs a distill method and a retrieval variant "
                f"(got method={self.method!r}, retrieval={self.retrieval!r}); use memory='none' for no memory"
            )
        if (self.memory == "agents") != bool(self.builders):
            raise ConfigurationError(
                f"{where}: builders are given exactly when memory='agents' (got memory={self.memory!r}, "
                f"builders={self.builders!r})"
            )
        if self.method == "self_contrast" and self.memory != "self":
            raise ConfigurationError(f"{where}: self_contrast contrasts the consumer's own samples; use memory='self'")

    @property
    def uses_memory(self) -> bool:
        """Whether the consumer retrieves constraints at all."""
        return self.memory != "none"

    @property
    def uses_classifier(self) -> bool:
        """Whether tasks are classified before retrieval (task-aware retrieval only)."""
        return self.retrieval == "task_aware"

    def builders_for(self, consumer: str, team: Sequence[str]) -> tuple[str, ...]:
        """The agents whose trajectories build the memory ``consumer`` gets, in team order.

        Args:
            consumer: The agent solving the evaluation tasks.
            team: Every agent's name (consumers and builders).

        Raises:
            ConfigurationError: An unknown consumer or builder, or a method that cannot work with
                these builders (a contrastive memory from fewer than two agents).
        """
        names = list(team)
        unknown = sorted({consumer, *self.builders} - set(names))
        if unknown:
            raise ConfigurationError(f"condition {self.name!r}: unknown agent(s) {unknown}; the team is {names}")
        if self.memory in ("none", "file"):
            return ()
        chosen: tuple[str, ...]
        if self.memory == "self":
            chosen = (consumer,)
        elif self.memory == "others":
            chosen = tuple(n for n in names if n != consumer)
        elif self.memory == "all":
            chosen = tuple(names)
        else:
            chosen = tuple(n for n in names if n in self.builders)
        if not chosen:
            raise ConfigurationError(
                f"condition {self.name!r}: memory={self.memory!r} for {consumer!r} has no building agent "
                f"in team {names}"
            )
        if self.method == "contrastive" and len(chosen) < 2:
            raise ConfigurationError(
                f"condition {self.name!r}: a contrastive memory needs trajectories of at least two agents, "
                f"got {list(chosen)} for consumer {consumer!r}"
            )
        return chosen

    def bank_name(self, consumer: str, team: Sequence[str]) -> str | None:
        """The distilled memory bank ``consumer`` reads under this condition, ``None`` when nothing is
        distilled (no memory, or constraints read from a file: their bank is named by their content).

        The name depends only on the method, the samples and the resolved builders, so cells that
        need the same memory share one bank. It is a valid bank name (letters, digits, ``_``, ``-``)
        and ends with a hash of the exact builder names, so different names never collide.

        Example:
            >>> Condition(name="self_memory", memory="self", method="self").bank_name("a", ["a", "b"])
            'self-a-d23dc50f'
        """
        builders = self.builders_for(consumer, team)
        if self.method is None:
            return None
        key = "\x1f".join([self.method, str(self.samples), *builders])
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        readable = "_".join(re.sub(r"[^A-Za-z0-9]+", "", b)[:16] or "agent" for b in builders)
        return f"{self.method}-{readable}-{digest}"

    def single_source_builds(self, consumer: str, team: Sequence[str]) -> tuple[str | None, ...]:
        """The ``source_agent`` of each build run for this memory.

        The non-contrastive methods ``self`` and ``naive_transfer`` distill one agent's trajectories at
        a time (``create_build_graph(..., source_agent=...)``), so a memory from several builders is
        built by one run per builder into the same bank; every other method is one run over all
        builders (``None``: no ``source_agent``).
        """
        builders = self.builders_for(consumer, team)
        if self.method in _SINGLE_SOURCE:
            return builders
        return (None,) if builders else ()

    @staticmethod
    def fixed_category(task: Task) -> CategoryPath:
        """The category filter of embedding-only retrieval: the task's domain, with no category."""
        return CategoryPath(domain=task.domain)


class EvalCell(NamedTuple):
    """One condition applied to one consumer agent."""

    condition: Condition
    agent: str


def standard_conditions(*, k: int = 3, self_contrast_samples: int = 2) -> list[Condition]:
    """The paper's baselines and MemCollab, in the order reports list them.

    ``vanilla`` (no memory), ``self_memory`` (the consumer's own trajectories, non-contrastive),
    ``naive_transfer`` (every other agent's trajectories, non-contrastive), ``self_contrast`` (the
    consumer's own samples contrasted) and ``memcollab`` (all agents contrasted).

    Example:
        >>> [c.name for c in standard_conditions()]
        ['vanilla', 'self_memory', 'naive_transfer', 'self_contrast', 'memcollab']
    """
    return [
        Condition(name=VANILLA, description="no memory"),
        Condition(name="self_memory", memory="self", method="self", k=k, description="own trajectories"),
        Condition(
            name="naive_transfer",
            memory="others",
            method="naive_transfer",
            k=k,
            description="other agents' trajectories, not contrasted",
        ),
        Condition(
            name="self_contrast",
            memory="self",
            method="self_contrast",
            k=k,
            samples=self_contrast_samples,
            description="own samples contrasted",
        ),
        Condition(name="memcollab", memory="all", method="contrastive", k=k, description="all agents contrasted"),
    ]


def curated_condition(*, k: int = 3) -> Condition:
    """Constraints read from a file (written by hand, or exported from a bank), retrieved like distilled ones.

    Example:
        >>> c = curated_condition()
        >>> c.memory, c.retrieval, c.builders_for("small", ["small", "big"])
        ('file', 'task_aware', ())
    """
    return Condition(name=CURATED, memory="file", k=k, description="constraints from a file, not distilled")


def plan_cells(conditions: Iterable[Condition], agents: Sequence[str]) -> list[EvalCell]:
    """Every condition applied to every agent, checked (see :meth:`Condition.builders_for`).

    Raises:
        ConfigurationError: Duplicate condition names, or a condition that cannot serve an agent.
    """
    conditions = list(conditions)
    _check_unique([c.name for c in conditions], "condition")
    _check_unique(list(agents), "agent")
    cells = [EvalCell(c, a) for c in conditions for a in agents]
    for cell in cells:
        cell.condition.builders_for(cell.agent, agents)
    return cells


def transfer_matrix_conditions(
    builders: Sequence[Sequence[str]] = (("A",), ("B",), ("A", "B")),
    consumers: Sequence[str] = ("A", "B", "C"),
    *,
    k: int = 3,
    single_method: DistillerMethod = "self",
    multi_method: DistillerMethod = "contrastive",
    include_vanilla: bool = True,
) -> list[EvalCell]:
    """Cells of the cross-model transfer matrix: memory built from each builder set, used by each consumer.

    A builder set of one agent is distilled with ``single_method`` (non-contrastive: on the diagonal
    this is the consumer's self memory, off it a naive transfer); a set of several with
    ``multi_method`` (MemCollab's contrast). Conditions are named ``"transfer:" + "+".join(builders)``.
    With ``include_vanilla`` each consumer also gets the ``vanilla`` cell the matrix is compared with.

    Example:
        >>> cells = transfer_matrix_conditions([["A"], ["A", "B"]], ["A", "C"])
        >>> [(c.condition.name, c.agent) for c in cells]  # doctest: +NORMALIZE_WHITESPACE
        [('vanilla', 'A'), ('vanilla', 'C'), ('transfer:A', 'A'), ('transfer:A', 'C'),
         ('transfer:A+B', 'A'), ('transfer:A+B', 'C')]
    """
    _check_unique(list(consumers), "consumer")
    conditions = [Condition(name=VANILLA, description="no memory")] if include_vanilla else []
    for group in builders:
        names = tuple(group)
        if not names or len(set(names)) != len(names):
            raise ConfigurationError(f"a builder set must list distinct agents, got {list(names)!r}")
        conditions.append(
            Condition(
                name=TRANSFER_PREFIX + "+".join(names),
                memory="agents",
                builders=names,
                method=single_method if len(names) == 1 else multi_method,
                k=k,
                description=f"memory from {' + '.join(names)}",
            )
        )
    _check_unique([c.name for c in conditions], "builder set")
    return [EvalCell(c, a) for c in conditions for a in consumers]


def is_transfer(condition_name: str) -> bool:
    """Whether a condition name is a transfer-matrix row (see :func:`transfer_matrix_conditions`)."""
    return condition_name.startswith(TRANSFER_PREFIX)


def _check_unique(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigurationError(f"{what} {name!r} is given twice; {what} names must be unique")
        seen.add(name)


def _question_key(question: str) -> str:
    return hashlib.sha256(" ".join(question.lower().split()).encode()).hexdigest()


def check_no_leakage(train: Iterable[str | Task], evaluation: Iterable[str | Task]) -> None:
    """Refuse to evaluate on a task that was used to build the memory.

    Tasks are compared by id; when both sides are :class:`Task` objects, also by their question
    (case and whitespace folded), which catches the same problem under two ids. Ids of different
    data sets may coincide ("0" in GSM8K and in MATH): qualify them (``"gsm8k/0"``) before checking.

    Raises:
        ConfigurationError: Naming the overlapping ids (the first 20, and how many there are).

    Example:
        >>> check_no_leakage(["t1", "t2"], ["t3"])
        >>> check_no_leakage(["t1", "t2"], ["t2", "t3"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        memcollab_langgraph.errors.ConfigurationError: 1 evaluation task(s) were used ...: ['t2']; ...
    """
    train_ids: set[str] = set()
    train_questions: dict[str, str] = {}
    for item in train:
        if isinstance(item, Task):
            train_ids.add(item.id)
            train_questions[_question_key(item.question)] = item.id
        else:
            train_ids.add(item)
    leaked: list[str] = []
    for item in evaluation:
        if isinstance(item, Task):
            twin = train_questions.get(_question_key(item.question))
            if item.id in train_ids:
                leaked.append(item.id)
            elif twin is not None:
                leaked.append(f"{item.id} (same question as training task {twin})")
        elif item in train_ids:
            leaked.append(item)
    if leaked:
        shown = sorted(set(leaked))
        more = f" and {len(shown) - 20} more" if len(shown) > 20 else ""
        raise ConfigurationError(
            f"{len(shown)} evaluation task(s) were used to build the memory: {shown[:20]}{more}; "
            "evaluate on a split disjoint from the training tasks"
        )
