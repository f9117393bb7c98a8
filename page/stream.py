"""Answers that play as they arrive: which browser tab may receive which turn's audio.

The page (script thread) issues each session a token; the tab's player presents it once on the
stream socket (page/stream_route.py, on Streamlit's event loop), which binds that socket to the
session. A turn's audio chunks then cross from the script thread to that socket only, through
`loop.call_soon_threadsafe` and an asyncio queue: nothing here blocks the event loop, and one
session's audio can never reach another session's socket.

Stopping an answer: the tab sends "stop" (record pressed, a question typed, "Stop speaking");
the turn's `AnswerStream.cancel` (a threading.Event) is set, its chunks are no longer sent, and
the engine, which receives it as `on_event.cancel`, may stop generating.

No Streamlit import: tests build a hub directly.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TOKEN_TTL_S = 120.0  # a token not presented within this time is refused
PLAYED_WAIT_S = 1.0  # at the end of a turn, how long to wait for the tab to say it played
END = object()  # tells a socket's writer to close


@dataclass
class _Token:
    session_id: str
    identity: str | None  # the signed-in person it was issued to (None without sign-in)
    expires: float


class Channel:
    """One tab's stream socket: a queue drained by the socket's writer on the event loop."""

    def __init__(self, session_id: str, loop: asyncio.AbstractEventLoop):
        self.session_id = session_id
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = threading.Event()

    def post(self, item: Any) -> bool:
        """Queue a message (bytes: audio; dict: JSON) from any thread; False once closed."""
        if self.closed.is_set():
            return False
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is stopping
            self.closed.set()
            return False
        return True

    def close(self) -> None:
        self.post(END)
        self.closed.set()


class AnswerStream:
    """One turn's audio on its way to the tab that asked. Made by the page before the turn
    starts; `send` is called from the script thread with each PCM16 chunk."""

    def __init__(self, hub: StreamHub, session_id: str | None, turn: int):
        self.hub = hub
        self.session_id = session_id
        self.turn = turn
        self.cancel = threading.Event()  # set when the tab asked to stop this answer
        self.played = threading.Event()  # set when the tab said it is playing this answer
        self.sent = 0  # chunks delivered to a socket
        self._channel: Channel | None = None
        self._backlog: list[bytes] = []  # chunks that came before the tab's socket did
        self._verdict: bool | None = None

    def send(self, pcm: bytes) -> None:
        if self.cancel.is_set() or not pcm:
            return
        channel = self.hub.channel(self.session_id)
        if channel is not self._channel:  # first socket, or the tab reconnected
            self._channel = channel
            if channel is not None:
                channel.post({"type": "start", "turn": self.turn})
                for earlier in self._backlog:  # so the answer starts at its beginning
                    channel.post(earlier)
                    self.sent += 1
        self._backlog.append(pcm)
        if channel is not None and channel.post(pcm):
            self.sent += 1

    def close(self) -> None:
        """The turn is over (answered, failed or interrupted): the tab plays out what it has."""
        if self._channel is not None:
            self._channel.post({"type": "end", "turn": self.turn})
        self.hub.forget(self)

    def played_in_browser(self) -> bool:
        """Whether the tab played this answer as it arrived (else the page plays the whole
        answer, as before streaming). Waits briefly for the tab's word on a short answer."""
        if self._verdict is None:
            if self.sent == 0 or self.cancel.is_set():
                self._verdict = self.cancel.is_set()  # stopped: not to be played again either
            else:
                self._verdict = self.played.wait(PLAYED_WAIT_S)
        return self._verdict


class StreamHub:
    """Tokens, sockets and running turns of every session of this server process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.served = False  # set when the launcher serves the stream route (else: fallback)
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}  # issued, not yet presented
        self._issued: dict[str, str] = {}  # session -> the token its page last handed out
        self._channels: dict[str, Channel] = {}  # session -> its tab's socket
        self._turns: dict[str, AnswerStream] = {}  # session -> the turn being answered
        self._numbers = itertools.count(1)

    # --- the page (script thread) ---

    def token_for(self, session_id: str, identity: str | None) -> str:
        """The token this session's player connects with. The same one on every rerun while it
        is valid or its socket is open (so the player is not redrawn); a new one otherwise."""
        with self._lock:
            self._purge()
            current = self._issued.get(session_id)
            if current is not None and (current in self._tokens or session_id in self._channels):
                return current
            token = secrets.token_urlsafe(32)
            self._tokens[token] = _Token(session_id, identity, self.clock() + TOKEN_TTL_S)
            self._issued[session_id] = token
            return token

    def begin(self, session_id: str | None) -> AnswerStream:
        """A turn starts in this session: the stream its audio goes to."""
        stream = AnswerStream(self, session_id, next(self._numbers))
        if session_id is not None:
            with self._lock:
                self._turns[session_id] = stream
        return stream

    def forget(self, stream: AnswerStream) -> None:
        with self._lock:
            if self._turns.get(stream.session_id) is stream:
                del self._turns[stream.session_id]

    def channel(self, session_id: str | None) -> Channel | None:
        with self._lock:
            return self._channels.get(session_id) if session_id is not None else None

    # --- the socket (event loop) ---

    def redeem(
        self, token: Any, identity: str | None, loop: asyncio.AbstractEventLoop
    ) -> Channel | None:
        """Bind a socket to the session its token was issued to; None when the token is
        unknown, spent, expired or was issued to someone else. A token works once."""
        if not isinstance(token, str):
            return None
        with self._lock:
            issued = self._tokens.pop(token, None)
            if issued is None or issued.expires < self.clock():
                return None
            if not hmac.compare_digest(
                (issued.identity or "").encode(), (identity or "").encode()
            ):
                return None
            channel = Channel(issued.session_id, loop)
            previous = self._channels.get(issued.session_id)
            self._channels[issued.session_id] = channel
        if previous is not None:  # the same tab reconnected: the old socket is closed
            previous.close()
        return channel

    def detach(self, channel: Channel) -> None:
        channel.closed.set()
        with self._lock:
            if self._channels.get(channel.session_id) is channel:
                del self._channels[channel.session_id]

    def heard_from(self, channel: Channel, message: Any) -> None:
        """A message from the tab: {"type": "stop"|"played", "turn": n}, about its own session's
        current turn only (a late "stop" for an earlier answer stops nothing)."""
        if not isinstance(message, dict):
            return
        with self._lock:
            stream = self._turns.get(channel.session_id)
        if stream is None or message.get("turn") != stream.turn:
            return
        if message.get("type") == "stop":
            stream.cancel.set()
        elif message.get("type") == "played":
            stream.played.set()

    def _purge(self) -> None:
        now = self.clock()
        for token in [t for t, issued in self._tokens.items() if issued.expires < now]:
            del self._tokens[token]
        for session_id, token in list(self._issued.items()):  # sessions long gone
            if token not in self._tokens and session_id not in self._channels:
                del self._issued[session_id]


HUB = StreamHub()  # one per server process, shared by the page and the route
