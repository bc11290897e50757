"""Which failures of an evaluation item are recorded, which are retried, and when the run stops.

An item whose solve raises one of :data:`RECORDED_ERRORS` is recorded as failed and retried by the
next run; anything else stops the run (a bug or a misconfiguration). :func:`is_transient` decides
which errors a node retries at once, and :class:`FailureStreak` stops a run whose model server
stopped answering instead of marking every remaining item failed in seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import httpx
import openai
from langgraph.errors import GraphRecursionError

from memcollab_langgraph.errors import ModelServerDown, StoreError, UnexpectedModelOutputError

__all__ = ["RECORDED_ERRORS", "FailureStreak", "is_transient"]

RECORDED_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIError,
    httpx.HTTPError,
    ConnectionError,
    TimeoutError,
    GraphRecursionError,
    UnexpectedModelOutputError,
    StoreError,
)
"""Exceptions of one item's solve that are recorded as a failed item (and retried by the next run):
errors of the model server or the network, a model reply the graph could not use, the recursion
limit, a failing store. ``ConfigurationError`` and anything else stop the run: they are not about
one item."""


def is_transient(error: BaseException) -> bool:
    """Whether a node should be retried after ``error``: connection problems, timeouts, rate limits, 5xx.

    Used as ``RetryPolicy(retry_on=is_transient)``. A bad request (a prompt longer than the context)
    is not retried: it would fail the same way.
    """
    if isinstance(error, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)):
        return True
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500
    return isinstance(error, (ConnectionError, TimeoutError, httpx.TransportError))


class FailureStreak:
    """Counts items in a row that failed with a transient error (server down); raises at ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def record(self, output: Mapping[str, Any] | BaseException) -> None:
        with self._lock:
            if not (isinstance(output, BaseException) and is_transient(output)):
                self.count = 0
                return
            self.count += 1
            if self.count >= self.limit:
                raise ModelServerDown(
                    f"{self.count} items in a row failed with connection or server errors (the last: "
                    f"{type(output).__name__}: {output}), each after its retries: the model server stopped "
                    "answering. Check that it is up (a local server's log is in the run directory of the team, "
                    "e.g. ~/.cache/memcollab/run/logs) and run the same command again: failed items are retried "
                    "and finished ones kept"
                ) from output
