"""The Realtime WebSocket on the loopback server, driven by the real `openai` SDK realtime client
(`AsyncOpenAI(websocket_base_url=...)`, as the live mode uses it) against `start_loopback()`.
Every event the SDK sends is checked against the published client schema on arrival, every
event the server sends against the server schema."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from localspeech import realtime
from localspeech.realtime_server import start_loopback
from tests.contracts.openai_realtime import client_event_errors, server_event_errors
from tests.localspeech.realtime_support import (
    CHUNK_MS,
    RATE,
    realtime_tools,
    require_voice_detection,
    scripted,
    sdk,
    silence,
    spoken,
)

# A worker thread that dies (an event sent on a closing socket, ...) fails the test.
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]
SUMMARY = {"ok": True, "summary": "Maria's games.",
           "data": {"user_name": "maria", "games": [{"game": "chess", "games_played": 12}]}}  # fmt: skip


@pytest.fixture
def sent_by_clients(monkeypatch):
    """Every client event the server receives, and how each breaks the published schema."""
    seen: list[tuple[dict, list[str]]] = []
    receive = realtime.RealtimeSession.receive

    def checked(self, text):
        try:
            event = json.loads(text)
            seen.append((event, client_event_errors(event)))
        except ValueError:
            seen.append(({"raw": text[:80]}, ["not JSON"]))
        receive(self, text)

    monkeypatch.setattr(realtime.RealtimeSession, "receive", checked)
    return seen


@pytest.fixture
def loopback():
    closers = []

    def start(engine=None, **options):
        url, close = start_loopback(engine or scripted(), **options)
        closers.append(close)
        return url, close

    yield start
    for close in closers:
        close()


async def read_until(conn, kind: str, events: list[dict], timeout: float = 60.0) -> dict:
    """Read raw events (each checked against the server schema) until one of `kind`."""
    while True:
        event = json.loads(await asyncio.wait_for(conn.recv_bytes(), timeout))
        assert server_event_errors(event) == [], event
        events.append(event)
        if event["type"] == kind:
            return event


async def configure(conn, events: list[dict]) -> None:
    await read_until(conn, "session.created", events)
    await conn.session.update(
        session={
            "type": "realtime",
            "instructions": "Customer being helped: maria",
            "tools": realtime_tools(),
        }  # fmt: skip
    )
    await read_until(conn, "session.updated", events)


async def answer_the_calls(conn, events: list[dict]) -> list[dict]:
    done = await read_until(conn, "response.done", events)
    calls = [o for o in done["response"]["output"] if o["type"] == "function_call"]
    for call in calls:
        await conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": call["call_id"],
                "output": json.dumps(SUMMARY),
            }  # fmt: skip
        )
    await conn.response.create()
    return calls


def test_the_openai_sdk_gets_a_tool_call_then_a_spoken_answer_over_the_socket(
    loopback, sent_by_clients
):
    url, _ = loopback()
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/v1")

    async def talk():
        events: list[dict] = []
        async with sdk(url).realtime.connect(model="gpt-realtime") as conn:
            await configure(conn, events)
            await conn.conversation.item.create(
                item={"type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": "How many games did I play?"}]}
            )  # fmt: skip
            await conn.response.create()
            calls = await answer_the_calls(conn, events)
            done = await read_until(conn, "response.done", events)
        return calls, done, events

    calls, done, events = asyncio.run(talk())
    assert [c["name"] for c in calls] == ["get_player_summary"]
    assert done["response"]["status"] == "completed"
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) > RATE  # over half a second of PCM16 at 24 kHz
    assert all(errors == [] for _, errors in sent_by_clients), sent_by_clients


def test_a_spoken_question_streamed_in_40_ms_chunks_is_detected_heard_and_answered(
    loopback, sent_by_clients
):
    require_voice_detection()
    url, _ = loopback()
    audio = silence(0.4) + spoken("How many games did I play?") + silence(1.2)
    step = RATE * 2 * CHUNK_MS // 1000

    async def talk():
        events: list[dict] = []
        async with sdk(url).realtime.connect(model="gpt-realtime") as conn:
            await configure(conn, events)
            for start in range(0, len(audio), step):
                chunk = base64.b64encode(audio[start : start + step]).decode("ascii")
                await conn.input_audio_buffer.append(audio=chunk)
            heard = await read_until(
                conn, "conversation.item.input_audio_transcription.completed", events
            )
            calls = await answer_the_calls(conn, events)
            await read_until(conn, "response.done", events)
        return heard, calls, events

    heard, calls, events = asyncio.run(talk())
    kinds = [e["type"] for e in events]
    for kind in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                 "input_audio_buffer.committed", "response.output_audio.delta"):  # fmt: skip
        assert kind in kinds
    assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index(
        "conversation.item.input_audio_transcription.completed"
    )
    assert heard["transcript"] and calls
    assert all(errors == [] for _, errors in sent_by_clients), sent_by_clients


def test_response_cancel_over_the_socket_ends_the_answer(loopback):
    url, _ = loopback(scripted(delay_s=0.4))
    long = "Withdrawals take three days. Cards are quicker. Banks are slower. Ask us anytime."

    async def talk():
        events: list[dict] = []
        async with sdk(url).realtime.connect(model="gpt-realtime") as conn:
            await configure(conn, events)
            for role, kind, text in (("assistant", "output_text", long),
                                     ("user", "input_text", "What did you just say?")):  # fmt: skip
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": role,
                        "content": [{"type": kind, "text": text}],
                    }  # fmt: skip
                )
            await conn.response.create()
            await read_until(conn, "response.output_audio.delta", events)
            await conn.response.cancel()
            return await read_until(conn, "response.done", events)

    done = asyncio.run(talk())
    assert done["response"]["status"] == "cancelled"


def test_a_web_page_on_another_origin_cannot_open_a_session(loopback):
    url, _ = loopback()
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{url}/realtime?model=m", origin="http://evil.example", open_timeout=10)
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"]["code"] == "origin_not_allowed"
    with connect(f"{url}/realtime?model=m", origin="http://localhost:8501") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "session.created"


def test_a_host_header_naming_another_site_is_refused(loopback):
    url, _ = loopback()
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{url}/realtime", additional_headers={"Host": "evil.example"}, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_with_a_key_set_the_sdk_needs_it(loopback, monkeypatch):
    monkeypatch.setenv("VOICEDESK_OFFLINE_API_KEY", "s3cret-key")
    url, _ = loopback()

    async def open_with(key: str) -> str:
        async with sdk(url, api_key=key).realtime.connect(model="m") as conn:
            return json.loads(await asyncio.wait_for(conn.recv_bytes(), 10))["type"]

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(open_with("wrong"))
    assert refused.value.response.status_code == 401
    assert asyncio.run(open_with("s3cret-key")) == "session.created"


def test_a_plain_get_of_the_socket_path_gets_a_json_error(loopback):
    import httpx2

    url, _ = loopback()
    answer = httpx2.get(url.replace("ws://", "http://") + "/realtime")
    assert answer.status_code == 426
    assert answer.json()["error"]["code"] == "upgrade_required"


def test_closing_the_loopback_server_closes_its_live_sessions(loopback):
    url, close = loopback()
    with connect(f"{url}/realtime?model=m", open_timeout=10) as ws:
        ws.recv(timeout=10)
        close()
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)


def test_without_an_engine_start_loopback_shares_one_warming_engine(monkeypatch):
    from localspeech import engine as engine_module
    from localspeech import realtime_server

    made = []

    def make():
        made.append(scripted())
        return made[-1]

    monkeypatch.setattr(engine_module, "OfflineEngine", make)
    monkeypatch.setattr(realtime_server, "_default_engine", None)
    first_url, first_close = start_loopback()
    second_url, second_close = start_loopback()
    try:
        assert first_url != second_url and len(made) == 1  # models load once per process
        with connect(f"{second_url}/realtime?model=m", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "session.created"
        assert made[0]._warm_thread is not None  # its models started loading at once
    finally:
        first_close()
        second_close()
