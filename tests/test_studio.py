"""LangGraph Studio support: langgraph.json, the example graph factories in graphs/ and the store factory.

The factories are loaded the way the LangGraph API server loads them (a file path and an attribute
from langgraph.json), under a configuration whose agents are remote endpoints that are never called:
building a ``ChatOpenAI`` does no I/O, so nothing here needs a model server. The graphs then run end
to end on the offline fakes of ``graphs.offline``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langchain_core.messages import SystemMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import StateGraph
from langgraph.store.memory import InMemoryStore

from memcollab_langgraph import ChromaStore, ConfigurationError, MemoryBank
from memcollab_langgraph.config import load_config
from memcollab_langgraph.runtime import Runtime
from memcollab_langgraph.tasks import demo_tasks
from memcollab_langgraph.testing import FunctionChatModel

REPO = Path(__file__).resolve().parents[1]
LANGGRAPH_JSON = REPO / "langgraph.json"

EXPECTED_NODES = {
    "build_memory": {"__start__", "classify", "solve", "verify", "distill", "__end__"},
    "solve_with_memory": {"__start__", "classify", "retrieve", "solve", "verify", "record_outcome", "__end__"},
    "react_with_memory": {"__start__", "pre_model_hook", "agent", "tools", "__end__"},
}

TEAM_TOML = """
max_turns = 2

[memory]
store = "{store}"
bank = "studio-test"
k = 2

[[agents]]
name = "big"
model = "big-7b"
base_url = "http://127.0.0.1:9/v1"
family = "qwen"
strength = 2

[[agents]]
name = "small"
model = "small-1b"
base_url = "http://127.0.0.1:9/v1"
family = "llama"
strength = 1
"""


@pytest.fixture
def studio_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``$MEMCOLLAB_CONFIG`` pointing at a remote-only team, the repo root importable (as under ``langgraph dev``)."""
    path = tmp_path / "team.toml"
    path.write_text(TEAM_TOML.format(store=(tmp_path / "chroma").as_posix()))
    monkeypatch.setenv("MEMCOLLAB_CONFIG", str(path))
    monkeypatch.syspath_prepend(str(REPO))
    yield path
    from graphs import team

    for runtime in team._runtimes.values():
        runtime.__exit__(None, None, None)
    team._runtimes.clear()


def _spec() -> dict[str, Any]:
    loaded = json.loads(LANGGRAPH_JSON.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _graph_paths() -> dict[str, str]:
    return {name: entry if isinstance(entry, str) else entry["path"] for name, entry in _spec()["graphs"].items()}


def _load(reference: str) -> Any:
    """``./file.py:attr`` relative to langgraph.json, imported from its file as langgraph-api does."""
    file, _, attr = reference.rpartition(":")
    path = (LANGGRAPH_JSON.parent / file).resolve()
    assert path.is_file(), f"{reference} names a missing file"
    name = "studio_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, attr)


def _compiled(value: Any, configurable: dict[str, Any] | None = None) -> Any:
    graph = value({"configurable": configurable or {}}) if callable(value) else value
    return graph.compile() if isinstance(graph, StateGraph) else graph


def test_langgraph_json_lists_every_example_graph_and_the_store() -> None:
    spec = _spec()
    assert spec["dependencies"] == ["."]
    assert set(_graph_paths()) == set(EXPECTED_NODES)
    assert spec["store"] == {"path": "./graphs/store.py:generate_store"}
    for name, reference in _graph_paths().items():
        assert reference == f"./graphs/{name}.py:make_graph"


def test_langgraph_json_passes_the_cli_validator() -> None:
    from langgraph_cli import config  # the validator of `langgraph dev` / `langgraph build`, offline

    validated = config.validate_config_file(LANGGRAPH_JSON)
    assert set(validated["graphs"]) == set(EXPECTED_NODES)
    assert config.get_unknown_keys(_spec()) == []


@pytest.mark.parametrize("name", sorted(EXPECTED_NODES))
def test_graph_factory_compiles_with_the_expected_nodes(studio_config: Path, name: str) -> None:
    graph = _compiled(_load(_graph_paths()[name]))
    assert set(graph.get_graph().nodes) == EXPECTED_NODES[name]


def test_factories_build_the_configured_team_without_io(studio_config: Path) -> None:
    from graphs.team import open_runtime

    _compiled(_load(_graph_paths()["build_memory"]))
    runtime = open_runtime()
    assert runtime.config.source == studio_config.resolve()
    assert runtime.endpoint is None  # no local model server was started or looked up
    assert sorted(runtime.agents) == ["big", "small"]
    assert all(isinstance(a.model, ChatOpenAI) for a in runtime.agents.values())
    assert runtime.agents["small"].model_id == "small-1b"
    assert open_runtime() is runtime  # one runtime per process, not one per request
    assert runtime._store is None  # the graphs never open the configured store: the server brings its own


def test_graph_factories_read_assistant_settings(studio_config: Path) -> None:
    build = _load(_graph_paths()["build_memory"])
    assert set(_compiled(build, {"method": "self", "source_agent": "small"}).get_graph().nodes) == set(
        EXPECTED_NODES["build_memory"]
    )
    with pytest.raises(ConfigurationError, match="source_agent"):
        _compiled(build, {"method": "self"})
    react = _load(_graph_paths()["react_with_memory"])
    with pytest.raises(ConfigurationError, match="no agent named 'nobody'"):
        _compiled(react, {"agent": "nobody"})
    with pytest.raises(ConfigurationError, match="domain 'poetry'"):
        _compiled(react, {"domain": "poetry"})


def test_missing_configuration_names_the_variable(studio_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCOLLAB_CONFIG", str(studio_config.with_name("absent.toml")))
    with pytest.raises(ConfigurationError, match=r"absent\.toml"):
        _compiled(_load(_graph_paths()["solve_with_memory"]))


def test_default_configuration_is_the_local_team(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMCOLLAB_CONFIG", raising=False)
    monkeypatch.syspath_prepend(str(REPO))
    from graphs.team import config_path

    assert config_path() == REPO / "configs" / "local-team.toml"
    assert load_config(config_path()).local_aliases  # the default team runs on the local llama.cpp server
    monkeypatch.setenv("MEMCOLLAB_CONFIG", "configs/hosted.toml")
    assert config_path() == REPO / "configs" / "hosted.toml"


def test_store_factory_opens_the_configured_chroma_directory(studio_config: Path) -> None:
    generate_store = _load(_spec()["store"]["path"])

    async def roundtrip() -> None:
        async with generate_store() as store:
            assert isinstance(store, ChromaStore)
            await store.aput(("studio",), "k", {"v": 1})
        async with generate_store() as reopened:  # a new server process sees what the last one wrote
            item = await reopened.aget(("studio",), "k")
            assert item is not None
            assert item.value == {"v": 1}

    asyncio.run(roundtrip())
    assert (studio_config.parent / "chroma").is_dir()


# --- the example graphs end to end on the offline fakes ---------------------------------------------------


@pytest.fixture
def fake_runtime(studio_config: Path) -> Iterator[Runtime]:
    from graphs.offline import fake_models

    config = load_config(studio_config)
    with Runtime(config, models=fake_models(config), store=InMemoryStore()) as runtime:
        yield runtime


def _run(graph: Any, value: dict[str, Any], mode: str) -> Any:
    return graph.invoke(value) if mode == "sync" else asyncio.run(graph.ainvoke(value))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_build_then_solve_then_react_on_fakes(fake_runtime: Runtime, mode: str) -> None:
    from graphs import build_memory, react_with_memory, solve_with_memory

    train = next(t for t in demo_tasks("train") if t.id == "demo/math/jacket-discount-tax")
    heldout = next(t for t in demo_tasks("heldout") if t.id == "demo/math/town-population")
    store = fake_runtime.store

    built = _run(build_memory.build_graph(fake_runtime).compile(store=store), {"task": train}, mode)
    assert sorted((t.agent.name, t.correct) for t in built["trajectories"]) == [("big", True), ("small", False)]
    (stored,) = MemoryBank(store, name="studio-test").list_constraints()
    assert str(stored.category) == "math/prealgebra/percentages"
    assert [a.name for a in stored.provenance.preferred_agents] == ["big"]

    solve = solve_with_memory.build_graph(fake_runtime).compile(store=store)
    solved = _run(solve, {"task": heldout, "agent": "small"}, mode)
    assert [h.constraint.id for h in solved["hits"]] == [stored.id]
    assert solved["verdict"].correct  # the fake weaker agent is right exactly when constraints are in its prompt
    assert MemoryBank(store, name="studio-test").list_constraints()[0].utility["small-1b"].successes == 1

    seen: list[str] = []

    def reply(messages: list[Any]) -> str:
        seen.extend(m.text for m in messages if isinstance(m, SystemMessage))
        return "The population is 12960."

    model = FunctionChatModel(reply)
    with Runtime(fake_runtime.config, models={"big": model, "small": model}, store=store) as runtime:
        react = react_with_memory.build_agent(runtime, agent="small", store=store)
        chat = _run(react, {"messages": [("user", heldout.question)]}, mode)
    assert chat["messages"][-1].content == "The population is 12960."
    assert len(seen) == 1
    assert stored.text in seen[0]


def test_python_tool_runs_in_the_sandbox(studio_config: Path) -> None:
    from graphs.react_with_memory import python_tool

    tool = python_tool()
    assert tool.invoke({"code": "print(6 * 7)"}) == "42\n"
    assert asyncio.run(tool.ainvoke({"code": "print(6 * 7)"})) == "42\n"
    failed = tool.invoke({"code": "raise SystemExit(3)"})
    assert "3" in failed


def test_fake_models_cover_every_demo_subcategory(studio_config: Path) -> None:
    from graphs.offline import RULES

    demo = {t.category.subcategory for t in demo_tasks("train") if t.category is not None}
    assert demo <= set(RULES)
