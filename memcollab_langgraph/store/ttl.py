"""A background TTL sweeper: a daemon thread that calls a sweep function until it is stopped."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

from memcollab_langgraph.errors import StoreError

__all__ = ["Sweeper"]

logger = logging.getLogger(__name__)


class Sweeper:
    """Runs ``sweep()`` every ``interval_minutes`` in a daemon thread; ``stop()`` ends it promptly.

    A failing sweep (:class:`StoreError`, e.g. the server is briefly unreachable) is logged and retried
    at the next interval; any other exception ends the thread and is set on the returned future.
    """

    def __init__(self, sweep: Callable[[], int], name: str) -> None:
        self._sweep, self._name = sweep, name
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._future: concurrent.futures.Future[None] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, interval_minutes: float) -> concurrent.futures.Future[None]:
        """Start the thread (or return the running one's future). Cancelling the future stops it."""
        if self.running and self._future is not None:
            return self._future
        self._stop.clear()
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def loop() -> None:
            try:
                while not self._stop.wait(interval_minutes * 60):
                    try:
                        swept = self._sweep()
                    except StoreError:
                        logger.exception("TTL sweep of %s failed; retrying next interval", self._name)
                        continue
                    if swept:
                        logger.info("swept %d expired items from %s", swept, self._name)
            except BaseException as e:  # hand any crash to whoever holds the future
                future.set_exception(e)
                raise
            if not future.cancelled():
                future.set_result(None)

        future.add_done_callback(lambda f: self._stop.set() if f.cancelled() else None)
        self._future = future
        self._thread = threading.Thread(target=loop, daemon=True, name=f"ttl-sweeper-{self._name}")
        self._thread.start()
        return future

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread; ``False`` if it is still running after ``timeout`` seconds."""
        if self._thread is None or not self._thread.is_alive():
            return True
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        self._thread = None
        return True
