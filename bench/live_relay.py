"""Live mode against the realtime double: what the session itself adds, and how many sessions
one process holds at once with no audio dropped.

* `live_relay_ms_p95`: per audio chunk, the session's own time: a microphone chunk from
  `send_audio` until it is written to the socket, and an answer chunk from the upstream's
  `recv` until the listener has it (the larger of the two p95s).
* `live_relay_first_sound_ms`: from the double sending an answer's first audio to the listener
  receiving it (the SDK, the loopback socket and the session together), median.
* `live_sessions_at_once`: the most sessions that ran together, each speaking in real time
  (20 ms chunks) and hearing 2 s answers paced in real time, with every answer byte arriving
  and no chunk more than LATE_MS behind its schedule either way. The double runs in its own
  process so it does not share this one's interpreter lock.

    python -m bench --only live_relay
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import median, percentile

CHUNK_S = 0.02
CHUNK_BYTES = 960  # 20 ms of PCM16 at 24 kHz
LATE_MS = 200.0  # later than this and a real-time player would have had a gap
ANSWER_MS = 2000
LEVELS = (1, 2, 4, 8, 16, 32, 48, 64)


def run(quick: bool) -> dict[str, Any]:
    os.environ.setdefault("VOICEDESK_NO_CONFIG_FILES", "1")
    relay = asyncio.run(_relay(answers=3 if quick else 12))
    levels = LEVELS[:3] if quick else LEVELS
    held, per_level = _capacity(levels, questions=1 if quick else 2)
    return {
        "live_relay_ms_p95": relay["relay_ms_p95"],
        "live_relay_first_sound_ms": relay["first_sound_ms_median"],
        "live_sessions_at_once": held,
        "details": {**relay, "sessions": per_level, "late_ms_allowed": LATE_MS},
    }


# -- the session's own time ------------------------------------------------------------------


async def _relay(answers: int) -> dict[str, Any]:
    from tests.live.realtime_double import RealtimeDouble, Say, Turn

    answer = Say("A short answer for timing.", audio_ms=1000, pace_s=0.1)
    with RealtimeDouble(validate=False, default=Turn("A question?", [answer])) as double:
        engine = _engine(double.base_url)
        mic_ms: list[float] = []
        out_ms: list[float] = []
        first_ms: list[float] = []
        session, received = await _timed_session(engine, out_ms)
        for _ in range(answers):
            before = len(double.first_audio_at)
            await _speak(session, mic_ms)
            while len(received["first"]) <= before:
                await _quiet(session, 0.1, mic_ms)
            first_ms.append((received["first"][before] - double.first_audio_at[before]) * 1000)
            await _quiet(session, 1.2, mic_ms)  # the answer plays out
        await session.close()
    return {
        "relay_ms_p95": round(max(percentile(mic_ms, 95), percentile(out_ms, 95)), 3),
        "mic_chunk_ms_p95": round(percentile(mic_ms, 95), 3),
        "answer_chunk_ms_p95": round(percentile(out_ms, 95), 3),
        "first_sound_ms_median": round(median(first_ms), 2),
        "first_sound_ms_max": round(max(first_ms), 2),
        "mic_chunks": len(mic_ms),
        "answer_chunks": len(out_ms),
        "answers": answers,
    }


async def _timed_session(engine, out_ms: list[float]):
    """A session whose upstream stamps each audio delta as it is received; the listener
    measures from that stamp to when it has the event."""
    from assistant.history import Conversation
    from assistant.live import faults, openai_upstream
    from assistant.live.factory import connector
    from assistant.live.session import LiveOptions, RealtimeSession

    settings = engine.settings
    plain = connector(settings, "openai", "gpt-realtime")
    stamps: list[float] = []

    class Timed:
        def __init__(self, upstream):
            self.upstream = upstream

        async def send(self, event):
            await self.upstream.send(event)

        async def recv(self):
            event = await self.upstream.recv()
            if event.get("type") == "response.output_audio.delta":
                stamps.append(time.perf_counter())
            return event

        async def close(self):
            await self.upstream.close()

    async def connect():
        return Timed(await plain())

    options = LiveOptions(provider="openai", model="gpt-realtime", price_model="gpt-realtime",
                          voice="alloy", transcribe_model=None, idle_s=600, max_s=3600,
                          words=faults.words_for("openai", "gpt-realtime"))  # fmt: skip
    assert openai_upstream  # the upstream under test is the SDK's, through `connector`
    session = RealtimeSession(engine, Conversation(), connect, options)
    await session.start()
    received: dict[str, list[float]] = {"first": []}
    first_of_answer = [True]

    async def listen():
        async for event in session.events():
            now = time.perf_counter()
            if event.kind == "audio" and event.item_id is not None:
                out_ms.append((now - stamps[len(out_ms)]) * 1000)
                if first_of_answer[0]:
                    received["first"].append(now)
                    first_of_answer[0] = False
            elif event.kind == "answer_done":
                first_of_answer[0] = True

    asyncio.ensure_future(listen())
    return session, received


async def _speak(session, mic_ms: list[float] | None, loud_s: float = 0.5) -> None:
    from tests.live.realtime_double import tone

    await _stream(session, tone(int(loud_s * 1000)), mic_ms)
    await _quiet(session, 0.4, mic_ms)


async def _quiet(session, seconds: float, mic_ms: list[float] | None) -> None:
    await _stream(session, bytes(int(seconds / CHUNK_S) * CHUNK_BYTES), mic_ms)


async def _stream(session, pcm: bytes, mic_ms: list[float] | None, late: list[float] | None = None):
    loop = asyncio.get_running_loop()
    due = loop.time()
    for start in range(0, len(pcm), CHUNK_BYTES):
        if late is not None:
            late.append(max(0.0, loop.time() - due) * 1000)
        began = time.perf_counter()
        await session.send_audio(pcm[start : start + CHUNK_BYTES])
        if mic_ms is not None:
            mic_ms.append((time.perf_counter() - began) * 1000)
        due += CHUNK_S
        await asyncio.sleep(max(0.0, due - loop.time()))


# -- sessions at once ------------------------------------------------------------------------


def _capacity(levels, questions: int) -> tuple[int, list[dict[str, Any]]]:
    double = subprocess.Popen(
        [sys.executable, "-m", "tests.live.realtime_double", "--audio-ms", str(ANSWER_MS)],
        cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = int(double.stdout.readline())
        engine = _engine(f"http://127.0.0.1:{port}/v1")
        held, results = 0, []
        for n in levels:
            result = asyncio.run(_at_once(engine, n, questions))
            results.append(result)
            if not result["ok"]:
                break
            held = n
        return held, results
    finally:
        double.stdin.close()
        double.wait(15)


async def _at_once(engine, n: int, questions: int) -> dict[str, Any]:
    from assistant.history import Conversation
    from assistant.live.factory import open_live_session

    async def one() -> tuple[int, float, float]:
        session = await open_live_session(engine, Conversation())
        audio, arrivals = 0, []
        done = asyncio.Event()
        answers = [0]

        async def listen():
            nonlocal audio
            async for event in session.events():
                if event.kind == "audio" and event.item_id is not None:
                    audio += len(event.audio)
                    arrivals.append(time.perf_counter())
                elif event.kind == "answer_done":
                    answers[0] += 1
                    done.set()

        listening = asyncio.ensure_future(listen())
        late: list[float] = []
        for _ in range(questions):
            done.clear()
            await _stream(session, _question(), None, late)
            deadline = time.perf_counter() + 20
            while not done.is_set() and time.perf_counter() < deadline:
                await _stream(session, bytes(5 * CHUNK_BYTES), None, late)
            await _stream(session, bytes(int(0.6 / CHUNK_S) * CHUNK_BYTES), None, late)
        await session.close()
        await asyncio.wait_for(listening, 10)
        gaps = [(b - a) * 1000 - 100 for a, b in zip(arrivals, arrivals[1:], strict=False)]
        answer_late = max([g for g in gaps if g < 1000] or [0.0])  # not across answers
        return audio, max(late or [0.0]), answer_late

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one() for _ in range(n)))
    expected = questions * ANSWER_MS * 48
    complete = all(audio == expected for audio, _, _ in outcomes)
    mic_late = max(o[1] for o in outcomes)
    answer_late = max(o[2] for o in outcomes)
    ok = complete and mic_late <= LATE_MS and answer_late <= LATE_MS
    return {"sessions": n, "ok": ok, "all_audio_arrived": complete,
            "mic_late_ms_max": round(mic_late, 1), "answer_late_ms_max": round(answer_late, 1),
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def _question() -> bytes:
    from tests.live.realtime_double import silence, tone

    return tone(500) + silence(400)


def _engine(base_url: str):
    from assistant.config import load_settings
    from assistant.service import build_engine

    data = Path(tempfile.mkdtemp(prefix="voicedesk-live-bench-"))
    settings = load_settings(
        voicedesk_provider="openai", openai_base_url=base_url, openai_api_key="sk-bench",
        voicedesk_data_dir=data, voicedesk_transcribe_model="",
    )  # fmt: skip
    return build_engine(settings)


if __name__ == "__main__":
    import json

    print(json.dumps(run("--quick" in sys.argv), indent=2))
