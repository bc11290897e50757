"""Choosing the preferred and unpreferred trajectories of one task (MemCollab, section 3).

The rules, applied to the verified trajectories of one task, first match wins:

1. ``too_few``: fewer than two trajectories; there is nothing to contrast (skipped).
2. ``all_correct_identical``: every trajectory is correct and every pair is near-identical (token
   Jaccard of answer plus final reply at least ``identical_threshold``); the contrast would teach
   nothing (skipped).
3. ``one_correct``: exactly one trajectory is correct; it is preferred.
4. ``strongest_correct``: several are correct; the one of the strongest agent is preferred.
5. ``strongest_incorrect``: none is correct; the one of the strongest agent is preferred.

Every trajectory other than the preferred one is unpreferred. "Strongest" is the highest
:attr:`~memcollab_langgraph.models.Agent.strength`; ties go to the agent name in alphabetical order,
then to the lowest ``sample_index`` (so self-contrast over one agent's samples is deterministic).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory.ranking import jaccard, tokens
from memcollab_langgraph.schema import Trajectory

__all__ = ["Preference", "PreferenceRule", "choose_preference", "near_identical"]

PreferenceRule = Literal[
    "too_few", "all_correct_identical", "one_correct", "strongest_correct", "strongest_incorrect", "single"
]
"""The rule that decided (see the module docstring); ``single`` marks the one-trajectory baselines,
which have no contrast: the trajectory is the only source."""


@dataclass(frozen=True)
class Preference:
    """Which trajectory is preferred, which are not, and the rule that decided."""

    rule: PreferenceRule
    preferred: Trajectory | None
    unpreferred: list[Trajectory] = field(default_factory=list)
    explanation: str = ""

    @property
    def skipped(self) -> bool:
        """Whether there is nothing to distill (rules ``too_few`` and ``all_correct_identical``)."""
        return self.preferred is None


def _final_text(t: Trajectory) -> str:
    replies = [str(m.get("content", "")) for m in t.messages if m.get("role") == "assistant"]
    return f"{t.answer or ''} {replies[-1] if replies else ''}"


def near_identical(a: Trajectory, b: Trajectory, threshold: float) -> bool:
    """Whether two trajectories say nearly the same: token Jaccard of answer and final reply >= threshold."""
    return jaccard(tokens(_final_text(a)), tokens(_final_text(b))) >= threshold


def _rank_key(strength: Mapping[str, int]) -> Callable[[Trajectory], tuple[int, str, int]]:
    def key(t: Trajectory) -> tuple[int, str, int]:
        return (-strength[t.agent.name], t.agent.name, t.sample_index)

    return key


def choose_preference(
    trajectories: Sequence[Trajectory],
    strength: Mapping[str, int],
    *,
    identical_threshold: float | None = 0.9,
) -> Preference:
    """Apply the rules of the module docstring.

    Args:
        trajectories: Verified trajectories of one task.
        strength: Strength rank per agent name (higher is stronger).
        identical_threshold: Similarity at which all-correct trajectories count as identical;
            ``None`` never skips them.

    Raises:
        ConfigurationError: A trajectory is unverified, or its agent has no strength rank.

    Example:
        >>> from memcollab_langgraph.schema import AgentRef
        >>> def traj(name: str, correct: bool) -> Trajectory:
        ...     return Trajectory(task_id="t", agent=AgentRef(name=name, model=name), answer=name,
        ...                       correct=correct)
        >>> p = choose_preference([traj("big", False), traj("small", True)], {"big": 2, "small": 1})
        >>> p.rule, p.preferred.agent.name, [t.agent.name for t in p.unpreferred]
        ('one_correct', 'small', ['big'])
    """
    for t in trajectories:
        if t.correct is None:
            raise ConfigurationError(
                f"trajectory of agent {t.agent.name!r} on task {t.task_id!r} is not verified; put a "
                "verifier node before the distiller"
            )
        if t.agent.name not in strength:
            raise ConfigurationError(
                f"agent {t.agent.name!r} has no strength rank; pass it in agents=[...] (known: {sorted(strength)})"
            )
    if len(trajectories) < 2:
        return Preference("too_few", None, explanation=f"{len(trajectories)} trajectory: nothing to contrast")
    ordered = sorted(trajectories, key=_rank_key(strength))
    correct = [t for t in ordered if t.correct]
    if len(correct) == len(ordered) and identical_threshold is not None:
        pairs = itertools.combinations(ordered, 2)
        if all(near_identical(a, b, identical_threshold) for a, b in pairs):
            return Preference(
                "all_correct_identical",
                None,
                explanation=f"all {len(ordered)} trajectories are correct and near-identical "
                f"(similarity >= {identical_threshold})",
            )
    if len(correct) == 1:
        rule: PreferenceRule = "one_correct"
        preferred = correct[0]
        why = f"only {preferred.agent.name}'s trajectory is correct"
    elif correct:
        rule, preferred = "strongest_correct", correct[0]
        why = f"{len(correct)} trajectories are correct; {preferred.agent.name} is the strongest of them"
    else:
        rule, preferred = "strongest_incorrect", ordered[0]
        why = f"no trajectory is correct; {preferred.agent.name} is the strongest agent"
    unpreferred = [t for t in ordered if t is not preferred]
    return Preference(rule, preferred, unpreferred, why)
