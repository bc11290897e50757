"""Shared memory for an existing agent: a pre-model hook for LangGraph's prebuilt ReAct agent.

The hook reads the conversation's last human message as the task, classifies it without a model call
(the deterministic classifier of :mod:`memcollab_langgraph.nodes.classify`), retrieves the top
constraints of that category from the graph's store, and hands the model a system message with
them, without changing the stored conversation (``llm_input_messages``). It works with
``create_react_agent(..., pre_model_hook=hook, store=store)`` and as a node before the model node of
any graph whose state has ``messages``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, SystemMessage

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import DEFAULT_FALLBACK, FallbackLevel, MemoryBank, MemoryHit, RankerName
from memcollab_langgraph.memory.retrieval import check_fallback
from memcollab_langgraph.nodes import deterministic_classify, render_constraints
from memcollab_langgraph.nodes.effects import NodeRunnable, Program, as_node, current_store, effect, perform
from memcollab_langgraph.schema import Task
from memcollab_langgraph.taxonomy import Taxonomy, get_taxonomy

__all__ = ["MEMORY_PREAMBLE", "create_memory_hook"]

MEMORY_PREAMBLE = "Constraints distilled from how several models solved similar tasks. Follow them where they apply:"


def _last_human_text(messages: list[AnyMessage]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, HumanMessage) and message.text.strip():
            return message.text
    return None


@dataclass(frozen=True)
class _HookSettings:
    bank_name: str
    taxonomy: Taxonomy
    domain: str
    k: int
    ranker: RankerName
    fallback: FallbackLevel


def _program(settings: _HookSettings, state: Mapping[str, Any]) -> Program[dict[str, Any]]:
    messages: list[AnyMessage] = list(state.get("messages") or [])
    question = _last_human_text(messages)
    hits: list[MemoryHit] = []
    if question is not None:
        task = Task(id="conversation", domain=settings.domain, question=question)
        category, _ = deterministic_classify(task, settings.taxonomy, use_task_label=False)
        store = current_store("memory_hook")
        bank = MemoryBank(store, name=settings.bank_name, taxonomy=settings.taxonomy, ranker=settings.ranker)
        query = effect(bank.query, bank.aquery, category, question, k=settings.k, fallback=settings.fallback)
        hits = yield from perform(query)
    prompt: list[BaseMessage] = list(messages)
    if hits:
        text = render_constraints([h.constraint for h in hits])
        prompt = [SystemMessage(f"{MEMORY_PREAMBLE}\n{text}"), *messages]
    return {"llm_input_messages": prompt, "memory_hits": hits}


def create_memory_hook(
    *,
    domain: str,
    bank_name: str = "default",
    taxonomy: Taxonomy | str = "default",
    k: int = 3,
    ranker: RankerName = "bm25",
    fallback: FallbackLevel = DEFAULT_FALLBACK,
) -> NodeRunnable:
    """A pre-model hook giving an agent the shared memory's constraints for the current question.

    Args:
        domain: Taxonomy domain of the agent's tasks (``"math"``, ``"code"``...).
        bank_name: The memory bank to read from the graph's store.
        taxonomy: Category labels (a :class:`Taxonomy` or a built-in name).
        k: Constraints to show the model at most.
        ranker: How constraints are ranked within a category.
        fallback: The coarsest level retrieval falls back to: ``"exact"``, ``"category"`` (default) or
            ``"domain"``.

    Returns:
        A runnable returning ``{"llm_input_messages": [...], "memory_hits": [...]}``: the model sees a
        system message with the constraints before the conversation; the state's ``messages`` are
        unchanged. (``memory_hits`` is kept only if the graph's state has such a key.)

    Raises:
        ConfigurationError: ``domain`` is not in the taxonomy, ``k`` is not positive or ``fallback`` is not a level.

    Example:
        >>> from langgraph.prebuilt import create_react_agent
        >>> from langgraph.store.memory import InMemoryStore
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> hook = create_memory_hook(domain="math", taxonomy="math")
        >>> agent = create_react_agent(ScriptedChatModel(["12"]), tools=[], pre_model_hook=hook,
        ...                            store=InMemoryStore())
        >>> agent.invoke({"messages": [("user", "What is 3 * 4?")]})["messages"][-1].content
        '12'
    """
    tax = get_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
    if domain not in tax.domains:
        raise ConfigurationError(f"domain {domain!r} is not in the taxonomy; choose one of {sorted(tax.domains)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigurationError(f"k must be a positive int, got {k!r}")
    settings = _HookSettings(bank_name, tax, domain, k, ranker, check_fallback(fallback))
    return as_node("memory_hook", lambda state: _program(settings, state))
