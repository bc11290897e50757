"""The configuration file: the agents of a team, the distiller and classifier, the store and the bank.

A TOML file such as::

    [memory]
    store = ".memcollab/chroma"       # a directory (embedded Chroma), a Chroma server URL, or ":memory:"
    bank = "demo"
    taxonomy = "default"              # a built-in taxonomy or a JSON/TOML file

    [local]                           # optional: a llama.cpp server started by the library
    models = { qwen-1_5b = "qwen2.5-coder-1.5b", smollm2 = "smollm2-135m" }

    [[agents]]
    name = "qwen-1.5b"
    base_url = "local:qwen-1_5b"      # an alias of [local.models], or "https://host/v1"
    family = "qwen"
    strength = 2

    [distiller]
    agent = "qwen-1.5b"               # default: the strongest agent
    labels = "task"                   # constraints take their task's category; "distiller": its own label
    story_check = true                # reject constraints retelling their task's story (default: when a
                                      # reference of >= 100 task questions is at hand)
    story_reference = "train.jsonl"   # whose questions tell rare words from common ones; default: the tasks built

Relative paths are resolved against the file's directory. Every table rejects unknown keys, and a
validation error names the file, the field and the fix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from memcollab_langgraph._validation import location, refused_value
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.memory.models import DEFAULT_FALLBACK, FallbackLevel
from memcollab_langgraph.nodes.story import DEFAULT_MAX_STORY_WORDS, StoryCheck, choose_story_check
from memcollab_langgraph.schema import ConstraintLabels
from memcollab_langgraph.tasks.formats import TaskFormat
from memcollab_langgraph.tasks.loaders import load_tasks

__all__ = [
    "AgentConfig",
    "Config",
    "DistillerConfig",
    "LocalConfig",
    "MemoryConfig",
    "RoleConfig",
    "describe_validation_error",
    "load_config",
    "parse_config",
    "read_toml",
    "validate_config",
]

LOCAL_PREFIX = "local:"

_M = TypeVar("_M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentConfig(_Strict):
    """One agent: a chat model behind an OpenAI-compatible endpoint."""

    name: str = Field(min_length=1)
    """Unique name; trajectories and provenance refer to it."""
    model: str | None = None
    """Model id sent to the endpoint; default the local alias, or the name."""
    base_url: str
    """``local:<alias>`` for a model of ``[local]``, or an OpenAI-compatible URL (``.../v1``)."""
    api_key_env: str | None = None
    """Environment variable holding the API key (remote endpoints)."""
    family: str = "unknown"
    """Model family (``qwen``, ``llama``...), for model-aware retrieval and statistics."""
    strength: int = 0
    """Rank: when several trajectories are equally right or wrong, the strongest is preferred."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, gt=0)
    timeout_s: float = Field(default=600.0, gt=0)
    structured_output: Literal["function_calling", "json_mode", "json_schema"] = "function_calling"
    """How structured replies (classification, distillation) are requested. Forced function calling
    is the most widely supported by OpenAI-compatible servers (and llama.cpp then decodes with a
    grammar); ``json_schema`` suits OpenAI and vLLM."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.startswith(LOCAL_PREFIX):
            if not value[len(LOCAL_PREFIX) :]:
                raise ValueError("'local:' needs an alias of [local.models], e.g. 'local:smollm2'")
        elif not value.startswith(("http://", "https://")):
            raise ValueError(
                f"{value!r} is neither 'local:<alias>' nor an http(s) URL such as 'http://127.0.0.1:8080/v1'"
            )
        return value

    @property
    def local_alias(self) -> str | None:
        return self.base_url[len(LOCAL_PREFIX) :] if self.base_url.startswith(LOCAL_PREFIX) else None

    @property
    def model_id(self) -> str:
        return self.model or self.local_alias or self.name


class RoleConfig(_Strict):
    """Which agent plays a role (distiller, classifier)."""

    agent: str


class DistillerConfig(_Strict):
    """The distiller: which agent, where its constraints' categories come from, and the story check."""

    agent: str | None = None
    """Default: the strongest agent (first on ties)."""
    labels: ConstraintLabels = "task"
    """``"task"``: each constraint is filed under the category its training task was classified into,
    and the taxonomy stays out of the distiller's prompt; ``"distiller"``: the distiller labels each
    constraint from the taxonomy (a small model then tends to write about the category names)."""
    story_check: bool | None = None
    """Reject constraints that restate their task's situation in words
    (:class:`~memcollab_langgraph.nodes.story.StoryCheck`). ``None`` (default): on when the reference
    has at least 100 task questions, else off with a note; ``True``: on, and a smaller reference is an
    error; ``False``: off."""
    story_reference: Path | None = None
    """A task file (any supported format) whose questions tell rare words from common ones; default:
    the whole file the memory is built from."""
    max_story_words: int = Field(default=DEFAULT_MAX_STORY_WORDS, ge=0)
    """Rare words a constraint may share with its task before it counts as restating it."""


class LocalConfig(_Strict):
    """The local llama.cpp server, started by the library for ``local:`` agents."""

    models: dict[str, str] = Field(default_factory=lambda: {"smollm2": "smollm2-135m"})
    """Alias -> model name (``smollm2-135m``, ``qwen2.5-coder-0.5b``...) or GGUF path."""
    models_dir: Path | None = None
    """Where model names are looked up; default ``$MEMCOLLAB_MODEL_DIR`` or ``~/.cache/memcollab/models``."""
    n_ctx: int = Field(default=4096, gt=0)
    n_threads: int = Field(default=2, gt=0)
    port: int | None = Field(default=None, gt=0, lt=65536)
    prompt_cache_mib: int = Field(default=0, ge=0)
    """Prompt cache per model in MiB (``0``, the default: off): recent requests' states are kept, so a
    request sharing a long prefix with one of them skips re-evaluating it. The budget bounds everything
    the cache keeps; the server needs about 0.2 GB more while storing states (see ``DEFAULT_PROMPT_CACHE_MIB``)."""
    servers: Literal["shared", "per_model"] = "shared"
    """``"shared"``: one llama.cpp server serves every model, one loaded at a time; a request for
    another model unloads the current one, reloads the other and drops its prompt cache. ``"per_model"``:
    one server per model the agents use, all loaded at once (the memory of every model): a team whose
    agents take turns on each task, e.g. a contrastive memory build, no longer reloads at every turn.
    Either way a running detached server (``memcollab local serve``) that serves the alias(es) is used
    instead of starting one; ``memcollab local serve --model ALIAS=MODEL --name ALIAS`` per model gives
    the per-model layout to several processes."""

    @model_validator(mode="after")
    def _one_port_one_server(self) -> Self:
        if self.servers == "per_model" and self.port is not None and len(self.models) > 1:
            raise ValueError(
                f"port = {self.port} cannot be used by one server per model ({len(self.models)} models); "
                'remove port (each server picks a free one) or set servers = "shared"'
            )
        return self


class MemoryConfig(_Strict):
    """Where the shared memory lives and how it is read."""

    store: str = ".memcollab/chroma"
    """A directory (embedded Chroma), ``http(s)://host:port`` (a Chroma server), or ``:memory:``."""
    collection: str = "memcollab"
    bank: str = "default"
    taxonomy: str = "default"
    """A built-in taxonomy name (``default``, ``math``, ``code``) or a JSON/TOML file."""
    k: int = Field(default=3, gt=0)
    """Constraints retrieved per task (the paper's p)."""
    fallback: FallbackLevel = DEFAULT_FALLBACK
    """The coarsest level retrieval falls back to when a category has fewer than ``k`` constraints:
    ``"exact"``, ``"category"`` (a subcategory's parent category) or ``"domain"`` (any category of the domain)."""
    checkpoints: str = ".memcollab/checkpoints.sqlite"
    """SQLite file of the build checkpoints (resume after an interruption)."""


class Config(_Strict):
    """A whole configuration file."""

    agents: list[AgentConfig] = Field(min_length=1)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    local: LocalConfig | None = None
    distiller: DistillerConfig | None = None
    classifier: RoleConfig | None = None
    max_turns: int = Field(default=3, gt=0)
    max_concurrency: int = Field(default=1, gt=0)
    source: Path | None = Field(default=None, exclude=True)
    """The file this configuration was read from."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [a.name for a in self.agents]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"agent names must be unique; repeated: {duplicates}")
        for role, chosen in (("distiller", self.distiller), ("classifier", self.classifier)):
            if chosen is not None and chosen.agent is not None and chosen.agent not in names:
                raise ValueError(f"[{role}] agent {chosen.agent!r} is not one of the agents {names}")
        aliases = set(self.local.models) if self.local else set()
        for agent in self.agents:
            alias = agent.local_alias
            if alias is not None and alias not in aliases:
                hint = f"one of {sorted(aliases)}" if aliases else "add a [local] table with models = {...}"
                raise ValueError(
                    f"agent {agent.name!r} uses base_url 'local:{alias}', but [local.models] "
                    f"has no alias {alias!r}: use {hint}"
                )
        return self

    def agent(self, name: str) -> AgentConfig:
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise ConfigurationError(f"no agent named {name!r}; the configuration has {[a.name for a in self.agents]}")

    @property
    def distiller_name(self) -> str:
        """The distiller's agent: as configured, else the strongest agent (first on ties)."""
        if self.distiller is not None and self.distiller.agent is not None:
            return self.distiller.agent
        return max(self.agents, key=lambda a: a.strength).name

    @property
    def distiller_labels(self) -> ConstraintLabels:
        """Where distilled constraints' categories come from (``[distiller] labels``, default ``"task"``)."""
        return self.distiller.labels if self.distiller is not None else "task"

    def story_check(
        self, built_from: Path | None = None, *, format: TaskFormat | None = None
    ) -> tuple[StoryCheck | None, str]:
        """The distiller's story check for a memory built from the task file ``built_from``, and a note.

        The reference is ``[distiller] story_reference`` when set (read with its detected format), else the
        whole of ``built_from`` (in ``format``); without either the check is off. See
        :func:`~memcollab_langgraph.nodes.story.choose_story_check`.

        Raises:
            ConfigurationError: The reference cannot be read, or ``story_check = true`` with too small a one
                or none.
        """
        settings = self.distiller or DistillerConfig()
        if settings.story_check is False:
            return choose_story_check(False, [], origin="")
        if settings.story_reference is not None:
            path, format = self.resolve(settings.story_reference), None
        elif built_from is not None:
            path = built_from
        elif settings.story_check:
            raise ConfigurationError(
                "[distiller] story_check = true needs a reference of training questions: set [distiller] "
                "story_reference to a task file"
            )
        else:
            return None, "story check off: no reference of training questions ([distiller] story_reference)"
        questions = [t.question for t in load_tasks(path, format=format)]
        return choose_story_check(
            settings.story_check, questions, origin=path.name, max_story_words=settings.max_story_words
        )

    @property
    def classifier_name(self) -> str:
        return self.classifier.agent if self.classifier is not None else self.distiller_name

    @property
    def local_aliases(self) -> list[str]:
        """Local aliases some agent uses, in agent order."""
        return list(dict.fromkeys(a.local_alias for a in self.agents if a.local_alias is not None))

    def resolve(self, path: str | Path) -> Path:
        """``path`` relative to the configuration file's directory (the working directory without one)."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.source is None:
            return p
        return self.source.parent / p


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, naming the field and the value given, and for unknown or missing keys the fix.

    Example:
        >>> from pydantic import BaseModel, PositiveInt
        >>> class Settings(BaseModel):
        ...     k: PositiveInt
        >>> try:
        ...     Settings(k="zero")
        ... except ValidationError as e:
        ...     print(describe_validation_error(e))
          k: Input should be a valid integer, unable to parse string as an integer (got 'zero')
    """
    lines = []
    for err in error.errors():
        where = location(err)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?); remove it or check the documented keys"
        elif err["type"] == "missing":
            msg = "required key is missing"
        msg += refused_value(err)
        lines.append(f"  {where}: {msg}" if where else f"  {msg}")  # checks across fields name their field
    return "\n".join(lines)


def read_toml(path: str | Path, *, what: str, examples: str) -> tuple[dict[str, Any], Path]:
    """Read a TOML file; a missing file or bad TOML is a :class:`ConfigurationError` naming the file.

    Returns:
        The parsed table and the file's resolved path.
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"{what} {str(file)!r} does not exist; pass --config with the path of a TOML file (examples: {examples})"
        ) from None
    try:
        return tomllib.loads(text), file.resolve()
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{file} is not valid TOML: {e}") from None


def validate_config(model: type[_M], data: Mapping[str, Any], *, what: str, source: Path | None) -> _M:
    """``model.model_validate`` of ``data`` with ``source``; a failure lists every bad field and its fix."""
    try:
        return model.model_validate({**data, "source": source})
    except ValidationError as e:
        where = f" in {source}" if source else ""
        raise ConfigurationError(f"invalid {what}{where}:\n{describe_validation_error(e)}") from None


def parse_config(data: dict[str, Any], *, source: Path | None = None) -> Config:
    """Validate a configuration mapping (as read from TOML)."""
    return validate_config(Config, data, what="configuration", source=source)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML configuration file.

    Raises:
        ConfigurationError: The file is missing, not TOML, or a field is invalid (all are listed).

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "team.toml"
        >>> _ = f.write_text('[[agents]]\\nname = "a"\\nbase_url = "http://127.0.0.1:8080/v1"\\n')
        >>> load_config(f).distiller_name
        'a'
    """
    data, file = read_toml(path, what="configuration file", examples="configs/*.toml")
    return parse_config(data, source=file)
