"""The Realtime WebSocket (`GET /v1/realtime?model=...`) on the offline engine's loopback server.

The HTTP handler of `server.py` meets the upgrade request first and applies its checks (Host,
Origin, bearer key, connection limit); then `serve_websocket` holds the connection: at most
MAX_SESSIONS at once (each one's turns cost real CPU), the WebSocket framing done by the
`websockets` library's sans-I/O protocol (pings, close, fragments, the size of a message
checked from a frame's header before its payload is read), one `RealtimeSession` per
connection. A client that sends nothing for IDLE_TIMEOUT_S, or stops reading what it is sent
for WRITE_TIMEOUT_S, is disconnected; a session ends after SESSION_TTL_S.

    ws_url, close = start_loopback()   # for AsyncOpenAI(websocket_base_url=ws_url, ...)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.frames import CloseCode, Opcode
from websockets.http11 import Request
from websockets.protocol import CLOSED, OPEN
from websockets.server import ServerProtocol

from localspeech.protocol import OfflineAPIError
from localspeech.realtime import SESSION_TTL_S, RealtimeSession

log = logging.getLogger(__name__)
MAX_SESSIONS = 4  # Whisper and Piper per turn: more at once would only queue on 2 cores
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # an append may carry 15 MB of base64 (OpenAI's limit)
IDLE_TIMEOUT_S = 300.0  # nothing received (a live client streams its microphone all along)
WRITE_TIMEOUT_S = 30.0  # for a client to take what it is sent
POLL_S = 0.5
ROUTE = "/v1/realtime"


def is_realtime(path: str) -> bool:
    return "/" + urlsplit(path).path.strip("/") == ROUTE


def upgrade_refusal(headers: Any) -> OfflineAPIError | None:
    """A plain GET of the WebSocket's path (no upgrade) gets a JSON error, not a 404."""
    if (headers.get("upgrade") or "").strip().lower() != "websocket":
        return OfflineAPIError(
            "Connect to /v1/realtime with a WebSocket.", status=426, code="upgrade_required"
        )
    return None


def session_limit() -> OfflineAPIError:
    return OfflineAPIError(
        f"The offline engine holds {MAX_SESSIONS} live sessions at once; close one first.",
        status=503,
        type="server_error",
        code="session_limit_reached",
    )


def serve_websocket(handler: Any, engine: Any, links: set) -> None:
    """Complete the upgrade on the handler's connection and serve one session on it (the
    caller holds one of the MAX_SESSIONS slots until this returns)."""
    handshake = ServerProtocol()  # http.server has read the request: answer it
    response = handshake.accept(Request(handler.path, Headers(list(handler.headers.items()))))
    handshake.send_response(response)
    sock: socket.socket = handler.connection
    sock.settimeout(WRITE_TIMEOUT_S)
    handler.close_connection = True
    _Link(sock, handshake).flush()
    if response.status_code != 101:
        return
    link = _Link(sock, ServerProtocol(state=OPEN, max_size=MAX_MESSAGE_BYTES))
    model = (parse_qs(urlsplit(handler.path).query).get("model") or [None])[0]
    session = RealtimeSession(engine, link.send_event, model=model)
    links.add(link)
    try:
        session.start()
        link.serve(session)
    finally:
        session.close()
        link.close(CloseCode.NORMAL_CLOSURE)
        links.discard(link)


class _Link:
    """One WebSocket connection: frames in on the handler's thread, events out from any."""

    def __init__(self, sock: socket.socket, protocol: ServerProtocol):
        self.sock = sock
        self.protocol = protocol
        self.lock = threading.Lock()
        self.open = True
        self.started = time.monotonic()
        self._parts: list[bytes] = []  # a fragmented message so far
        self._binary = False

    def send_event(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, ensure_ascii=False)
        with self.lock:
            if not self.open or self.protocol.state is not OPEN:  # closing: nothing more
                return
            self.protocol.send_text(data.encode("utf-8"))
            self._flush_locked()

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        try:
            for chunk in self.protocol.data_to_send():
                if chunk:
                    self.sock.sendall(chunk)
        except OSError as exc:  # gone, or not reading for WRITE_TIMEOUT_S: let it go
            log.info("realtime client dropped (%s)", type(exc).__name__)
            self._drop_locked()

    def _drop_locked(self) -> None:
        self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread

    def close(self, code: int, reason: str = "") -> None:
        with self.lock:
            if self.open and self.protocol.state is not CLOSED:
                with contextlib.suppress(Exception):  # already closing
                    self.protocol.send_close(code, reason)
                self._flush_locked()
            self._drop_locked()

    def serve(self, session: RealtimeSession) -> None:
        last = time.monotonic()
        while self.open:
            now = time.monotonic()
            if now - self.started > SESSION_TTL_S:
                session.expire("The session reached its maximum length of one hour.")
                return
            if now - last > IDLE_TIMEOUT_S:
                session.expire(f"Nothing was received for {IDLE_TIMEOUT_S:g} seconds.")
                return
            try:
                ready, _, _ = select.select([self.sock], [], [], POLL_S)
                data = self.sock.recv(65536) if ready else None
            except (OSError, ValueError):
                return
            if data is None:
                continue
            last = time.monotonic()
            if not data:
                self.protocol.receive_eof()
                return
            self.protocol.receive_data(data)
            for frame in self.protocol.events_received():
                self._frame(session, frame)
            self.flush()  # pongs, and the closing handshake
            if self.protocol.close_expected() or self.protocol.state is CLOSED:
                return

    def _frame(self, session: RealtimeSession, frame: Any) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._parts, self._binary = [frame.data], frame.opcode is Opcode.BINARY
        elif frame.opcode is Opcode.CONT:
            self._parts.append(frame.data)
        else:
            return  # ping, pong, close: the protocol answers them
        if not frame.fin:
            return
        message, self._parts = b"".join(self._parts), []
        if self._binary:
            session.refuse("Send events as JSON text frames, not binary ones.")
            return
        session.receive(message)


# ---- on its own, for the live mode in this process ------------------------------------------

_default_engine: Any = None
_default_lock = threading.Lock()


def start_loopback(engine: Any = None, port: int = 0) -> tuple[str, Callable[[], None]]:
    """The loopback server in a daemon thread: (the `websocket_base_url` for the openai SDK,
    a function that stops it and closes its live sessions). With no engine, one engine per
    process, its models loading in the background. When VOICEDESK_OFFLINE_API_KEY is set,
    connections need it as their bearer key (pass it as the SDK's api_key)."""
    from localspeech.server import make_server

    engine = engine or _shared_engine()
    api_key = os.environ.get("VOICEDESK_OFFLINE_API_KEY") or None
    server = make_server(engine, port=port, api_key=api_key)
    thread = threading.Thread(target=server.serve_forever, name="offline-realtime", daemon=True)
    thread.start()
    closed = threading.Event()

    def close() -> None:
        if closed.is_set():
            return
        closed.set()
        server.shutdown()
        server.server_close()
        for link in list(server.realtime_links):
            link.close(CloseCode.GOING_AWAY, "server closing")

    return f"ws://127.0.0.1:{server.server_address[1]}/v1", close


def _shared_engine() -> Any:
    global _default_engine
    with _default_lock:
        if _default_engine is None:
            from localspeech.engine import OfflineEngine

            _default_engine = OfflineEngine()
            _default_engine.warm_up(background=True)
        return _default_engine
