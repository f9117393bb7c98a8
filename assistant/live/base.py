"""What the live mode's parts agree on: the events a session gives its listener (the page's
relay or the command line) and the one shape of an upstream realtime connection.

Every upstream speaks OpenAI's GA Realtime event names here, in both directions: an adapter
for a service that names them otherwise (Azure AI Voice Live) translates at its edge, so the
session logic is written once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from assistant.models import Reply

LIVE_SAMPLE_RATE = 24_000  # PCM16 mono, both directions

LiveState = Literal["connecting", "listening", "hearing", "looking_up", "speaking", "closed"]
LiveEventKind = Literal[
    "state",  # text: a LiveState
    "heard_delta",  # text: more of the person's words, as transcribed so far
    "heard",  # text: the person's words for this turn, final
    "answer_delta",  # text: more of the answer's transcript
    "audio",  # audio: PCM16 mono 24 kHz of the answer
    "interrupted",  # the person spoke over the answer: stop playback now
    "answer_done",  # reply: the finished turn, as the conversation keeps it
    "error",  # text: one plain sentence for the person; the session may go on
    "closed",  # text: why the session ended (idle, too long, closed, upstream gone)
]


@dataclass(frozen=True)
class LiveEvent:
    kind: LiveEventKind
    text: str = ""
    audio: bytes = b""
    reply: Reply | None = None
    item_id: str | None = None  # the answer's conversation item (for what the tab played)


class LiveSession(Protocol):
    """One hands-free conversation. Async: the page's relay runs it on Streamlit's event loop
    (tools run in worker threads), the command line under asyncio.run."""

    async def send_audio(self, pcm16: bytes) -> None:
        """Microphone audio, PCM16 mono 24 kHz, in chunks of any size."""
        ...

    def events(self) -> AsyncIterator[LiveEvent]:
        """The session's events until it closes."""
        ...

    async def played(self, item_id: str, audio_end_ms: int) -> None:
        """How much of an answer the tab really played (the truncation point on barge-in)."""
        ...

    async def close(self) -> None:
        """End the session and its upstream connection (no orphan sessions billing)."""
        ...


class UpstreamClosed(Exception):
    """The upstream connection ended; `sentence` says so in one plain sentence."""

    def __init__(self, sentence: str, *, retryable: bool = True):
        super().__init__(sentence)
        self.sentence = sentence
        self.retryable = retryable


class Upstream(Protocol):
    """One realtime connection, in OpenAI GA event names both ways (dicts as on the wire)."""

    async def send(self, event: dict[str, Any]) -> None: ...

    async def recv(self) -> dict[str, Any]:
        """The next server event; raises UpstreamClosed when the connection ends."""
        ...

    async def close(self) -> None: ...
