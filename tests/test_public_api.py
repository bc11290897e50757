"""The public surface is deliberate: a sorted ``__all__`` whose names all resolve, and a typed package."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import memcollab_langgraph

PACKAGES = [
    name
    for _, name, is_pkg in pkgutil.walk_packages(memcollab_langgraph.__path__, "memcollab_langgraph.")
    if not name.rsplit(".", 1)[-1].startswith("_")
]


def test_top_level_all_is_sorted_and_complete() -> None:
    names = memcollab_langgraph.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(memcollab_langgraph, name) is not None, name


@pytest.mark.parametrize("module_name", PACKAGES)
def test_every_module_declares_its_public_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"


def test_core_names_are_exported_at_the_top() -> None:
    for name in ("ChromaStore", "MemoryBank", "Constraint", "Task", "Trajectory", "StoreError"):
        assert name in memcollab_langgraph.__all__, name


def test_package_is_typed() -> None:
    assert (Path(memcollab_langgraph.__file__).parent / "py.typed").exists()
