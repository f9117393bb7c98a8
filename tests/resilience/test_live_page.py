"""Live mode's page side (the relay between a tab's live socket and its LiveSession): a session
that breaks mid-answer, a tab that vanishes, a tab that sends nonsense or floods, an engine that
is not set up. Each is one sentence in the tab (never a traceback), and no live session is left
open upstream, billing by the minute."""

from __future__ import annotations

import json

import pytest

from assistant.config import ConfigError
from assistant.live.base import LiveEvent, UpstreamClosed
from page.live_relay import BROKE, MAX_FRAME_BYTES, LiveDesk, LiveTicket, open_with_factory
from tests.page.live_helpers import connect, eventually, served_relay, start, ticket


@pytest.fixture
def served():
    with served_relay() as relay:
        yield relay


def rest(ws) -> list:
    """Everything the socket says until the server closes it."""
    from websockets.exceptions import ConnectionClosed

    said = []
    try:
        while True:
            message = ws.recv(timeout=5)
            said.append(message if isinstance(message, bytes) else json.loads(message))
    except ConnectionClosed:
        return said


@pytest.mark.parametrize(
    "error, sentence",
    [
        (UpstreamClosed("The live connection dropped; press Start live to go on."),
         "The live connection dropped; press Start live to go on."),
        (RuntimeError("socket.recv on a closed transport (customer said: my card 4111)"),
         BROKE),
    ],
    ids=["upstream closed", "a bug"],
)  # fmt: skip
def test_a_live_session_that_breaks_mid_answer_is_one_sentence_and_is_closed(
    served, error, sentence, caplog
):
    desk, port, opened, _ = served
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        opened.push("s1", LiveEvent("audio", audio=b"\x01\x00" * 100, item_id="i1"))
        opened.loop.call_soon_threadsafe(opened.session("s1").fail, error)
        said = rest(ws)
    assert said[:2] == [{"type": "audio", "item_id": "i1"}, b"\x01\x00" * 100]
    assert {"type": "error", "text": sentence} in said, said
    assert said[-1]["type"] == "closed"
    eventually(lambda: opened.session("s1").closed)
    assert "4111" not in caplog.text and "4111" not in json.dumps(said[2:])


def test_a_tab_that_vanishes_mid_answer_leaves_no_live_session_open(served):
    desk, port, opened, _ = served
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        opened.push("s1", LiveEvent("audio", audio=b"\x01\x00" * 4800, item_id="i1"))
        ws.recv(timeout=5)
        ws.close_socket()  # the network is gone: no close frame
    eventually(lambda: opened.session("s1").closed, timeout=10)
    eventually(lambda: not desk.is_live("s1"))


def test_nonsense_from_the_tab_is_ignored_and_a_flood_ends_the_session(served):
    desk, port, opened, _ = served
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        for junk in ("not json", "[1, 2]", json.dumps({"type": "played", "item_id": 5}),
                     json.dumps({"type": "played"}), "x" * 5000):  # fmt: skip
            ws.send(junk)
        ws.send(b"\x01\x00" * 10)
        session = opened.session("s1")
        eventually(lambda: session.frames == [b"\x01\x00" * 10])
        assert not session.closed and session.played_reports == []
        ws.send(b"\x00" * (MAX_FRAME_BYTES + 2))  # not a microphone
        rest(ws)
    eventually(lambda: session.closed)
    assert session.frames == [b"\x01\x00" * 10]


def test_live_pressed_when_the_chosen_model_is_not_set_up_is_one_sentence():
    import asyncio

    def engine():
        raise ConfigError("Azure OpenAI is not set up: set AZURE_OPENAI_ENDPOINT.")

    broken = LiveTicket(**{**ticket().__dict__, "engine": engine})
    desk = LiveDesk()  # the default opener: the engine's own factory
    assert desk.opener is open_with_factory

    class Socket:
        said: list[str] = []

        async def send_text(self, text):
            self.said.append(json.loads(text))

        async def close(self):
            pass

    socket = Socket()
    asyncio.run(desk.serve(socket, broken))
    assert {"type": "error", "text": "Azure OpenAI is not set up: set AZURE_OPENAI_ENDPOINT."} in (
        socket.said
    )
