"""Reading node inputs from graph state.

State values are normally the library's pydantic objects, but a graph started from JSON (LangGraph
Studio, the API server, a checkpoint written by another version) holds plain dicts. Each reader
accepts both, re-validates dicts, and turns a missing or malformed value into a
:class:`~memcollab_langgraph.errors.ConfigurationError` naming the state key and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from memcollab_langgraph._validation import location, refused_value
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryHit
from memcollab_langgraph.schema import CategoryPath, Task, Trajectory

__all__ = ["read_category", "read_hits", "read_model", "read_task", "read_trajectories"]

_M = TypeVar("_M", bound=BaseModel)


def read_model(value: object, cls: type[_M], key: str) -> _M:
    """``value`` as a ``cls`` instance (validated from a dict if needed)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        try:
            return cls.model_validate(dict(value))
        except ValidationError as e:
            err = e.errors()[0]
            where = location(err) or "(top level)"
            raise ConfigurationError(
                f"state[{key!r}] is not a valid {cls.__name__}: {where}: {err['msg']}{refused_value(err)}"
            ) from None
    raise ConfigurationError(
        f"state[{key!r}] must be a {cls.__name__} (or a dict of its fields), got {type(value).__name__}"
    )


def read_task(state: Mapping[str, Any]) -> Task:
    """The task of the state (key ``task``).

    Raises:
        ConfigurationError: No ``task`` key, or a malformed one.
    """
    if state.get("task") is None:
        raise ConfigurationError(
            f"the node needs state['task'] (a Task) but the state has keys {sorted(state)}; "
            "start the graph with {'task': Task(...)}"
        )
    return read_model(state["task"], Task, "task")


def read_category(state: Mapping[str, Any], task: Task) -> CategoryPath | None:
    """The task's category: ``category``, else ``classification.path``, else the task's own label."""
    value = state.get("category")
    if isinstance(value, str):
        return CategoryPath.parse(value)
    if value is not None:
        return read_model(value, CategoryPath, "category")
    classification = state.get("classification")
    if classification is not None:
        path = getattr(classification, "path", None)
        if path is None and isinstance(classification, Mapping):
            path = classification.get("path")
        if path is not None:
            return read_model(path, CategoryPath, "classification.path")
    return task.category


def read_hits(state: Mapping[str, Any]) -> list[MemoryHit]:
    """Retrieved constraints (key ``hits``), empty when there are none."""
    return [read_model(h, MemoryHit, "hits") for h in state.get("hits") or []]


def read_trajectories(state: Mapping[str, Any], task_id: str | None = None) -> list[Trajectory]:
    """Trajectories of the state (key ``trajectories``, else ``trajectory``), of ``task_id`` if given."""
    values = list(state.get("trajectories") or [])
    if not values and state.get("trajectory") is not None:
        values = [state["trajectory"]]
    out = [read_model(t, Trajectory, "trajectories") for t in values]
    return [t for t in out if task_id is None or t.task_id == task_id]
