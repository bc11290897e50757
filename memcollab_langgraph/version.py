"""Which code produced a result: the installed version, and the git commit when run from a checkout."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["code_version"]


def code_version() -> str:
    """``"<version>"``, or ``"<version>+g<commit>[.dirty]"`` when the package is imported from a git checkout.

    Results record it (an evaluation can be resumed after the code changed: each item says which code
    produced it). ``.dirty`` means the checkout had uncommitted changes. The commit is read when this
    module is first imported, so a process that keeps running while the checkout moves on still reports
    the code it loaded.

    Example:
        >>> code_version().startswith("0.")
        True
    """
    return _AT_IMPORT


def _describe() -> str:
    try:
        version = metadata.version("memcollab-langgraph")
    except metadata.PackageNotFoundError:  # pragma: no cover - imported from a source tree, not installed
        version = "0+unknown"
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return version
    try:
        commit = _git(root, "rev-parse", "--short=12", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "memcollab_langgraph")
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'.dirty' if dirty else ''}"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


_AT_IMPORT = _describe()
