"""The stream hub and its socket: tokens issued by the page work once, for their own session,
before they expire; the socket refuses other origins and, with sign-in, people not signed in;
each session's audio reaches its own socket only; "stop" raises the turn's cancel flag."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest

from page.stream import TOKEN_TTL_S, StreamHub
from page.stream_route import routes, same_origin, stream_path

LOOP = asyncio.new_event_loop()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_unguessable_kept_across_reruns_and_works_once():
    hub = StreamHub()
    token = hub.token_for("s1", None)
    assert len(token) >= 40 and token != hub.token_for("s2", None)
    assert hub.token_for("s1", None) == token, "a rerun hands the player the same token"
    assert hub.redeem(token, None, LOOP) is not None
    assert hub.redeem(token, None, LOOP) is None, "a token works once"


def test_a_token_expires_and_the_page_then_issues_a_new_one():
    clock = Clock()
    hub = StreamHub(clock)
    token = hub.token_for("s1", None)
    clock.now += TOKEN_TTL_S + 1
    assert hub.redeem(token, None, LOOP) is None
    assert hub.token_for("s1", None) != token


def test_a_token_issued_to_one_signed_in_person_does_not_work_for_another():
    hub = StreamHub()
    token = hub.token_for("s1", "ana@example.com")
    assert hub.redeem(token, "bob@example.com", LOOP) is None
    assert hub.redeem(hub.token_for("s1", "ana@example.com"), "ana@example.com", LOOP)


def test_each_session_s_audio_goes_to_its_own_socket_only():
    hub = StreamHub()
    one = hub.redeem(hub.token_for("s1", None), None, LOOP)
    two = hub.redeem(hub.token_for("s2", None), None, LOOP)
    stream = hub.begin("s1")
    stream.send(b"\x01\x00" * 10)
    LOOP.run_until_complete(asyncio.sleep(0))  # let call_soon_threadsafe deliver
    assert one.queue.qsize() == 2 and two.queue.qsize() == 0  # "start", then the chunk
    assert one.queue.get_nowait() == {"type": "start", "turn": stream.turn}


def test_chunks_sent_before_the_socket_opens_are_played_from_the_beginning():
    hub = StreamHub()
    token = hub.token_for("s1", None)
    stream = hub.begin("s1")
    stream.send(b"a" * 4)
    channel = hub.redeem(token, None, LOOP)
    stream.send(b"b" * 4)
    LOOP.run_until_complete(asyncio.sleep(0))
    items = [channel.queue.get_nowait() for _ in range(channel.queue.qsize())]
    assert items[1:] == [b"a" * 4, b"b" * 4]


def test_stop_from_the_tab_cancels_its_current_answer_only():
    hub = StreamHub()
    one = hub.redeem(hub.token_for("s1", None), None, LOOP)
    two = hub.redeem(hub.token_for("s2", None), None, LOOP)
    first, other = hub.begin("s1"), hub.begin("s2")
    hub.heard_from(two, {"type": "stop", "turn": first.turn})  # another tab naming our turn
    hub.heard_from(one, {"type": "stop", "turn": first.turn - 1})  # a late stop
    assert not first.cancel.is_set() and not other.cancel.is_set()
    hub.heard_from(one, {"type": "stop", "turn": first.turn})
    assert first.cancel.is_set() and not other.cancel.is_set()
    first.send(b"\x00\x01")
    assert first.sent == 0, "a stopped answer is not sent on"


def test_without_a_socket_the_whole_answer_plays_as_before():
    hub = StreamHub()
    stream = hub.begin("s1")
    stream.send(b"\x00\x01" * 100)
    stream.close()
    assert stream.played_in_browser() is False


def test_the_socket_path_follows_the_base_url():
    assert stream_path(None) == "/voicedesk/stream"
    assert stream_path("/desk/") == "/desk/voicedesk/stream"
    assert stream_path("a/b") == "/a/b/voicedesk/stream"


def test_only_the_page_s_own_origin_may_open_the_stream():
    assert same_origin("http://127.0.0.1:8501", "127.0.0.1:8501")
    assert not same_origin("http://evil.example", "127.0.0.1:8501")
    assert not same_origin(None, "127.0.0.1:8501")


# --- the route, served by uvicorn on loopback as st.App serves it ---------------------------


@pytest.fixture
def served():
    """The stream route alone in a Starlette app on a free port; sign-in switchable."""
    import uvicorn
    from starlette.applications import Starlette

    hub, sign_in = StreamHub(), {"on": False}
    app = Starlette(routes=routes(hub, "desk", sign_in=lambda: sign_in["on"]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield hub, port, sign_in
    server.should_exit = True
    thread.join(10)


def connect(port: int, origin: str | None = None):
    from websockets.sync.client import connect as ws_connect

    return ws_connect(
        f"ws://127.0.0.1:{port}/desk/voicedesk/stream",
        origin=origin or f"http://127.0.0.1:{port}", open_timeout=5,
    )  # fmt: skip


def test_the_route_streams_a_session_s_audio_and_hears_its_stop(served):
    hub, port, _ = served
    token = hub.token_for("s1", None)
    with connect(port) as ws:
        ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "ready"}
        stream = hub.begin("s1")
        stream.send(b"\x10\x00" * 8)
        assert json.loads(ws.recv(timeout=5))["type"] == "start"
        assert ws.recv(timeout=5) == b"\x10\x00" * 8
        ws.send(json.dumps({"type": "stop", "turn": stream.turn}))
        assert stream.cancel.wait(5), "the server did not hear the stop"


def test_the_route_refuses_another_origin_a_bad_token_and_a_reused_one(served):
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    hub, port, _ = served
    with pytest.raises(InvalidStatus):
        connect(port, origin="http://evil.example")
    for token in ("not-a-token", None):
        with connect(port) as ws, pytest.raises(ConnectionClosed):
            ws.send(json.dumps({"type": "hello", "token": token}))
            ws.recv(timeout=5)
    token = hub.token_for("s1", None)
    with connect(port) as ws:
        ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "ready"}
    with connect(port) as ws, pytest.raises(ConnectionClosed):
        ws.send(json.dumps({"type": "hello", "token": token}))
        ws.recv(timeout=5)


def test_with_sign_in_configured_the_route_refuses_a_socket_without_the_sign_in_cookie(served):
    from websockets.exceptions import InvalidStatus

    hub, port, sign_in = served
    sign_in["on"] = True
    with pytest.raises(InvalidStatus):
        connect(port)


def test_with_sign_in_the_route_admits_the_signed_in_person_the_token_was_issued_to(served):
    from streamlit.web.server.server_util import get_cookie_secret
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    hub, port, sign_in = served
    sign_in["on"] = True
    origin = f"http://127.0.0.1:{port}"
    user = {"email": "ana@example.com", "is_logged_in": True, "origin": origin}
    cookie = create_signed_value(get_cookie_secret(), "_streamlit_user", json.dumps(user))

    def open_as() -> object:
        return ws_connect(
            f"ws://127.0.0.1:{port}/desk/voicedesk/stream", origin=origin,
            additional_headers={"Cookie": f"_streamlit_user={cookie.decode('latin-1')}"},
        )  # fmt: skip

    with open_as() as ws:
        ws.send(json.dumps({"type": "hello", "token": hub.token_for("s1", "ana@example.com")}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "ready"}
    with open_as() as ws, pytest.raises(ConnectionClosed):  # Bob's tab's token, Ana's cookie
        ws.send(json.dumps({"type": "hello", "token": hub.token_for("s2", "bob@example.com")}))
        ws.recv(timeout=5)


def test_the_page_asks_whether_the_tab_played_the_answer_before_closing_its_turn():
    """The tab's "played" is heard only while the turn is open; a short answer arrives in one
    burst at the end, so asking after `close` missed it and the whole answer played over the
    stream (heard twice)."""
    from streamlit.testing.v1 import AppTest

    def page():
        import threading

        import streamlit as st

        from assistant.models import Reply, Usage
        from page.conversation import render_live_answer

        class Stream:
            cancel = threading.Event()
            order: list[str] = []

            def send(self, pcm):
                pass

            def played_in_browser(self):
                self.order.append("asked")
                return True

            def close(self):
                self.order.append("closed")

        stream = Stream()
        reply = Reply(None, "Twelve games.", b"", None, None, [], [], Usage(), "openai", "m")
        render_live_answer(lambda sink: reply, "0-0", lambda: None, stream=stream)
        st.session_state["order"] = stream.order

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, at.exception[0].stack_trace
    assert at.session_state["order"] == ["asked", "closed"]
