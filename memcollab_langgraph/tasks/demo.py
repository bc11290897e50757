"""The demo task set bundled with the library: small math and code tasks written for this project.

Forty-two tasks in the generic format (``memcollab_langgraph/data/demo_tasks.jsonl``): 25 math word
problems (prealgebra, algebra, number theory, counting and probability, geometry) with numeric
answers, and 17 short Python functions (strings, lists, math, data structures, algorithms, parsing)
with the signature in the question and the first assert visible. Each carries a
category of the built-in taxonomy and ``metadata["split"]``: ``"train"`` to build memory from,
``"heldout"`` to evaluate on. Code tasks keep a passing program in
``metadata["reference_solution"]``. They are sized for small models: a few steps each, with the
usual traps (rounding up, average speed, greedy coin change, truncating division). Four of them,
two math and two code, are held out.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal, get_args

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import Task
from memcollab_langgraph.tasks.loaders import parse_tasks

__all__ = ["DemoSplit", "demo_tasks"]

DemoSplit = Literal["train", "heldout", "all"]
"""Which part of the demo set :func:`demo_tasks` returns."""

_RESOURCE = "data/demo_tasks.jsonl"


@cache
def _demo_text() -> str:
    return files("memcollab_langgraph").joinpath(_RESOURCE).read_text(encoding="utf-8")


def demo_tasks(split: DemoSplit = "train") -> list[Task]:
    """The bundled demo tasks of one split, in file order (math first, then code).

    Args:
        split: ``"train"`` (memory building), ``"heldout"`` (evaluation) or ``"all"``.

    Returns:
        Fresh :class:`~memcollab_langgraph.schema.Task` objects on every call.

    Raises:
        ConfigurationError: Unknown split.

    Example:
        >>> heldout = demo_tasks("heldout")
        >>> sorted({t.domain for t in heldout}), all(t.metadata["split"] == "heldout" for t in heldout)
        (['code', 'math'], True)
    """
    if split not in get_args(DemoSplit):
        raise ConfigurationError(f"unknown demo split {split!r}; use one of {list(get_args(DemoSplit))}")
    tasks = parse_tasks(_demo_text().splitlines(), origin=f"memcollab_langgraph/{_RESOURCE}", format="generic")
    return [t for t in tasks if split == "all" or t.metadata.get("split") == split]
