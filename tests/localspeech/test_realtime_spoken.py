"""Live, offline, end to end with the real models: a Piper-spoken question streamed through the
`openai` SDK realtime client in 40 ms chunks, then silence; Silero ends the turn, Whisper hears
it, the router asks for a tool, the client returns its output, Piper says the answer. Then
someone talks over a long answer and it stops. Nothing here depends on the words Whisper hears
(CPU-dependent) beyond a tool call being made; the time to the first answer audio is printed."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from localspeech.realtime_server import start_loopback
from tests.contracts.openai_realtime import server_event_errors
from tests.localspeech.cases import Case
from tests.localspeech.fixtures import SpokenCase
from tests.localspeech.realtime_support import CHUNK_MS, LONG_ANSWER, RATE, realtime_tools, sdk
from wavcodec import decode_wav

pytestmark = [pytest.mark.offline_models, pytest.mark.timeout(600)]
STEP = RATE * 2 * CHUNK_MS // 1000
OUTPUT = {"ok": True, "summary": "Maria's games.",
          "data": {"user_name": "maria", "games": [{"game": "chess", "games_played": 12}]}}  # fmt: skip


def question(synthesiser, text: str) -> bytes:
    wav = synthesiser.wav(SpokenCase(Case(f"live-{text}", text, None, [], None), "piper", None))
    return (decode_wav(wav, RATE) * 32767).astype("<i2").tobytes()


class Events:
    """Raw server events read in the background, each checked against the published schema."""

    def __init__(self, conn):
        self.conn, self.seen, self.times = conn, [], []
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        while True:
            event = json.loads(await self.conn.recv_bytes())
            assert server_event_errors(event) == [], event
            self.seen.append(event)
            self.times.append(time.perf_counter())

    async def next(self, kind: str, after: int = 0, timeout: float = 300.0) -> tuple[int, dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert not self.task.done() or self.task.exception() is None, self.task.exception()
            for i, event in enumerate(self.seen[after:], after):
                if event["type"] == kind:
                    return i, event
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind} in {timeout} s: {[e['type'] for e in self.seen]}")


async def stream(conn, pcm: bytes, paced: bool) -> float:
    """Send PCM in 40 ms appends; the time the last one left."""
    for start in range(0, len(pcm), STEP):
        chunk = base64.b64encode(pcm[start : start + STEP]).decode("ascii")
        await conn.input_audio_buffer.append(audio=chunk)
        if paced:
            await asyncio.sleep(CHUNK_MS / 1000)
    return time.perf_counter()


def test_a_spoken_question_is_heard_answered_by_a_tool_and_spoken_then_interrupted(
    real_engine, synthesiser
):
    pcm = question(synthesiser, "How many games did I play?")
    url, close = start_loopback(real_engine)

    async def talk():
        async with sdk(url).realtime.connect(model="gpt-realtime") as conn:
            events = Events(conn)
            await conn.session.update(
                session={
                    "type": "realtime",
                    "instructions": "Customer being helped: maria",
                    "tools": realtime_tools(),
                }  # fmt: skip
            )
            spoke = await stream(conn, pcm, paced=True)
            await stream(conn, bytes(RATE * 2 * 3 // 2), paced=True)  # 1.5 s of silence
            _, heard = await events.next("conversation.item.input_audio_transcription.completed")
            at, done = await events.next("response.done")
            calls = [o for o in done["response"]["output"] if o["type"] == "function_call"]
            assert calls, (heard["transcript"], done["response"])  # a tool call came
            for call in calls:
                await conn.conversation.item.create(
                    item={
                        "type": "function_call_output",
                        "call_id": call["call_id"],
                        "output": json.dumps(OUTPUT),
                    }  # fmt: skip
                )
            await conn.response.create()
            first, _ = await events.next("response.output_audio.delta", after=at + 1)
            print(f"\nend of speech -> first answer audio: {events.times[first] - spoke:.2f} s "
                  f"(heard {heard['transcript']!r})")  # fmt: skip
            at, answered = await events.next("response.done", after=first)
            assert answered["response"]["status"] == "completed"

            # Barge-in: a long answer, and the question said again over it.
            for role, kind, text in (("assistant", "output_text", f"{LONG_ANSWER} {LONG_ANSWER}"),
                                     ("user", "input_text", "What did you just say?")):  # fmt: skip
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": role,
                        "content": [{"type": kind, "text": text}],
                    }  # fmt: skip
                )
            await conn.response.create()
            playing, _ = await events.next("response.output_audio.delta", after=at + 1)
            await stream(conn, pcm, paced=False)
            started, _ = await events.next("input_audio_buffer.speech_started", after=playing)
            stopped, cancelled = await events.next("response.done", after=playing)
            events.task.cancel()
            return events.seen, started, stopped, cancelled

    try:
        seen, started, stopped, cancelled = asyncio.run(talk())
    finally:
        close()
    assert cancelled["response"]["status"] == "cancelled"
    assert cancelled["response"]["status_details"]["reason"] == "turn_detected"
    assert stopped < started  # the answer stops as the speech is detected
    later = [e["type"] for e in seen[stopped:]]
    assert "response.output_audio.delta" not in later
