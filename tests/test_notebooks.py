"""The notebooks run top to bottom, offline, on the fake models (one kernel each, so xdist spreads them).

Each notebook is executed with nbclient in a fresh ``python3`` kernel, from ``notebooks/`` as Jupyter
would run it (jupyter_client starts that kernel with the interpreter running the tests, the venv's);
a cell that raises fails the test with the cell's traceback. The notebooks are committed without
outputs: the checks here are on the outputs of this run.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# What each notebook must show when it worked, so that a notebook that silently does nothing fails.
EXPECTED_OUTPUT = {
    "quickstart.ipynb": ["8 tasks built", "math/prealgebra/percentages", "answers 12960: correct"],
    "explore_memory.ipynb": ["constraints in bank 'local-team'", "preferred_agents", "image/png"],
    "read_evaluation.ipynb": ["results of", "memcollab", "image/png", "== memcollab /", "retrieved ("],
}


def _outputs(notebook: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            for mime, data in output.get("data", {}).items():
                parts.append(mime)
                parts.append(data if isinstance(data, str) else "")
    return "\n".join(parts)


def test_every_notebook_is_checked() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED_OUTPUT)


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT))
def test_notebook_is_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert all(
        not cell.get("outputs") and cell.get("execution_count") is None
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT))
def test_notebook_runs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    text = _outputs(notebook)
    for expected in EXPECTED_OUTPUT[name]:
        assert expected in text, f"{name}: {expected!r} not in the outputs"
