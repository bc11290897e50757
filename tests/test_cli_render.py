"""How the command line sizes its tables: a terminal's own width, a pipe's fixed one."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from memcollab_langgraph.cli import render


class _Stdout(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "columns", "width"),
    [(False, None, render.PIPED_WIDTH), (True, None, None), (False, "100", None)],
    ids=["pipe", "terminal", "pipe-with-COLUMNS"],
)
def test_piped_output_gets_a_width_and_terminals_keep_theirs(
    monkeypatch: pytest.MonkeyPatch, tty: bool, columns: str | None, width: int | None
) -> None:
    monkeypatch.setattr("sys.stdout", _Stdout(tty))
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert render._stdout_width() == width


def test_a_wide_row_stays_on_one_line_at_the_piped_width() -> None:
    out = io.StringIO()
    table = Table()
    for name in ("data set", "agent", "condition", "n", "accuracy % [95% CI]", "delta pts", "p (Holm)", "turns"):
        table.add_column(name, overflow="fold")
    table.add_row("all data sets", "qwen-1.5b", "naive_transfer", "100", "54.0 [44.0, 64.0]", "-5.0", "0.81", "1.15")
    Console(file=out, width=render.PIPED_WIDTH).print(table)
    assert any("naive_transfer" in line and "54.0 [44.0, 64.0]" in line for line in out.getvalue().splitlines())
