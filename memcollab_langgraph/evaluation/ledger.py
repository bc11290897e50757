"""``banks.json``, the ledger of a run's memory banks: which builds are complete, and with how many constraints.

A bank recorded complete is never built again, so every item of a run reads the same memory; a bank
whose store lost constraints since it was recorded is an error (:func:`check_intact`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langgraph.store.base import BaseStore

from memcollab_langgraph.errors import MemCollabError, StoreError
from memcollab_langgraph.evaluation.plan import BankPlan, CuratedBank
from memcollab_langgraph.memory import MemoryBank
from memcollab_langgraph.taxonomy import Taxonomy
from memcollab_langgraph.version import code_version

__all__ = [
    "BANKS_FILE",
    "Ledger",
    "aadd_curated",
    "abank_total",
    "add_curated",
    "bank_total",
    "check_intact",
    "completed_entry",
    "curated_entry",
]

BANKS_FILE = "banks.json"


class Ledger:
    """``banks.json``: the banks whose build is complete, with their size when completed."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / BANKS_FILE

    def read(self) -> dict[str, dict[str, Any]]:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as e:
            raise StoreError(
                f"{self.path}: not valid JSON ({e}); delete it, and the next run checks every bank's build again"
            ) from e
        return data

    def record(self, bank: str, entry: dict[str, Any]) -> None:
        data = {**self.read(), bank: entry}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)


def bank_total(store: BaseStore, taxonomy: Taxonomy, name: str) -> int:
    return MemoryBank(store, name=name, taxonomy=taxonomy).stats().total


async def abank_total(store: BaseStore, taxonomy: Taxonomy, name: str) -> int:
    return (await MemoryBank(store, name=name, taxonomy=taxonomy).astats()).total


def add_curated(store: BaseStore, taxonomy: Taxonomy, bank: CuratedBank) -> int:
    """Write the curated constraints into their bank (an interrupted import adds nothing twice); returns its size."""
    memory = MemoryBank(store, name=bank.name, taxonomy=taxonomy)
    memory.add_many(bank.constraints)
    return memory.stats().total


async def aadd_curated(store: BaseStore, taxonomy: Taxonomy, bank: CuratedBank) -> int:
    memory = MemoryBank(store, name=bank.name, taxonomy=taxonomy)
    await memory.aadd_many(bank.constraints)
    return (await memory.astats()).total


def curated_entry(bank: CuratedBank, total: int) -> dict[str, Any]:
    """The ledger entry of imported curated constraints (``constraints``: after merging duplicates)."""
    return {
        "complete": True,
        "constraints": total,
        "file": str(bank.path),
        "read": len(bank.constraints),
        "completed_at": datetime.now(UTC).isoformat(),
        "code_version": code_version(),
    }


def completed_entry(bank: BankPlan, failed: Mapping[str, str], total: int, tolerance: float) -> dict[str, Any]:
    """The ledger entry of a finished build, or an error when too many of its tasks failed."""
    attempted = len(bank.train.tasks) * len(bank.sources)
    if attempted and len(failed) / attempted > tolerance:
        shown = dict(list(failed.items())[:5])
        raise MemCollabError(
            f"bank {bank.name!r}: {len(failed)} of {attempted} training tasks failed to build (more than "
            f"build_failure_tolerance={tolerance}), e.g. {shown}; fix the cause (is the model server up?) and "
            "run again: finished tasks are kept and interrupted ones resume"
        )
    return {
        "complete": True,
        "constraints": total,
        "tasks": attempted,
        "failed": dict(failed),
        "completed_at": datetime.now(UTC).isoformat(),
        "code_version": code_version(),
    }


def check_intact(bank: str, entry: Mapping[str, Any], total: int, ledger: Ledger) -> None:
    if total < int(entry.get("constraints", 0)):
        raise StoreError(
            f"bank {bank!r} had {entry['constraints']} constraints when its build completed ({ledger.path}) but "
            f"the store now has {total}: this store does not keep the run's memory between runs (':memory:'?). "
            "Open the runtime with EvalConfig.team_for_run() (the run's own store), or use a new run id"
        )
