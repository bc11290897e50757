"""JSON Lines export and import of constraints.

An export writes one store record (``{"kind", "v", "content"}``) per line. An import also takes a bare
constraint object per line, the form a person writes by hand::

    {"when": "a word problem gives a total and parts", "enforce": "...", "avoid": "...",
     "category": "math/prealgebra/arithmetic_word_problems"}
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from memcollab_langgraph._validation import location, refused_value
from memcollab_langgraph.errors import ConfigurationError
from memcollab_langgraph.schema import Constraint, from_record, to_record

__all__ = ["Source", "Target", "read", "write"]

Target = str | os.PathLike[str] | IO[str]
"""A path to create or overwrite, or a text file opened for writing."""
Source = str | os.PathLike[str] | IO[str]
"""A path, or a text file opened for reading."""


def dumps(constraints: Sequence[Constraint]) -> str:
    """The JSON Lines text for ``constraints`` (keys sorted, so exports of equal banks are equal)."""
    return "".join(json.dumps(to_record(c), sort_keys=True, ensure_ascii=False) + "\n" for c in constraints)


def write(target: Target, constraints: Sequence[Constraint]) -> int:
    """Write ``constraints`` to ``target``; returns how many were written."""
    text = dumps(constraints)
    if isinstance(target, str | os.PathLike):
        Path(target).write_text(text, encoding="utf-8")
    else:
        target.write(text)
    return len(constraints)


def loads(text: str, *, origin: str = "<text>") -> list[Constraint]:
    """Parse JSON Lines text (blank lines ignored): store records, or bare constraint objects.

    Raises:
        ConfigurationError: Naming the origin and line number of the first bad record.
    """
    out: list[Constraint] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{origin}:{lineno}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigurationError(
                f"{where}: not valid JSON ({e.msg}); each line must be one record written by export_jsonl "
                "or one constraint object"
            ) from e
        try:
            if isinstance(value, dict) and "kind" not in value:
                constraint = Constraint.model_validate(value)
                # without an id, the same constraint gets the same id: importing a file twice is harmless
                out.append(
                    constraint if "id" in value else constraint.model_copy(update={"id": constraint.fingerprint})
                )
            else:
                out.append(from_record(value, Constraint))
        except ValidationError as e:
            err = e.errors()[0]
            raise ConfigurationError(
                f"{where}: invalid constraint at {location(err)!r}: {err['msg']}{refused_value(err)}"
            ) from None
        except ConfigurationError as e:
            raise ConfigurationError(f"{where}: {e}") from None
    return out


def read(source: Source) -> list[Constraint]:
    """Read constraints from a path or an open text file."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigurationError(f"cannot read constraints from {str(path)!r}: {e.strerror or e}") from e
        return loads(text, origin=str(path))
    return loads(source.read(), origin=getattr(source, "name", "<file>"))
