"""Errors raised by memcollab-langgraph.

The tree is deliberately small::

    MemCollabError                      base of everything raised on purpose by this library
    ├── ConfigurationError (ValueError) misuse: a bad argument, namespace, filter, taxonomy, config
    ├── StoreError                      the storage backend failed; the backend's exception is chained
    ├── ModelServerDown                 calls to a model server kept failing; the last error is chained
    └── UnexpectedModelOutputError      a model's reply could not be used; keeps the raw text

Messages name the offending value and say how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "MemCollabError",
    "ModelServerDown",
    "StoreError",
    "UnexpectedModelOutputError",
]


class MemCollabError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigurationError(MemCollabError, ValueError):
    """The library was called with an invalid value (argument, namespace, filter, config field)."""


class StoreError(MemCollabError):
    """The storage backend failed. The backend's exception is available as ``__cause__``."""


class ModelServerDown(MemCollabError):
    """A model server stopped answering: calls kept failing with connection or server errors after their
    retries (an evaluation stops on it instead of failing every remaining item). The last error is
    available as ``__cause__``."""


class UnexpectedModelOutputError(MemCollabError):
    """A model's reply could not be turned into the expected structure.

    Attributes:
        raw: The text the model returned, unchanged.
        reason: Why the text was rejected.
    """

    def __init__(self, reason: str, *, raw: str) -> None:
        preview = raw if len(raw) <= 200 else raw[:200] + "..."
        super().__init__(f"{reason} (model output: {preview!r})")
        self.raw = raw
        self.reason = reason
