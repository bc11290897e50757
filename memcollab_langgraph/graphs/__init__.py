"""Ready graphs built only from the library's nodes, and a resumable batch runner.

Factories return uncompiled ``StateGraph`` objects, so you choose the checkpointer and the store:

* :func:`create_build_graph`: one training task -> N agents in parallel -> verify -> distill.
* :func:`create_solve_graph`: classify -> retrieve -> solve -> verify -> record utility.
* :func:`create_memory_hook`: the shared memory for an existing (prebuilt ReAct) agent.
* :func:`run_tasks` / :func:`arun_tasks`: a graph over a task list, checkpointed and resumable.
* :func:`sqlite_checkpointer` / :func:`asqlite_checkpointer`: a SQLite checkpointer that restores the
  library's state types without LangGraph's "unregistered type" warnings.
"""

from __future__ import annotations

from memcollab_langgraph.graphs.batch import BatchReport, TaskStatus, arun_tasks, run_tasks
from memcollab_langgraph.graphs.build import create_build_graph, strongest
from memcollab_langgraph.graphs.checkpoints import asqlite_checkpointer, sqlite_checkpointer
from memcollab_langgraph.graphs.hooks import MEMORY_PREAMBLE, create_memory_hook
from memcollab_langgraph.graphs.solve import create_solve_graph, route_after_verify

__all__ = [
    "MEMORY_PREAMBLE",
    "BatchReport",
    "TaskStatus",
    "arun_tasks",
    "asqlite_checkpointer",
    "create_build_graph",
    "create_memory_hook",
    "create_solve_graph",
    "route_after_verify",
    "run_tasks",
    "sqlite_checkpointer",
    "strongest",
]
