"""A value recomputed at most every `ttl` seconds, in a background thread, so that a rerun never
waits for a database or a network check once there is a value to show."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Periodic(Generic[T]):
    """`get()` returns the latest value (None before the first one) and starts a refresh when it
    is older than `ttl` seconds; after a failure the next try waits `retry_after` seconds.
    The first call may wait a little (`wait`) so a fast check shows on the first page view."""

    def __init__(
        self,
        compute: Callable[[], T],
        ttl: float,
        *,
        retry_after: float | None = None,
        name: str = "refresh",
        clock: Callable[[], float] = time.monotonic,
    ):
        self._compute = compute
        self.ttl = ttl
        self.retry_after = ttl if retry_after is None else retry_after
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._error: str | None = None
        self._due = 0.0  # when the next refresh may start
        self._running: threading.Event | None = None  # set when the refresh in flight ends

    def get(self, wait: float = 0.0) -> T | None:
        with self._lock:
            if self._running is None and self._clock() >= self._due:
                self._start()
            running = self._running
        if running is not None and wait > 0 and self._value is None:
            running.wait(wait)
        return self._value

    @property
    def error(self) -> str | None:
        """Why the last refresh failed (its exception's message), or None."""
        return self._error

    @property
    def refreshing(self) -> bool:
        return self._running is not None

    def refresh(self, wait: float = 0.0) -> None:
        """Start a refresh now (unless one is running), e.g. for a "Check again" button, and
        wait up to `wait` seconds for it, so the page can show its result at once."""
        with self._lock:
            if self._running is None:
                self._start()
            running = self._running
        if running is not None and wait > 0:
            running.wait(wait)

    def _start(self) -> None:
        done = self._running = threading.Event()
        threading.Thread(target=self._run, args=(done,), name=self.name, daemon=True).start()

    def _run(self, done: threading.Event) -> None:
        try:
            value = self._compute()
        except Exception as exc:  # keep the last good value; say why in the log
            log.warning("%s failed: %s", self.name, exc, exc_info=True)
            with self._lock:
                self._error = str(exc) or type(exc).__name__
                self._due = self._clock() + self.retry_after
                self._running = None
        else:
            with self._lock:
                self._value, self._error = value, None
                self._due = self._clock() + self.ttl
                self._running = None
        done.set()
