"""Offline realtime: the local engine's `/v1/realtime` WebSocket, attacked as a hostile or broken
local client would. A bad event is answered with one `error` event and the session goes on; a
connection that is too big, silent, not reading or one too many is ended or refused without
holding the server; every refusal is one plain sentence."""

from __future__ import annotations

import base64
import json
import socket
import time
from contextlib import contextmanager

import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode
from websockets.protocol import OPEN
from websockets.sync.client import connect
from websockets.uri import parse_uri

from localspeech import realtime_server, server
from localspeech.realtime_server import start_loopback
from tests.localspeech.realtime_support import (
    CHUNK_MS,
    RATE,
    require_voice_detection,
    scripted,
    silence,
    spoken,
)
from tests.resilience.support import assert_one_sentence

# A worker thread that dies (an event sent on a closing socket, ...) fails the test.
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.fixture
def loopback():
    closers = []

    def start(engine=None):
        url, close = start_loopback(engine or scripted())
        closers.append(close)
        return f"{url}/realtime?model=gpt-realtime"

    yield start
    for close in closers:
        close()


@contextmanager
def opened(url: str, **options):
    with connect(url, open_timeout=10, **options) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "session.created"
        yield ws


def next_error(ws) -> dict:
    while True:
        event = json.loads(ws.recv(timeout=30))
        if event["type"] == "error":
            return event["error"]


def still_answers(ws) -> None:
    ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
    while json.loads(ws.recv(timeout=30))["type"] != "session.updated":
        pass


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    "message",
    [
        "not json at all",
        "[]",
        '{"type": 5}',
        '{"type": "response.make"}',
        '{"type": "input_audio_buffer.append", "audio": "%%%"}',
        '{"type": "conversation.item.create", "item": {"type": "message", "role": "boss"}}',
        '{"type": "session.update", "session": {"tools": [{"type": "mcp"}]}}',
        "[" * 10_000 + "]" * 10_000,
        b'{"type": "response.create"}',  # a binary frame
    ],
    ids=[
        "not JSON", "a list", "a number for type", "an unknown type", "audio not base64",
        "an unknown role", "an unknown tool type", "nested 10,000 deep", "a binary frame",
    ],
)
def test_a_malformed_event_gets_one_error_event_and_the_connection_is_kept(loopback, message):
    with opened(loopback()) as ws:
        ws.send(message)
        error = next_error(ws)
        assert error["type"] in ("invalid_request_error", "server_error")
        assert_one_sentence(error["message"])
        still_answers(ws)


def test_an_oversized_message_closes_that_connection_only(loopback, monkeypatch):
    monkeypatch.setattr(realtime_server, "MAX_MESSAGE_BYTES", 64 * 1024)
    url = loopback()
    with opened(url) as other:
        with opened(url) as ws:
            with pytest.raises(ConnectionClosed):
                ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 200_000}))
                ws.recv(timeout=30)
            assert ws.protocol.close_rcvd.code == CloseCode.MESSAGE_TOO_BIG
        still_answers(other)


def test_a_client_that_sends_nothing_is_let_go_after_the_idle_timeout(loopback, monkeypatch):
    monkeypatch.setattr(realtime_server, "IDLE_TIMEOUT_S", 1.0)
    monkeypatch.setattr(realtime_server, "POLL_S", 0.1)
    with opened(loopback()) as ws:
        error = next_error(ws)
        assert error["code"] == "session_expired"
        assert_one_sentence(error["message"])
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)


def test_a_session_is_ended_at_its_maximum_length(loopback, monkeypatch):
    monkeypatch.setattr(realtime_server, "SESSION_TTL_S", 1.0)
    monkeypatch.setattr(realtime_server, "POLL_S", 0.1)
    with opened(loopback()) as ws:
        deadline = time.monotonic() + 30
        with pytest.raises(ConnectionClosed):
            while time.monotonic() < deadline:
                still_answers(ws)  # busy all along: only its age ends it
        assert ws.protocol.close_rcvd is not None


def test_sessions_beyond_the_limit_are_refused_with_one_sentence(loopback, monkeypatch):
    monkeypatch.setattr(server, "MAX_SESSIONS", 2)
    url = loopback()
    with opened(url), opened(url) as second:
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=10)
        assert refused.value.response.status_code == 503
        error = json.loads(refused.value.response.body)["error"]
        assert error["code"] == "session_limit_reached"
        assert_one_sentence(error["message"])
        second.close()
        assert wait_until(lambda: _can_open(url))  # the slot is given back


def test_a_client_that_stops_reading_is_dropped_and_frees_its_slot(loopback, monkeypatch):
    monkeypatch.setattr(realtime_server, "WRITE_TIMEOUT_S", 1.0)
    monkeypatch.setattr(server, "MAX_SESSIONS", 1)
    url = loopback()
    # A client that asks for a long spoken answer (megabytes of audio) and never reads it: the
    # server's sends fill the socket's buffers, then must give up rather than wait for ever.
    sock = _raw_session(url)
    long = " ".join(["Withdrawals reach your bank in three to five working days."] * 300)
    for event in (
        {"type": "conversation.item.create", "item": {"type": "message", "role": "assistant",
                                                      "content": [{"type": "output_text",
                                                                   "text": long}]}},
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                      "content": [{"type": "input_text",
                                                                   "text": "What did you say?"}]}},
        {"type": "response.create"},
    ):  # fmt: skip
        sock.protocol.send_text(json.dumps(event).encode())
    for chunk in sock.protocol.data_to_send():
        sock.sendall(chunk)
    assert wait_until(lambda: _can_open(url), timeout=60)  # while this one is still open
    sock.close()


class _Unread(socket.socket):
    protocol: ClientProtocol


def _raw_session(url: str) -> _Unread:
    """A WebSocket opened by hand on a socket with a tiny receive buffer, never read again."""
    uri = parse_uri(url)
    sock = _Unread()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((uri.host, uri.port))
    sock.settimeout(10)
    sock.protocol = ClientProtocol(uri)
    sock.protocol.send_request(sock.protocol.connect())
    for chunk in sock.protocol.data_to_send():
        sock.sendall(chunk)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    sock.protocol = ClientProtocol(uri, state=OPEN)
    return sock


def _can_open(url: str) -> bool:
    try:
        with connect(url, open_timeout=5) as ws:
            return json.loads(ws.recv(timeout=5))["type"] == "session.created"
    except (InvalidStatus, OSError, ConnectionClosed, TimeoutError):
        return False


def test_speech_longer_than_can_be_heard_at_once_is_cut_into_turns_not_refused(loopback):
    require_voice_detection()
    engine = scripted()
    engine.max_recording_s = 3.0
    talk = spoken("I want to report that the poker game keeps freezing and crashing every night")
    audio = talk + talk + talk + silence(1.0)  # ~12 s of speech without a long pause
    step = RATE * 2 * CHUNK_MS // 1000
    with opened(loopback(engine)) as ws:
        for start in range(0, len(audio), step):
            chunk = base64.b64encode(audio[start : start + step]).decode("ascii")
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        seen: list[str] = []
        while "conversation.item.input_audio_transcription.completed" not in seen:
            seen.append(json.loads(ws.recv(timeout=60))["type"])
        assert "error" not in seen
        assert seen.count("input_audio_buffer.committed") >= 1
    assert engine.stt.heard and all(seconds <= 3.0 for seconds in engine.stt.heard)


def test_a_client_that_closes_mid_answer_ends_the_answer_quietly(loopback, monkeypatch):
    monkeypatch.setattr(server, "MAX_SESSIONS", 1)
    engine = scripted(delay_s=0.3)
    url = loopback(engine)
    with opened(url) as ws:
        for role, kind, text in (
            ("assistant", "output_text", "One. Two. Three. Four. Five. Six. Seven. Eight."),
            ("user", "input_text", "What did you just say?"),
        ):
            item = {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}
            ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        ws.send(json.dumps({"type": "response.create"}))
        while json.loads(ws.recv(timeout=30))["type"] != "response.output_audio.delta":
            pass
    time.sleep(1.5)  # the voice goes on with the next sentences: nothing may be sent, or fail
    assert wait_until(lambda: _can_open(url))
