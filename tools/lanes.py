"""Each backend gets its own lane: a few threads of its own and a circuit breaker.

All tools used to share one pool of threads, so a backend that hung (a search service that takes
the request and never answers) held every thread, and statistics and grievances waited behind
it, in every session. A lane runs only its own backend's calls. Once `trip_after` calls have
outlived their wait (still stuck, or finished late) the lane answers at once that the backend
is not answering, handing it nothing more; every `probe_every_s` it lets one call through, and
an answer in time closes the circuit again.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Lane:
    def __init__(
        self,
        service: str,
        timeout: float,
        workers: int = 4,
        trip_after: int = 3,
        probe_every_s: float = 30.0,
    ):
        self.service = service
        self.timeout = timeout
        self.trip_after = trip_after
        self.probe_every_s = probe_every_s
        slug = re.sub(r"[^a-z]+", "-", service.lower()).strip("-")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"tool-{slug}")
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._waiting: dict[int, float] = {}  # call -> when it was handed in (queued or running)
        self._late = 0  # calls in a row that finished after their wait had ended
        self._since = 0.0  # calls handed in before the last answer in time do not count
        self._open_until = 0.0  # 0: closed; else refuse until then, then let one probe through
        self._probe: int | None = None

    @property
    def refusal(self) -> str:
        return (
            f"{self.service[:1].upper()}{self.service[1:]} is not answering; try again in a minute."
        )

    def submit(self, work: Callable[[], T], refuse: Callable[[str], T]) -> Future[T]:
        """Run `work` on this lane's threads, or answer at once with `refuse(sentence)`."""
        now = time.monotonic()
        with self._lock:
            call = next(self._ids)
            admitted = self._may_pass(call, now)
            if admitted:
                self._waiting[call] = now
        if not admitted:
            refused: Future[T] = Future()
            refused.set_result(refuse(self.refusal))
            return refused
        return self._pool.submit(self._run, call, work, refuse)

    def _run(self, call: int, work: Callable[[], T], refuse: Callable[[str], T]) -> T:
        with self._lock:
            go = self._may_pass(call, time.monotonic())  # it may have opened while we queued
        if not go:
            self._finish(call, ran=False)
            return refuse(self.refusal)
        try:
            return work()
        finally:
            self._finish(call, ran=True)

    def _may_pass(self, call: int, now: float) -> bool:
        """Under the lock: may this call go to the backend now?"""
        stuck = sum(
            1 for t in self._waiting.values() if t >= self._since and now - t > self.timeout
        )
        if self._late + stuck < self.trip_after and not self._open_until:
            return True
        if not self._open_until:  # it trips now
            self._open_until = now + self.probe_every_s
        if self._probe == call:
            return True
        if now < self._open_until or self._probe is not None:
            return False
        self._probe, self._open_until = call, now + self.probe_every_s  # see whether it is back
        return True

    def _finish(self, call: int, ran: bool) -> None:
        now = time.monotonic()
        with self._lock:
            handed_in = self._waiting.pop(call, now)
            if self._probe == call:
                self._probe = None
            if not ran:
                return
            if now - handed_in > self.timeout:
                self._late += 1
            else:  # it answered in time: the backend is back
                self._late, self._open_until = 0, 0.0
                self._since = max(self._since, handed_in)


class Lanes:
    """One lane per backend, named by the service the tool says it uses."""

    def __init__(self, timeout: float, workers: int = 4):
        self.timeout = timeout
        self.workers = workers
        self._lanes: dict[str, Lane] = {}
        self._lock = threading.Lock()

    def __getitem__(self, service: str) -> Lane:
        with self._lock:
            if service not in self._lanes:
                self._lanes[service] = Lane(service, self.timeout, self.workers)
            return self._lanes[service]
