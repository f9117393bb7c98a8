"""Driving a live session in tests: speaking into it, and waiting for what it says back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from assistant.live.base import LiveEvent
from tests.live.realtime_double import silence, tone

CHUNK_MS = 20
WAIT_S = 20.0  # generous: a verdict never depends on the machine's speed


class Listener:
    """Collects a session's events as they come (start it inside the running loop)."""

    def __init__(self, session: Any):
        self.session = session
        self.events: list[LiveEvent] = []
        self._changed = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for event in self.session.events():
            self.events.append(event)
            self._changed.set()
        self._changed.set()

    def of(self, kind: str) -> list[LiveEvent]:
        return [e for e in self.events if e.kind == kind]

    def texts(self, kind: str) -> list[str]:
        return [e.text for e in self.of(kind)]

    async def until(self, ready: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        """Wait until `ready()` is truthy; its value."""

        async def poll() -> Any:
            while True:
                value = ready()
                if value:
                    return value
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(poll(), timeout)

    async def count(self, kind: str, n: int, timeout: float = WAIT_S) -> list[LiveEvent]:
        await self.until(lambda: len(self.of(kind)) >= n, timeout)
        return self.of(kind)

    async def closed(self, timeout: float = WAIT_S) -> None:
        await asyncio.wait_for(self._task, timeout)


async def speak(session: Any, speech_ms: int = 400, quiet_ms: int = 400) -> None:
    """A question as the microphone sends it: speech (a tone), then quiet, in 20 ms chunks."""
    for audio in (tone(speech_ms), silence(quiet_ms)):
        step = CHUNK_MS * 48  # bytes of 20 ms at 24 kHz, 16-bit
        for start in range(0, len(audio), step):
            await session.send_audio(audio[start : start + step])
            await asyncio.sleep(0)


async def settled(ready: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Wait until `ready()` (about the double, which runs in its own thread) is truthy."""

    async def poll() -> Any:
        while not (value := ready()):
            await asyncio.sleep(0.01)
        return value

    return await asyncio.wait_for(poll(), timeout)
