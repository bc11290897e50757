"""Agents: a named chat model with its family and strength rank.

This is the minimal agent spec the nodes need. Building agents from a config file (OpenAI-compatible
endpoints, local llama.cpp servers) is the job of a registry layered on top; nodes only ever receive
ready :class:`Agent` objects or chat models from their caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import AgentRef

__all__ = ["Agent", "agents_by_name", "model_id_of"]

_MODEL_ID_ATTRS = ("model_name", "model", "model_id", "deployment_name")


def model_id_of(model: BaseChatModel) -> str:
    """The model id a chat model reports (``model_name``, ``model``, ``model_id``...), else its type.

    Example:
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> model_id_of(ScriptedChatModel([], model_name="qwen2.5-7b"))
        'qwen2.5-7b'
    """
    for attr in _MODEL_ID_ATTRS:
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return model._llm_type


@dataclass(frozen=True, kw_only=True, eq=False)
class Agent:
    """A solver: a chat model under a name, with the model family and a strength rank.

    Args:
        name: Unique name of the agent (``"qwen-7b"``); trajectories and provenance refer to it.
        model: The chat model. Sampling settings (temperature) are the caller's: MemCollab solves at
            temperature 0, self-contrast needs a sampling model.
        family: Model family (``"qwen"``, ``"llama"``), used by model-aware retrieval.
        strength: Rank used when several trajectories are equally right or wrong: the highest
            ``strength`` is preferred (see :mod:`memcollab_langgraph.nodes.preference`).
        model_id: Model id recorded in provenance; default :func:`model_id_of` the model.

    Raises:
        ConfigurationError: An empty name, a model that is not a ``BaseChatModel``, a non-int strength.

    Example:
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> small = Agent(name="small", model=ScriptedChatModel([], model_name="qwen-7b"), family="qwen")
        >>> small.ref
        AgentRef(name='small', model='qwen-7b', family='qwen')
    """

    name: str
    model: BaseChatModel
    family: str = "unknown"
    strength: int = 0
    model_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigurationError(f"agent name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.model, BaseChatModel):
            raise ConfigurationError(
                f"agent {self.name!r}: model must be a langchain BaseChatModel, got {type(self.model).__name__}"
            )
        if isinstance(self.strength, bool) or not isinstance(self.strength, int):
            raise ConfigurationError(
                f"agent {self.name!r}: strength must be an int rank (higher is stronger), got {self.strength!r}"
            )

    @property
    def ref(self) -> AgentRef:
        """The agent's identity as recorded in trajectories and provenance."""
        return AgentRef(name=self.name, model=self.model_id or model_id_of(self.model), family=self.family)


def agents_by_name(agents: Agent | Iterable[Agent]) -> dict[str, Agent]:
    """Index agents by name.

    Raises:
        ConfigurationError: Two agents share a name, an item is not an :class:`Agent`, or there is none.
    """
    items = [agents] if isinstance(agents, Agent) else list(agents)
    out: dict[str, Agent] = {}
    for agent in items:
        if not isinstance(agent, Agent):
            raise ConfigurationError(f"expected Agent objects, got {type(agent).__name__}: {agent!r}")
        if agent.name in out:
            raise ConfigurationError(f"two agents are named {agent.name!r}; agent names must be unique")
        out[agent.name] = agent
    if not out:
        raise ConfigurationError("at least one Agent is needed")
    return out
