"""Live mode's relay and its socket (page/live_relay.py), served by uvicorn on loopback as
st.App serves it, with a scripted LiveSession (tests/page/live_script.py) handed in through the
relay's one seam, the opener: microphone frames reach the session in order; the session's
events reach its own socket, and no other; a foreign origin, a spent token or another person's
token is refused; whatever ends the socket closes the session."""

from __future__ import annotations

import json
import time

import pytest

from assistant.live.base import LiveEvent, UpstreamClosed
from page.live_relay import TOKEN_TTL_S, LiveDesk
from tests.page.live_helpers import connect, eventually, served_relay, start, ticket


@pytest.fixture
def served():
    with served_relay() as relay:
        yield relay


def test_microphone_frames_reach_the_session_in_order(served):
    desk, port, opened, _ = served
    frames = [bytes([n, 0]) * 480 for n in range(40)]  # 20 ms each, each different
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        for frame in frames:
            ws.send(frame)
        session = opened.session("s1")
        eventually(lambda: len(session.frames) == len(frames))
    assert session.frames == frames


def test_the_session_s_events_reach_the_socket_audio_as_binary(served):
    desk, port, opened, _ = served
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        for event in (
            LiveEvent("state", "hearing"), LiveEvent("heard", "How many games?"),
            LiveEvent("answer_delta", "Five ", item_id="i1"),
            LiveEvent("audio", audio=b"\x01\x02" * 100, item_id="i1"),
            LiveEvent("audio", audio=b"\x03\x04" * 100, item_id="i1"),
            LiveEvent("interrupted", item_id="i1"), LiveEvent("answer_done", item_id="i1"),
        ):  # fmt: skip
            opened.push("s1", event)
        got = [ws.recv(timeout=5) for _ in range(8)]
    decoded = [m if isinstance(m, bytes) else json.loads(m) for m in got]
    assert decoded == [
        {"type": "state", "text": "hearing", "item_id": None},
        {"type": "heard", "text": "How many games?", "item_id": None},
        {"type": "answer_delta", "text": "Five ", "item_id": "i1"},
        {"type": "audio", "item_id": "i1"},  # once, before the item's first frame
        b"\x01\x02" * 100,
        b"\x03\x04" * 100,
        {"type": "interrupted", "item_id": "i1"},
        {"type": "answer_done", "item_id": "i1"},
    ]


def test_what_the_tab_played_reaches_the_session(served):
    desk, port, opened, _ = served
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        ws.send(json.dumps({"type": "played", "item_id": "i1", "ms": 1234.5}))
        ws.send(json.dumps({"type": "played", "item_id": "i2", "ms": -5}))  # nonsense: ignored
        session = opened.session("s1")
        eventually(lambda: session.played_reports)
        time.sleep(0.1)
    assert session.played_reports == [("i1", 1234)]


def test_the_lookup_cue_of_the_first_answer_is_announced_so_the_tab_plays_it(served):
    """The session's cue while tools run is audio of no item: before the first answer of a
    session too, the tab is told audio comes (it drops frames of no announced item)."""
    desk, port, opened, _ = served
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        opened.push("s1", LiveEvent("audio", audio=b"\x07\x00" * 10, item_id=None))
        opened.push("s1", LiveEvent("audio", audio=b"\x01\x00" * 10, item_id="i1"))
        got = [ws.recv(timeout=5) for _ in range(4)]
    assert [m if isinstance(m, bytes) else json.loads(m) for m in got] == [
        {"type": "audio", "item_id": None}, b"\x07\x00" * 10,
        {"type": "audio", "item_id": "i1"}, b"\x01\x00" * 10,
    ]  # fmt: skip


def test_one_session_s_events_never_reach_another_s_socket(served):
    desk, port, opened, _ = served
    with connect(port) as one, connect(port) as two:
        start(one, desk.offer(ticket("s1")))
        start(two, desk.offer(ticket("s2")))
        opened.push("s1", LiveEvent("audio", audio=b"\x01\x00" * 10, item_id="mine"))
        opened.push("s2", LiveEvent("heard", "theirs"))
        assert json.loads(one.recv(timeout=5)) == {"type": "audio", "item_id": "mine"}
        assert one.recv(timeout=5) == b"\x01\x00" * 10
        assert json.loads(two.recv(timeout=5))["text"] == "theirs"
        with pytest.raises(TimeoutError):
            one.recv(timeout=0.3)
        with pytest.raises(TimeoutError):
            two.recv(timeout=0.3)
        two.send(b"\x05\x00" * 8)
        eventually(lambda: opened.session("s2").frames)
    assert opened.session("s1").frames == []


def test_a_foreign_origin_a_spent_token_and_another_person_s_token_are_refused(served):
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    desk, port, opened, _ = served
    token = desk.offer(ticket())
    with pytest.raises(InvalidStatus):
        connect(port, origin="http://evil.example")
    with connect(port) as ws:
        start(ws, token)
    with connect(port) as ws, pytest.raises(ConnectionClosed):  # spent
        ws.send(json.dumps({"type": "hello", "token": token}))
        ws.recv(timeout=5)
    with connect(port) as ws, pytest.raises(ConnectionClosed):  # issued to Ana
        ws.send(json.dumps({"type": "hello", "token": desk.offer(ticket("s2", "ana@x.org"))}))
        ws.recv(timeout=5)
    assert list(opened.sessions) == ["s1"], "a refused socket opened a session"


def test_with_sign_in_configured_a_live_socket_without_the_cookie_is_refused(served):
    from websockets.exceptions import InvalidStatus

    desk, port, opened, sign_in = served
    sign_in["on"] = True
    desk.offer(ticket())
    with pytest.raises(InvalidStatus):
        connect(port)
    assert not opened.sessions


@pytest.mark.parametrize("how", ["socket closed", "end live"])
def test_whatever_ends_the_socket_closes_the_session(served, how):
    desk, port, opened, _ = served
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        session = opened.session("s1")
        if how == "end live":
            ws.send(json.dumps({"type": "end"}))
            eventually(lambda: session.closed)
    eventually(lambda: session.closed)
    eventually(lambda: not desk.is_live("s1"))


def test_a_session_that_ends_says_why_and_closes_the_socket(served):
    from websockets.exceptions import ConnectionClosed

    desk, port, opened, _ = served
    with connect(port) as ws:
        start(ws, desk.offer(ticket()))
        opened.push("s1", LiveEvent("closed", "The session ended after 10 quiet minutes."))
        assert json.loads(ws.recv(timeout=5))["text"].startswith("The session ended")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    eventually(lambda: opened.session("s1").closed)


def test_starting_again_in_the_same_tab_closes_the_first_session(served):
    desk, port, opened, _ = served
    with connect(port) as first:
        start(first, desk.offer(ticket()))
        old = opened.session("s1")
        opened.sessions.clear()
        with connect(port) as second:
            start(second, desk.offer(ticket()))
            eventually(lambda: old.closed)
            assert not opened.session("s1").closed


def test_a_session_that_cannot_open_is_one_sentence_and_the_socket_closes(served):
    from websockets.exceptions import ConnectionClosed

    desk, port, opened, _ = served
    opened.fail_with = UpstreamClosed("The live service refused the key; check OPENAI_API_KEY.")
    with connect(port) as ws:
        ws.send(json.dumps({"type": "hello", "token": desk.offer(ticket())}))
        assert json.loads(ws.recv(timeout=5))["text"] == "connecting"
        error = json.loads(ws.recv(timeout=5))
        assert error == {"type": "error", "text": opened.fail_with.sentence}
        assert json.loads(ws.recv(timeout=5))["type"] == "closed"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


# --- tokens, without a socket ---


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_live_token_is_kept_across_reruns_works_once_and_then_a_new_one_is_issued():
    desk = LiveDesk(opener=None)
    token = desk.offer(ticket())
    assert desk.offer(ticket()) == token, "a rerun keeps the component's token"
    assert desk.redeem(token, None) is not None
    assert desk.redeem(token, None) is None
    assert desk.offer(ticket()) != token


def test_a_live_token_carries_the_latest_choices_of_its_session():
    desk = LiveDesk(opener=None)
    token = desk.offer(ticket(customer="maria"))
    desk.offer(ticket(customer="dev"))  # the person chose another customer before Start live
    assert desk.redeem(token, None).customer == "dev"


def test_a_live_token_expires():
    clock = Clock()
    desk = LiveDesk(opener=None, clock=clock)
    token = desk.offer(ticket())
    clock.now += TOKEN_TTL_S + 1
    assert desk.redeem(token, None) is None


def test_the_default_opener_is_the_engine_s_factory():
    from page import live_relay

    assert LiveDesk().opener is live_relay.open_with_factory
