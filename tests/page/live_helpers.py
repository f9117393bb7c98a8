"""The live relay served by uvicorn on loopback as st.App serves it, with scripted sessions
(tests/page/live_script.py) handed in through its opener: shared by the relay's tests and the
resilience suite."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time

from assistant.history import Conversation
from assistant.live.base import LiveEvent
from page.live_relay import LiveDesk, LiveTicket
from page.stream import StreamHub
from page.stream_route import live_path, routes
from tests.page.live_script import ScriptedSession


def ticket(session_id: str = "s1", identity: str | None = None, **choices) -> LiveTicket:
    return LiveTicket(
        session_id=session_id, identity=identity, conversation=Conversation(),
        customer=choices.get("customer", "maria"), agent=None, voice=None,
        engine=lambda: None,
    )  # fmt: skip


class Opened:
    """The opener handed to the relay: scripted sessions, kept so a test can drive them."""

    def __init__(self) -> None:
        self.sessions: dict[str, ScriptedSession] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.fail_with: Exception | None = None
        self.ready = threading.Condition()

    async def __call__(self, ticket: LiveTicket) -> ScriptedSession:
        if self.fail_with is not None:
            raise self.fail_with
        self.loop = asyncio.get_running_loop()
        session = ScriptedSession(ticket.conversation, customer=ticket.customer,
                                  name=ticket.session_id, listen=False)  # fmt: skip
        with self.ready:
            self.sessions[ticket.session_id] = session
            self.ready.notify_all()
        return session

    def session(self, session_id: str) -> ScriptedSession:
        with self.ready:
            assert self.ready.wait_for(lambda: session_id in self.sessions, 5), "never opened"
            return self.sessions[session_id]

    def push(self, session_id: str, event: LiveEvent) -> None:
        self.loop.call_soon_threadsafe(self.session(session_id).push, event)


def eventually(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.01)


@contextlib.contextmanager
def served_relay():
    """(desk, port, opened, sign_in): the live route on a free port; sign-in switchable."""
    import uvicorn
    from starlette.applications import Starlette

    opened = Opened()
    desk, sign_in = LiveDesk(opener=opened), {"on": False}
    app = Starlette(routes=routes(StreamHub(), "desk", sign_in=lambda: sign_in["on"], live=desk))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield desk, port, opened, sign_in
    finally:
        server.should_exit = True
        thread.join(10)


def connect(port: int, origin: str | None = None):
    from websockets.sync.client import connect as ws_connect

    return ws_connect(
        f"ws://127.0.0.1:{port}{live_path('desk')}",
        origin=origin or f"http://127.0.0.1:{port}", open_timeout=5,
    )  # fmt: skip


def start(ws, token: str) -> None:
    """Hello, then the relay's "connecting" and the session's first state."""
    ws.send(json.dumps({"type": "hello", "token": token}))
    assert json.loads(ws.recv(timeout=5))["text"] == "connecting"
    assert json.loads(ws.recv(timeout=5)) == {"type": "state", "text": "listening", "item_id": None}
