"""The story check: rejecting constraints that restate their source task's situation in words.

The lexical abstraction check (:mod:`~memcollab_langgraph.nodes.abstraction`) catches copied numbers,
names and code, but not a constraint that retells the task's story in its own words (*"When the price
of cream cheese is half the price of cheddar cheese, ..."*). Such a constraint matches only the task
it came from. What gives it away is its vocabulary: it shares with its source task words that are
*rare among tasks of the same kind* ("cheddar", "cream"), where a reusable constraint uses words
that many tasks share ("price", "discount", "percentage").

:class:`StoryCheck` counts those words. A word is rare when it occurs in at most ``rare_fraction`` of
the questions of a *reference* corpus (the training set the memory is built from is the natural one);
a constraint is rejected when it shares more than ``max_story_words`` rare words with its source
task's question. Words are the retrieval tokenizer's (:func:`~memcollab_langgraph.memory.ranking.tokens`:
lower case, stop words dropped, plurals folded); numbers are left to the abstraction check.

On the annotated GSM8K banks of the full local run (docs/results.md, "The story check"), the defaults
(``rare_fraction=0.01``, ``max_story_words=1``, the GSM8K training set as reference) caught 45 of the
65 constraints of training tasks 30-99 labelled "restates the training problem", rejecting 3 others
(1 of the 22 labelled useful); the thresholds were chosen looking at every annotated bank. A reference
of fewer than :data:`MIN_REFERENCE_TASKS` questions says too little about which words are rare, so it
is refused.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory.ranking import tokens
from memcollab_langgraph.schema import Constraint

__all__ = [
    "DEFAULT_MAX_STORY_WORDS",
    "DEFAULT_RARE_FRACTION",
    "MIN_REFERENCE_TASKS",
    "StoryAudit",
    "StoryCheck",
    "audit_constraints",
    "choose_story_check",
]

DEFAULT_RARE_FRACTION = 0.01
DEFAULT_MAX_STORY_WORDS = 1
MIN_REFERENCE_TASKS = 100
"""Below this many reference questions, most words of any task look rare (measured: with 100 GSM8K
questions the check still flags only true restatements, but half as many)."""


@dataclass(frozen=True)
class StoryCheck:
    """Rejects a constraint sharing more than ``max_story_words`` rare words with its source task.

    Build it with :meth:`from_texts` from the questions of a reference corpus.

    Example:
        >>> corpus = [f"A shop sells {n} items; one costs half as much as another." for n in range(150)]
        >>> check = StoryCheck.from_texts([*corpus, "Cream cheese costs half as much as cheddar cheese."])
        >>> story = "Jim buys cream cheese and cheddar cheese. Cream cheese costs half as much."
        >>> check.reason("When cream cheese costs half as much as cheddar, enforce halving", story)
        "restates its task's situation: shares the rare words ['cheddar', 'cheese', 'cream'] with the \
task (each in at most 1 of the 151 reference tasks); describe the kind of situation instead"
        >>> check.reason("When an item's price is a fraction of another's, enforce multiplying", story) is None
        True
    """

    document_frequency: Mapping[str, int]
    """Token -> how many reference questions contain it."""
    reference_size: int
    rare_fraction: float = DEFAULT_RARE_FRACTION
    max_story_words: int = DEFAULT_MAX_STORY_WORDS

    def __post_init__(self) -> None:
        if self.reference_size < MIN_REFERENCE_TASKS:
            raise ConfigurationError(
                f"the story check needs a reference of at least {MIN_REFERENCE_TASKS} task questions to tell "
                f"rare words from common ones, got {self.reference_size}; give a larger reference (such as "
                "the whole training file) or turn the check off"
            )
        if isinstance(self.rare_fraction, bool) or not 0.0 < self.rare_fraction < 1.0:
            raise ConfigurationError(
                f"rare_fraction must be in (0, 1) (the share of reference tasks a rare word occurs in at "
                f"most), got {self.rare_fraction!r}"
            )
        words = self.max_story_words
        if isinstance(words, bool) or not isinstance(words, int) or words < 0:
            raise ConfigurationError(
                f"max_story_words must be an int >= 0 (rare words a constraint may share with its task), "
                f"got {self.max_story_words!r}"
            )

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        *,
        rare_fraction: float = DEFAULT_RARE_FRACTION,
        max_story_words: int = DEFAULT_MAX_STORY_WORDS,
    ) -> StoryCheck:
        """A check whose rare words are those of at most ``rare_fraction`` of ``texts`` (task questions).

        Raises:
            ConfigurationError: Fewer than :data:`MIN_REFERENCE_TASKS` texts, or bad thresholds.
        """
        frequency: Counter[str] = Counter()
        size = 0
        for text in texts:
            frequency.update(set(tokens(text)))
            size += 1
        return cls(
            document_frequency=MappingProxyType(dict(frequency)),
            reference_size=size,
            rare_fraction=rare_fraction,
            max_story_words=max_story_words,
        )

    @property
    def rare_limit(self) -> int:
        """The most reference questions a rare word occurs in (at least 1: the source task itself)."""
        return max(1, math.floor(self.rare_fraction * self.reference_size))

    def story_words(self, text: str, question: str) -> list[str]:
        """The rare words (tokens) that ``text`` shares with ``question``, sorted; numbers are the
        abstraction check's business."""
        limit = self.rare_limit
        shared = set(tokens(text)) & set(tokens(question))
        return sorted(w for w in shared if w.isalpha() and self.document_frequency.get(w, 0) <= limit)

    def reason(self, text: str, question: str) -> str | None:
        """Why ``text`` (a whole constraint) restates ``question``'s situation, or ``None`` if it does not."""
        words = self.story_words(text, question)
        if len(words) <= self.max_story_words:
            return None
        return (
            f"restates its task's situation: shares the rare words {words} with the task (each in at most "
            f"{self.rare_limit} of the {self.reference_size} reference tasks); describe the kind of situation instead"
        )

    def describe(self) -> dict[str, int | float | str]:
        """What decides the rejections: the thresholds and the reference (its size and a digest of its
        word frequencies), for run fingerprints."""
        counts = "\n".join(f"{w}\t{n}" for w, n in sorted(self.document_frequency.items()))
        return {
            "reference_size": self.reference_size,
            "reference_digest": hashlib.sha256(counts.encode()).hexdigest()[:12],
            "rare_fraction": self.rare_fraction,
            "max_story_words": self.max_story_words,
        }


def choose_story_check(
    enabled: bool | None,
    questions: Sequence[str],
    *,
    origin: str,
    max_story_words: int = DEFAULT_MAX_STORY_WORDS,
) -> tuple[StoryCheck | None, str]:
    """The story check a configuration asks for, and a note saying what was decided and why.

    Args:
        enabled: ``False``: off. ``None``: on when ``questions`` are enough (:data:`MIN_REFERENCE_TASKS`),
            else off. ``True``: on, and too few questions is an error.
        questions: The reference task questions.
        origin: Where they come from, for the note and the error (a file name).
        max_story_words: See :class:`StoryCheck`.

    Raises:
        ConfigurationError: ``enabled=True`` with too small a reference.
    """
    if enabled is False:
        return None, "story check off ([distiller] story_check = false)"
    if len(questions) < MIN_REFERENCE_TASKS and not enabled:
        return None, (
            f"story check off: {origin} has {len(questions)} task questions, fewer than the {MIN_REFERENCE_TASKS} "
            "it needs; set [distiller] story_reference to a larger task file of the same kind"
        )
    try:
        check = StoryCheck.from_texts(questions, max_story_words=max_story_words)
    except ConfigurationError as e:
        raise ConfigurationError(f"[distiller] story_check = true, reference {origin}: {e}") from None
    return check, (
        f"story check on: a constraint sharing more than {max_story_words} rare word(s) with its task is "
        f"rejected (rare: in at most {check.rare_limit} of the {check.reference_size} questions of {origin})"
    )


@dataclass(frozen=True)
class StoryAudit:
    """An existing bank's constraints judged by a :class:`StoryCheck` (see :func:`audit_constraints`)."""

    retold: list[tuple[Constraint, list[str]]]
    """Constraints that fail the check against every source task they have, with the rare words they
    share with the first one."""
    passed: list[Constraint]
    unchecked: list[Constraint]
    """Constraints none of whose source tasks is known (manual entries, tasks of another file)."""


def audit_constraints(constraints: Iterable[Constraint], check: StoryCheck, questions: Mapping[str, str]) -> StoryAudit:
    """Judge stored constraints as the distiller would have: which ones retell their training task.

    A constraint distilled from several tasks (merged) is retold only if it retells each of them: a
    rule that more than one task produced is reusable by definition.

    Args:
        constraints: Entries of a bank.
        check: The story check.
        questions: Task id -> question, for the constraints' ``provenance.source_task_ids``.
    """
    retold: list[tuple[Constraint, list[str]]] = []
    passed: list[Constraint] = []
    unchecked: list[Constraint] = []
    for c in constraints:
        sources = [questions[t] for t in c.provenance.source_task_ids if t in questions]
        if not sources:
            unchecked.append(c)
            continue
        words = [check.story_words(c.text, q) for q in sources]
        if all(len(w) > check.max_story_words for w in words):
            retold.append((c, words[0]))
        else:
            passed.append(c)
    return StoryAudit(retold=retold, passed=passed, unchecked=unchecked)
