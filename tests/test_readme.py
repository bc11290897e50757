"""The README's Python example runs as written (against a store in a temporary directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no python example"
    code = blocks[0].replace('".memcollab/chroma"', repr(str(tmp_path / "chroma")))
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "exact" in out
    assert "When a word problem gives a rate and a time" in out
