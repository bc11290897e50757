"""Configuration files: the shipped examples parse, and every mistake is named with its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from memcollab_langgraph.config import load_config, parse_config
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.runtime import Runtime, open_store, open_taxonomy
from memcollab_langgraph.store import ChromaStore
from memcollab_langgraph.testing import ScriptedChatModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
REMOTE = {"name": "a", "base_url": "http://127.0.0.1:9/v1"}


@pytest.mark.parametrize(
    "path",
    sorted(p for p in CONFIGS.glob("*.toml") if not p.name.startswith("eval-")),  # eval-*: test_evaluation_plan
    ids=lambda p: p.name,
)
def test_shipped_configs_parse(path: Path) -> None:
    config = load_config(path)
    assert config.agents
    assert config.distiller_name in {a.name for a in config.agents}
    assert open_taxonomy(config).domains


def test_local_team_config_is_a_heterogeneous_team() -> None:
    config = load_config(CONFIGS / "local-team.toml")
    assert config.local is not None
    assert set(config.local_aliases) == {"qwen-1_5b", "qwen-0_5b"}
    assert config.distiller_name == "qwen-1.5b"
    assert config.classifier_name == "qwen-0.5b"
    assert config.resolve(config.memory.store) == (CONFIGS / "../.memcollab/chroma")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, r"agents: required key is missing"),
        ({"agents": [{"name": "a"}]}, r"agents\.0\.base_url: required key is missing"),
        ({"agents": [{**REMOTE, "temprature": 0.2}]}, r"agents\.0\.temprature: unknown key"),
        ({"agents": [{**REMOTE, "base_url": "127.0.0.1:8080"}]}, r"neither 'local:<alias>' nor an http"),
        ({"agents": [REMOTE, REMOTE]}, r"agent names must be unique; repeated: \['a'\]"),
        ({"agents": [REMOTE], "distiller": {"agent": "b"}}, r"\[distiller\] agent 'b' is not one of"),
        ({"agents": [{**REMOTE, "base_url": "local:x"}]}, r"no alias 'x'.*add a \[local\] table"),
        (
            {"agents": [{**REMOTE, "base_url": "local:x"}], "local": {"models": {"y": "smollm2-135m"}}},
            r"no alias 'x': use one of \['y'\]",
        ),
        ({"agents": [{**REMOTE, "temperature": 5}]}, r"agents\.0\.temperature: Input should be less .* \(got 5\)"),
        ({"agents": [REMOTE], "memory": {"k": 0}}, r"memory\.k: Input should be greater than 0 \(got 0\)"),
        ({"agents": [REMOTE], "memory": {"k": "three"}}, r"memory\.k: Input should be a valid int.*\(got 'three'\)"),
    ],
)
def test_invalid_configs_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_config(data)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"does not exist; pass --config"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[agents]\nname = 1\n")
    with pytest.raises(ConfigurationError, match=r"bad.toml is not valid TOML"):
        load_config(bad)


def test_store_choices(tmp_path: Path) -> None:
    on_disk = open_store(parse_config({"agents": [REMOTE], "memory": {"store": str(tmp_path / "db")}}))
    assert isinstance(on_disk, ChromaStore)
    on_disk.put(("a",), "k", {"v": 1})
    assert (tmp_path / "db").exists()
    server = open_store(parse_config({"agents": [REMOTE], "memory": {"store": "http://127.0.0.1:8000"}}))
    assert isinstance(server, ChromaStore)  # connects on first use only


def test_unknown_taxonomy_file_is_named(tmp_path: Path) -> None:
    config = parse_config({"agents": [REMOTE], "memory": {"taxonomy": "mine.toml"}})
    with pytest.raises(ConfigurationError, match=r"taxonomy 'mine.toml' is neither a built-in"):
        open_taxonomy(config)


def test_runtime_builds_agents_lazily_and_reads_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(
        {
            "agents": [
                {**REMOTE, "family": "gpt", "strength": 2, "api_key_env": "MEMCOLLAB_TEST_KEY"},
                {"name": "b", "base_url": "local:s", "family": "smollm"},
            ],
            "local": {"models": {"s": "smollm2-135m"}},
            "memory": {"store": ":memory:"},
        }
    )
    monkeypatch.delenv("MEMCOLLAB_TEST_KEY", raising=False)
    fake = ScriptedChatModel([], model_name="s")
    with Runtime(config, models={"b": fake}) as rt:
        assert rt.endpoint is None  # nothing started before an agent is asked for
        with pytest.raises(ConfigurationError, match=r"\$MEMCOLLAB_TEST_KEY, which is not set"):
            _ = rt.agents
        monkeypatch.setenv("MEMCOLLAB_TEST_KEY", "sk-test")
        agents = rt.agents
        assert agents["b"].model is fake
        assert rt.endpoint is None, "no local server for an agent whose model was given"
        assert rt.distiller.name == "a"
        assert agents["a"].ref.family == "gpt"
        assert getattr(agents["a"].model, "model_name", None) == "a"


class _FakeServer:
    """Stands in for LocalServer: records what it serves and whether it runs; a port per instance."""

    started: ClassVar[list[_FakeServer]] = []

    def __init__(self, models: dict[str, str], **kwargs: Any) -> None:
        self.aliases = tuple(models)
        self.model_paths: dict[str, Path] = {}
        self.base_url = f"http://127.0.0.1:{41000 + len(_FakeServer.started)}/v1"
        self.log_path = Path("server.log")
        self.kwargs = kwargs
        self.running = False
        _FakeServer.started.append(self)

    def __enter__(self) -> _FakeServer:
        self.running = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False


def _team(servers: str) -> dict[str, Any]:
    return {
        "agents": [
            {"name": "weak", "base_url": "local:small"},
            {"name": "strong", "base_url": "local:big"},
            {"name": "same-model", "base_url": "local:small", "temperature": 0.7},
        ],
        "local": {"models": {"small": "qwen2.5-coder-0.5b", "big": "qwen2.5-coder-1.5b"}, "servers": servers},
        "memory": {"store": ":memory:"},
    }


@pytest.mark.parametrize("servers", ["shared", "per_model"])
def test_local_agents_get_one_server_or_one_per_model(monkeypatch: pytest.MonkeyPatch, servers: str) -> None:
    import memcollab_langgraph.local as local

    monkeypatch.setattr(_FakeServer, "started", [])
    monkeypatch.setattr(local, "LocalServer", _FakeServer)
    monkeypatch.setattr(local, "list_detached", list)
    with Runtime(parse_config(_team(servers))) as rt:
        assert rt.endpoint is None
        urls = {name: getattr(agent.model, "openai_api_base", None) for name, agent in rt.agents.items()}
        started = list(_FakeServer.started)
        assert all(server.running for server in started)
        assert rt.endpoint is started[0]
    assert not any(server.running for server in started)  # leaving the runtime stops every server
    if servers == "shared":
        assert [s.aliases for s in started] == [("small", "big")]
        assert len(set(urls.values())) == 1
    else:
        assert [s.aliases for s in started] == [("small",), ("big",)]
        assert urls["weak"] == urls["same-model"] == started[0].base_url
        assert urls["strong"] == started[1].base_url
    assert {rt.endpoints[alias].base_url for alias in ("small", "big")} == set(urls.values())


def test_no_server_for_a_model_that_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    import memcollab_langgraph.local as local

    monkeypatch.setattr(_FakeServer, "started", [])
    monkeypatch.setattr(local, "LocalServer", _FakeServer)
    monkeypatch.setattr(local, "list_detached", list)
    given = ScriptedChatModel([], model_name="big")
    with Runtime(parse_config(_team("per_model")), models={"strong": given}) as rt:
        assert rt.agents["strong"].model is given
        assert [s.aliases for s in _FakeServer.started] == [("small",)]
        assert set(rt.endpoints) == {"small"}


def test_per_model_servers_reuse_a_detached_server_of_one_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import memcollab_langgraph.local as local

    detached = _FakeServer({"big": "qwen2.5-coder-1.5b"})
    detached.name = "kept"  # type: ignore[attr-defined]
    monkeypatch.setattr(_FakeServer, "started", [])
    monkeypatch.setattr(local, "LocalServer", _FakeServer)
    monkeypatch.setattr(local, "list_detached", lambda: [detached])
    with Runtime(parse_config(_team("per_model"))) as rt:
        assert rt.agents["strong"].model.openai_api_base == detached.base_url  # type: ignore[attr-defined]
        assert rt.endpoints["big"] is detached
        assert [s.aliases for s in _FakeServer.started] == [("small",)]
        assert any("using the running local server 'kept'" in note for note in rt.notes)


def test_one_port_cannot_serve_one_server_per_model() -> None:
    team = _team("per_model")
    team["local"]["port"] = 8080
    with pytest.raises(ConfigurationError, match=r"port = 8080 cannot be used by one server per model \(2 models\)"):
        parse_config(team)
    team["local"]["servers"] = "shared"
    assert parse_config(team).local is not None
    with pytest.raises(ConfigurationError, match="servers"):
        parse_config({**_team("shared"), "local": {"models": {"small": "m"}, "servers": "per-model"}})


def test_distiller_labels_default_to_the_tasks_category_and_are_checked() -> None:
    team = {"agents": [REMOTE], "memory": {"store": ":memory:"}}
    assert parse_config(team).distiller_labels == "task"
    assert parse_config({**team, "distiller": {"agent": "a", "labels": "distiller"}}).distiller_labels == "distiller"
    with pytest.raises(ConfigurationError, match=r"distiller\.labels.*'task' or 'distiller'"):
        parse_config({**team, "distiller": {"agent": "a", "labels": "model"}})


def _questions(path: Path, n: int) -> Path:
    question = "A tank fills {} litres per minute. How long to fill it?"
    lines = [json.dumps({"question": question.format(i), "answer": f"#### {i}"}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_story_check_reads_its_reference_from_the_configuration_or_the_tasks_built(tmp_path: Path) -> None:
    team = {"agents": [REMOTE], "memory": {"store": ":memory:"}}
    built = _questions(tmp_path / "train.jsonl", 150)
    check, note = parse_config(team).story_check(built)  # default: on, the whole file is the reference
    assert check is not None
    assert check.reference_size == 150
    assert "150 questions of train.jsonl" in note
    assert parse_config(team).story_check(_questions(tmp_path / "few.jsonl", 20))[0] is None
    assert parse_config(team).story_check()[0] is None  # nothing to read rare words from
    # A configured reference (relative to the file) replaces the tasks built; no agent needs naming.
    _questions(tmp_path / "ref.jsonl", 120)
    distiller = {"story_reference": "ref.jsonl", "max_story_words": 2}
    configured = parse_config({**team, "distiller": distiller}, source=tmp_path / "team.toml")
    check, _ = configured.story_check(built)
    assert check is not None
    assert (check.reference_size, check.max_story_words) == (120, 2)
    assert configured.distiller_name == "a"
    assert parse_config({**team, "distiller": {"story_check": False}}).story_check(built) == (
        None,
        "story check off ([distiller] story_check = false)",
    )


def test_a_required_story_check_without_a_usable_reference_is_an_error(tmp_path: Path) -> None:
    required = parse_config({"agents": [REMOTE], "memory": {"store": ":memory:"}, "distiller": {"story_check": True}})
    with pytest.raises(ConfigurationError, match=r"story_check = true needs a reference.*story_reference"):
        required.story_check()
    with pytest.raises(ConfigurationError, match=r"reference few\.jsonl.*at least 100 task questions.*got 20"):
        required.story_check(_questions(tmp_path / "few.jsonl", 20))
    with pytest.raises(ConfigurationError, match="max_story_words"):
        parse_config({"agents": [REMOTE], "distiller": {"max_story_words": -1}})
