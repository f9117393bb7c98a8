"""Periodic: cached values refreshed in the background, never on the caller's time."""

from __future__ import annotations

import threading

from page.periodic import Periodic


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def settle(feed: Periodic) -> None:
    """Wait for a refresh in flight to finish."""
    running = feed._running
    if running is not None:
        assert running.wait(5)


def test_first_get_waits_for_the_first_value_then_serves_it_from_memory():
    calls = []
    feed = Periodic(lambda: calls.append(1) or len(calls), ttl=60, clock=Clock())
    assert feed.get(wait=5) == 1
    settle(feed)
    assert [feed.get() for _ in range(5)] == [1] * 5
    assert calls == [1]


def test_a_stale_value_is_served_while_it_refreshes_in_the_background():
    clock, release, calls = Clock(), threading.Event(), []

    def compute():
        calls.append(1)
        if len(calls) > 1:
            release.wait(5)
        return len(calls)

    feed = Periodic(compute, ttl=60, clock=clock)
    assert feed.get(wait=5) == 1
    settle(feed)
    clock.now += 61
    assert feed.get(wait=5) == 1, "the old value, at once: the refresh has not finished"
    assert feed.refreshing
    release.set()
    settle(feed)
    assert feed.get() == 2


def test_a_failure_keeps_the_last_value_and_retries_later():
    clock, outcomes = (
        Clock(),
        iter([["maria"], RuntimeError("database is down"), ["maria", "omar"]]),
    )

    def compute():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    feed = Periodic(compute, ttl=60, retry_after=10, clock=clock)
    assert feed.get(wait=5) == ["maria"]
    settle(feed)
    clock.now += 61
    feed.get()
    settle(feed)
    assert feed.get() == ["maria"] and feed.error == "database is down"
    settle(feed)
    clock.now += 5
    assert feed.get() == ["maria"] and not feed.refreshing, "no retry before retry_after"
    clock.now += 6
    feed.get()
    settle(feed)
    assert feed.get() == ["maria", "omar"] and feed.error is None


def test_nothing_yet_is_none_and_refresh_forces_a_new_check():
    clock, gate = Clock(), threading.Event()
    values = iter([1, 2])
    feed = Periodic(lambda: gate.wait(5) and next(values), ttl=600, clock=clock)
    assert feed.get(wait=0.01) is None
    gate.set()
    settle(feed)
    assert feed.get() == 1
    feed.refresh(wait=5)
    assert feed.get() == 2, "refresh(wait=...) returns with the new value"
