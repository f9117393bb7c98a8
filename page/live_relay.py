"""Live mode's relay: one browser tab's microphone to a LiveSession, and the session's events
back to that tab, over the same-origin socket `<baseUrlPath>/voicedesk/live`
(page/stream_route.py admits it).

The page (script thread) hands each Streamlit session a one-time token and keeps, for that
session, a `LiveTicket`: what a session needs (the conversation it continues, the customer,
the agent, the voice, how to get the engine), updated on every rerun. "Start live" in the tab
presents the token; the relay opens a session through ONE seam, `LiveDesk.opener` (by default
the engine's factory, imported lazily), and then:

  tab -> server   binary: PCM16 mono 24 kHz microphone frames -> `session.send_audio`
                  {"type": "played", "item_id", "ms"}           -> `session.played`
                  {"type": "end"}                                -> the session is closed
  server -> tab   {"type": "state"|"heard_delta"|"heard"|"answer_delta"|"error"|"closed", ...}
                  {"type": "audio", "item_id"} before an answer's first binary frame
                  binary: the answer's PCM16 audio, for the player
                  {"type": "interrupted", "item_id"}, {"type": "answer_done", "item_id"}

Everything runs on Streamlit's event loop and is awaited; the engine is built in a thread.
The session is closed whenever the socket ends (End live, the tab closed, the network gone),
and one session's events only ever reach the socket that opened it. No Streamlit import.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from assistant.history import Conversation
from assistant.live.base import LiveEvent, LiveSession, UpstreamClosed

log = logging.getLogger(__name__)

TOKEN_TTL_S = 600.0  # a live token not presented within this time is refused (the tab asks anew)
MAX_FRAME_BYTES = 64_000  # >1 s of PCM16 at 24 kHz in one frame is not a microphone
CLOSE_TIMEOUT_S = 5.0  # how long closing a session may take before the relay gives up on it
OPEN_FAILED = "Live mode could not start; the details are in the log. Try again."
BROKE = "Live mode stopped; the details are in the log. Try again."
_NO_ITEM = object()
TEXT_KINDS = ("state", "heard_delta", "heard", "answer_delta", "error", "closed")


@dataclass
class LiveTicket:
    """What a live session of this Streamlit session needs, as the page last saw it."""

    session_id: str
    identity: str | None  # the signed-in person (None without sign-in)
    conversation: Conversation
    customer: str | None
    agent: str | None
    voice: str | None
    engine: Callable[[], Any]  # the TurnEngine for the chosen provider and model (may raise)


Opener = Callable[[LiveTicket], Awaitable[LiveSession]]


async def open_with_factory(ticket: LiveTicket) -> LiveSession:
    """The default opener: the engine's live session for this ticket."""
    engine = await asyncio.to_thread(ticket.engine)  # building it may read files or settings
    from assistant.live.factory import open_live_session  # lands with the live engine

    return await open_live_session(
        engine, ticket.conversation, customer=ticket.customer, agent=ticket.agent,
        voice=ticket.voice,
    )  # fmt: skip


@dataclass
class _Issued:
    session_id: str
    identity: str | None
    expires: float


class LiveDesk:
    """Tickets, tokens and open live sockets of every Streamlit session of this process."""

    def __init__(self, opener: Opener | None = None, clock: Callable[[], float] = time.monotonic):
        self.opener: Opener = opener or open_with_factory
        self.clock = clock
        self.served = False  # set when the launcher serves the live route
        self._lock = threading.Lock()
        self._tickets: dict[str, LiveTicket] = {}  # session -> its latest ticket
        self._tokens: dict[str, _Issued] = {}
        self._issued: dict[str, str] = {}  # session -> the token its page last handed out
        self._relays: dict[str, Relay] = {}  # session -> its open live socket

    # --- the page (script thread) ---

    def offer(self, ticket: LiveTicket) -> str:
        """Keep this session's ticket; the token "Start live" presents (the same on every rerun
        while it is valid, so the component is not redrawn)."""
        with self._lock:
            self._purge()
            self._tickets[ticket.session_id] = ticket
            current = self._issued.get(ticket.session_id)
            issued = self._tokens.get(current) if current is not None else None
            if issued is not None and issued.expires - self.clock() > TOKEN_TTL_S / 4:
                return current
            token = secrets.token_urlsafe(32)
            self._tokens[token] = _Issued(
                ticket.session_id, ticket.identity, self.clock() + TOKEN_TTL_S
            )
            self._issued[ticket.session_id] = token
            return token

    def is_live(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._relays

    # --- the socket (event loop) ---

    def redeem(self, token: Any, identity: str | None) -> LiveTicket | None:
        """The ticket of the session this token was issued to; None when the token is unknown,
        spent, expired or was issued to someone else. A token works once."""
        if not isinstance(token, str):
            return None
        with self._lock:
            issued = self._tokens.pop(token, None)
            if issued is None or issued.expires < self.clock():
                return None
            if self._issued.get(issued.session_id) == token:
                del self._issued[issued.session_id]  # the next rerun hands out a new one
            if not hmac.compare_digest(
                (issued.identity or "").encode(), (identity or "").encode()
            ):
                return None
            return self._tickets.get(issued.session_id)

    async def serve(self, websocket: Any, ticket: LiveTicket) -> None:
        """Run one tab's live session over its accepted socket until either side ends it."""
        relay = Relay(websocket)
        with self._lock:
            previous = self._relays.get(ticket.session_id)
            self._relays[ticket.session_id] = relay
        if previous is not None:  # the same tab started again: one session per tab
            previous.stop()
        try:
            await relay.run(lambda: self.opener(ticket))
        finally:
            with self._lock:
                if self._relays.get(ticket.session_id) is relay:
                    del self._relays[ticket.session_id]

    def _purge(self) -> None:
        now = self.clock()
        for token in [t for t, issued in self._tokens.items() if issued.expires < now]:
            del self._tokens[token]
        for session_id, token in list(self._issued.items()):
            if token not in self._tokens:
                del self._issued[session_id]
        live = {i.session_id for i in self._tokens.values()} | set(self._relays)
        for session_id in [s for s in self._tickets if s not in live]:
            del self._tickets[session_id]  # no token, no socket: a tab long gone


class Relay:
    """One tab's socket and the session it opened."""

    def __init__(self, websocket: Any):
        self.websocket = websocket
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def run(self, open_session: Callable[[], Awaitable[LiveSession]]) -> None:
        await self._send_json({"type": "state", "text": "connecting"})
        try:
            session = await open_session()
        except Exception as exc:
            await self._send_json({"type": "error", "text": _sentence(exc)})
            await self._send_json({"type": "closed", "text": ""})
            await _quietly(self.websocket.close())
            return
        tasks = [
            asyncio.create_task(self._read(session)),
            asyncio.create_task(self._pump(session)),
            asyncio.create_task(self._stopped.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:  # no orphan upstream sessions, whatever ended the socket
                await asyncio.wait_for(session.close(), CLOSE_TIMEOUT_S)
            except Exception:
                log.warning("live session did not close cleanly", exc_info=True)
            await _quietly(self.websocket.close())

    async def _read(self, session: LiveSession) -> None:
        """The tab's side: microphone frames in order, what it played, End live."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("bytes")
            if frame is not None:
                if len(frame) > MAX_FRAME_BYTES:
                    log.warning("live socket: a %d-byte frame; closing", len(frame))
                    return
                await session.send_audio(frame)
                continue
            said = tab_message(message.get("text"))
            if not isinstance(said, dict):
                continue
            if said.get("type") == "end":
                return
            if said.get("type") == "played":
                item, ms = said.get("item_id"), said.get("ms")
                if isinstance(item, str) and isinstance(ms, int | float) and ms >= 0:
                    await session.played(item, int(ms))

    async def _pump(self, session: LiveSession) -> None:
        """The session's side: its events to this socket, audio as binary frames. A session
        that breaks is one sentence in the tab, then the end of it (the relay closes it)."""
        try:
            await self._forward(session)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            sentence = exc.sentence if isinstance(exc, UpstreamClosed) else BROKE
            if not isinstance(exc, UpstreamClosed):
                _log_failure("live session failed", exc)
            await self._send_json({"type": "error", "text": sentence})
            await self._send_json({"type": "closed", "text": ""})

    async def _forward(self, session: LiveSession) -> None:
        # No item yet, not even None: the tools' cue (audio of no item) may come first, and the
        # tab plays only audio it was told of.
        current_item: str | None | object = _NO_ITEM
        async for event in session.events():
            if event.kind == "audio":
                if not event.audio:
                    continue
                if event.item_id != current_item:
                    current_item = event.item_id
                    await self.websocket.send_text(
                        json.dumps({"type": "audio", "item_id": event.item_id})
                    )
                await self.websocket.send_bytes(event.audio)
            else:
                message = _message(event)
                if message is not None:
                    await self.websocket.send_text(json.dumps(message))
            if event.kind == "closed":
                return
        await self._send_json({"type": "closed", "text": ""})

    async def _send_json(self, message: dict) -> None:
        await _quietly(self.websocket.send_text(json.dumps(message)))


def _message(event: LiveEvent) -> dict | None:
    """The small JSON message the tab shows; the finished reply itself stays on the server
    (the page draws it from the conversation)."""
    if event.kind in TEXT_KINDS:
        return {"type": event.kind, "text": event.text, "item_id": event.item_id}
    if event.kind in ("interrupted", "answer_done"):
        return {"type": event.kind, "item_id": event.item_id}
    return None


def _sentence(exc: Exception) -> str:
    """One plain sentence for why the session did not open."""
    from assistant.config import ConfigError
    from assistant.errors import TurnError

    if isinstance(exc, UpstreamClosed):
        return exc.sentence
    if isinstance(exc, ConfigError | TurnError):
        return str(exc)
    if isinstance(exc, ImportError):
        log.warning("live mode is not installed: %s", exc)
        return "Live mode is not available on this server yet."
    _log_failure("live session did not open", exc)
    return OPEN_FAILED


def _log_failure(what: str, exc: BaseException) -> None:
    """The kind of failure and where, without its message (it may quote the customer)."""
    where = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s: %s\n%s", what, type(exc).__name__, where)


async def _quietly(step: Awaitable[Any]) -> None:
    """A send or close to a socket that may already be gone."""
    with contextlib.suppress(Exception):
        await step


def tab_message(text: Any) -> Any:
    """A small JSON message from a tab, or None (not text, over 1,000 characters, not JSON)."""
    if not isinstance(text, str) or len(text) > 1000:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


LIVE = LiveDesk()  # one per server process, shared by the page and the route
