"""``react_with_memory``: LangGraph's prebuilt ReAct agent, given the shared memory by a pre-model hook.

Chat with it in Studio: the hook (:func:`memcollab_langgraph.create_memory_hook`) classifies your last
message, retrieves constraints of that category from the bank and shows them to the model in a system
message, without changing the stored conversation. The agent has one tool, ``python``, which runs a
program in the library's sandbox and returns what it printed.

Assistant settings (``configurable``): ``agent`` (whose model answers; default the first agent of the
configuration), ``domain`` (the taxonomy domain of the questions, default ``"math"``) and ``k``.
"""

from __future__ import annotations

import warnings

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import create_react_agent
from langgraph.store.base import BaseStore

from graphs.team import open_runtime
from memcollab_langgraph import create_memory_hook
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.verifiers import SandboxResult, arun_python, run_python

__all__ = ["build_agent", "make_graph", "python_tool"]


def _report(result: SandboxResult) -> str:
    if result.ok:
        return result.stdout or "(the program printed nothing; print what you need)"
    return f"{result.stdout}{result.stderr}\n[{result.reason}]".strip()


def _python(code: str) -> str:
    """Run a Python program in a sandbox (no network, 10 s) and return what it printed."""
    return _report(run_python(code, timeout_s=10))


async def _apython(code: str) -> str:
    return _report(await arun_python(code, timeout_s=10))


def python_tool() -> BaseTool:
    """The ``python`` tool: a sandboxed program run, sync and async."""
    return StructuredTool.from_function(func=_python, coroutine=_apython, name="python")


def build_agent(
    runtime: Runtime,
    *,
    agent: str | None = None,
    domain: str = "math",
    k: int | None = None,
    store: BaseStore | None = None,
) -> CompiledStateGraph:  # type: ignore[type-arg]
    """A compiled ReAct agent on ``agent``'s model whose model calls see the bank's constraints.

    Pass ``store=`` outside a server; ``langgraph dev`` attaches its own store (:mod:`graphs.store`).
    """
    chosen = runtime.agent(agent) if agent else next(iter(runtime.agents.values()))
    memory = runtime.config.memory
    hook = create_memory_hook(
        domain=domain, bank_name=memory.bank, taxonomy=runtime.taxonomy, k=k or memory.k, fallback=memory.fallback
    )
    # The hook targets the prebuilt agent, which langgraph 1.x marks as moved to langchain.agents (not a
    # dependency here); the warning says nothing about this use.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="create_react_agent has been moved", category=DeprecationWarning)
        return create_react_agent(
            chosen.model, tools=[python_tool()], pre_model_hook=hook, store=store, name="react_with_memory"
        )


def make_graph(config: RunnableConfig) -> CompiledStateGraph:  # type: ignore[type-arg]
    """Graph factory for ``langgraph dev``: the team of ``$MEMCOLLAB_CONFIG``, settings from ``configurable``."""
    settings = config.get("configurable") or {}
    return build_agent(
        open_runtime(), agent=settings.get("agent"), domain=settings.get("domain", "math"), k=settings.get("k")
    )
