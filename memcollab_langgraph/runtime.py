"""Open what a configuration describes: the store, the agents' chat models, the local model server.

:class:`Runtime` is a context manager. Entering it starts a llama.cpp server for the ``local:`` agents
(or reuses a detached one started with ``memcollab local serve`` that serves every needed alias; with
``[local] servers = "per_model"``, one server per model) and builds one
:class:`~memcollab_langgraph.models.Agent` per configured agent; leaving it stops the servers it started.
Nothing happens at construction, and servers start only when an agent is first asked for (reading the
memory needs no model).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.store.base import BaseStore
from pydantic import SecretStr

from memcollab_langgraph.config import AgentConfig, Config
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.models import Agent
from memcollab_langgraph.openai_compat import OpenAICompatibleChat
from memcollab_langgraph.store import ChromaStore
from memcollab_langgraph.taxonomy import Taxonomy, builtin_taxonomies, get_taxonomy, load_taxonomy

__all__ = ["Runtime", "open_store"]


def open_store(config: Config) -> BaseStore:
    """The configured store: embedded Chroma in a directory, a Chroma server, or in memory."""
    where = config.memory.store
    name = config.memory.collection
    if where == ":memory:":
        return ChromaStore(collection_name=None)
    if where.startswith(("http://", "https://")):
        return ChromaStore(url=where, collection_name=name)
    return ChromaStore(path=config.resolve(where), collection_name=name)


def open_taxonomy(config: Config) -> Taxonomy:
    """The configured taxonomy: a built-in name, or a JSON/TOML file relative to the config."""
    name = config.memory.taxonomy
    if name in builtin_taxonomies():
        return get_taxonomy(name)
    path = config.resolve(name)
    if not path.exists():
        raise ConfigurationError(
            f"[memory] taxonomy {name!r} is neither a built-in taxonomy {builtin_taxonomies()} nor an "
            f"existing file (looked for {path})"
        )
    return load_taxonomy(path)


class Runtime:
    """The opened configuration.

    Args:
        config: A validated :class:`Config`.
        store: Use this store instead of the configured one (tests, notebooks).
        models: Use these chat models (agent name -> model) instead of building them from the
            configuration; agents without an entry are still built from it.

    Example:
        >>> from memcollab_langgraph.config import parse_config
        >>> from memcollab_langgraph.testing import ScriptedChatModel
        >>> config = parse_config({"agents": [{"name": "a", "base_url": "http://127.0.0.1:9/v1"}],
        ...                        "memory": {"store": ":memory:"}})
        >>> with Runtime(config, models={"a": ScriptedChatModel([])}) as rt:
        ...     rt.distiller.name, type(rt.store).__name__
        ('a', 'ChromaStore')
    """

    def __init__(
        self,
        config: Config,
        *,
        store: BaseStore | None = None,
        models: dict[str, BaseChatModel] | None = None,
    ) -> None:
        self.config = config
        self._store = store
        self._models = dict(models or {})
        unknown = sorted(set(self._models) - {a.name for a in config.agents})
        if unknown:
            raise ConfigurationError(f"models given for unknown agents {unknown}")
        self._stack: contextlib.ExitStack | None = None
        self._agents: dict[str, Agent] | None = None
        self.endpoints: dict[str, Any] = {}
        """Local alias -> the server (or detached server state) serving it; empty until an agent needs one."""
        self.notes: list[str] = []
        """What the runtime decided on the way (server reused or started...), for the user."""

    def __enter__(self) -> Runtime:
        self._stack = contextlib.ExitStack()
        return self

    def _open_agents(self) -> dict[str, Agent]:
        """Build the agents on first use, starting (or finding) the local server they need."""
        if self._stack is None:
            raise ConfigurationError("use the Runtime as a context manager: `with Runtime(config) as rt:`")
        needed = [a.local_alias for a in self.config.agents if a.local_alias and a.name not in self._models]
        if needed and not self.endpoints:
            self.endpoints = self._stack.enter_context(self._local_endpoints(list(dict.fromkeys(needed))))
        return {a.name: self._agent(a) for a in self.config.agents}

    @property
    def endpoint(self) -> Any:
        """The server of the first local alias (with ``servers = "shared"``, the one serving them all);
        ``None`` before any is needed."""
        return next(iter(self.endpoints.values()), None)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stack is not None:
            self._stack.close()
        close = getattr(self._store, "close", None)
        if self._store is not None and callable(close) and self._owns_store:
            close()

    _owns_store = False

    @contextlib.contextmanager
    def _local_endpoints(self, wanted: list[str]) -> Iterator[dict[str, Any]]:
        """Alias -> endpoint for the ``wanted`` local aliases (those of agents without a given model):
        running detached servers are reused, missing ones started (one for all, or one per model with
        ``servers = "per_model"``) and stopped on exit."""
        from memcollab_langgraph.local import list_detached

        local = self.config.local
        assert local is not None  # validated: local: agents need [local]
        detached = list_detached()
        groups = [wanted] if local.servers == "shared" else [[alias] for alias in wanted]
        endpoints: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            for group in groups:
                state = next((s for s in detached if set(group) <= set(s.aliases)), None)
                if state is not None:
                    self.notes.append(f"using the running local server {state.name!r} at {state.base_url}")
                    endpoint = state
                else:
                    served = local.models if local.servers == "shared" else {a: local.models[a] for a in group}
                    endpoint = stack.enter_context(self._local_server(served))
                endpoints.update(dict.fromkeys(group, endpoint))
            yield endpoints

    @contextlib.contextmanager
    def _local_server(self, models: dict[str, str]) -> Iterator[Any]:
        from memcollab_langgraph.local import LocalServer

        local = self.config.local
        assert local is not None
        server = LocalServer(
            {alias: _model_ref(self.config, name) for alias, name in models.items()},
            port=local.port,
            models_dir=self.config.resolve(local.models_dir) if local.models_dir else None,
            n_ctx=local.n_ctx,
            n_threads=local.n_threads,
            prompt_cache_mib=local.prompt_cache_mib,
        )
        with server:
            self.notes.append(f"started a local llama.cpp server at {server.base_url} ({server.log_path})")
            yield server

    def _chat_model(self, spec: AgentConfig) -> BaseChatModel:
        if spec.name in self._models:
            return self._models[spec.name]
        if spec.local_alias is not None:
            from memcollab_langgraph.local import chat_model

            return chat_model(
                self.endpoints[spec.local_alias],
                spec.local_alias,
                structured_method=spec.structured_output,
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                timeout=spec.timeout_s,
            )
        key = "not-needed"
        if spec.api_key_env is not None:
            key = os.environ.get(spec.api_key_env, "")
            if not key:
                raise ConfigurationError(
                    f"agent {spec.name!r} reads its API key from ${spec.api_key_env}, which is not set; "
                    f"export {spec.api_key_env}=... or change api_key_env"
                )
        return OpenAICompatibleChat(
            structured_method=spec.structured_output,
            model=spec.model_id,
            base_url=spec.base_url,
            api_key=SecretStr(key),
            temperature=spec.temperature,
            max_completion_tokens=spec.max_tokens,
            timeout=spec.timeout_s,
            max_retries=2,
        )

    def _agent(self, spec: AgentConfig) -> Agent:
        return Agent(
            name=spec.name,
            model=self._chat_model(spec),
            family=spec.family,
            strength=spec.strength,
            model_id=spec.model_id,
        )

    # -- what the configuration describes --------------------------------------------------------

    @property
    def agents(self) -> dict[str, Agent]:
        """The agents; the first access starts the local server if ``local:`` agents need one."""
        if self._agents is None:
            self._agents = self._open_agents()
        return self._agents

    def agent(self, name: str) -> Agent:
        if name not in self.agents:
            raise ConfigurationError(f"no agent named {name!r}; the configuration has {sorted(self.agents)}")
        return self.agents[name]

    @property
    def distiller(self) -> Agent:
        return self.agent(self.config.distiller_name)

    @property
    def classifier(self) -> Agent:
        return self.agent(self.config.classifier_name)

    @property
    def store(self) -> BaseStore:
        if self._store is None:
            self._store = open_store(self.config)
            self._owns_store = True
        return self._store

    @property
    def taxonomy(self) -> Taxonomy:
        return open_taxonomy(self.config)

    @property
    def bank(self) -> MemoryBank:
        return MemoryBank(self.store, name=self.config.memory.bank, taxonomy=self.taxonomy)

    @property
    def checkpoints_path(self) -> Path:
        path = self.config.resolve(self.config.memory.checkpoints)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def _model_ref(config: Config, name: str) -> str:
    """A model name stays a name; a path in the config is resolved against the config's directory."""
    if name.endswith(".gguf") or "/" in name:
        return str(config.resolve(name))
    return name
