"""Live mode offline: end of speech -> first answer audio, through the local realtime server.

Each question is said by Piper (the engine's own voice, 22 kHz, resampled to 24 kHz), streamed
through the real `openai` SDK realtime client to `start_loopback()` in 40 ms chunks at real-time
pace, then silence. The server's VAD ends the turn, Whisper hears it, the router asks for a tool;
the tool output (canned, returned at once: tool time is not the engine's) goes back with
`response.create`, and the answer is voiced by Piper sentence by sentence. Measured from the
moment the chunk holding the last speech sample was sent (the speaker stopped) to the first
`response.output_audio.delta` received, with the steps between:

* vad_s: -> `speech_stopped` (the silence the VAD waits for, `silence_duration_ms`);
* heard_s: -> `...input_audio_transcription.completed` (Whisper);
* call_s: -> the function call's `response.done` (routing);
* first_audio_s: -> first answer audio (composing, the first phrase voiced);
* cpu_s: the CPU time this process spent in between (all threads): on a shared machine the
  wall-clock figures grow with the load (`load_average` is printed), this one much less.

    python -m bench.live_offline [--runs 5] [--silence-ms 500]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import time
from typing import Any

import numpy as np

from bench.measure import median

QUESTIONS = (
    "How many games did I play?",
    "How do I reset my password?",
    "What are my stats?",
    "How long does a withdrawal take?",
)
CHUNK_MS = 40
RATE = 24_000
OUTPUTS = {  # what each tool returns, at once
    "get_player_summary": {"ok": True, "summary": "Maria's games.", "data": {
        "user_name": "maria", "games": [{"game": "chess", "games_played": 12, "wins": 7}]}},
    "search_help_center": {"ok": True, "summary": "One article.", "data": {"passages": [{
        "title": "Passwords", "text": "Open Settings, choose Security, then Reset password. "
                                      "We email you a link that works for one hour."}]}},
}  # fmt: skip


def speech(engine: Any, text: str) -> tuple[bytes, float]:
    """The question as PCM16 24 kHz, and where its speech ends (seconds)."""
    from wavcodec import decode_wav

    samples = decode_wav(engine.tts.wav(text), RATE)
    loud = np.flatnonzero(np.abs(samples) > 0.02)
    end_s = (loud[-1] + 1) / RATE if loud.size else len(samples) / RATE
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes(), end_s


async def one_turn(conn, pcm: bytes, end_s: float, silence_s: float) -> dict[str, float]:
    step = RATE * 2 * CHUNK_MS // 1000
    audio = pcm + bytes(int(RATE * silence_s) * 2)
    marks: dict[str, float] = {}
    cpu = [0.0]
    reader = asyncio.create_task(_read(conn, marks))
    started = time.perf_counter()
    for n, start in enumerate(range(0, len(audio), step)):
        await conn.input_audio_buffer.append(
            audio=base64.b64encode(audio[start : start + step]).decode("ascii")
        )
        if "end" not in marks and (start + step) / 2 / RATE >= end_s:
            marks["end"], cpu[0] = time.perf_counter(), time.process_time()
        if reader.done():
            break
        # real-time pace: chunk n+1 is sent when the speaker would have said it
        await asyncio.sleep(max(0.0, started + (n + 1) * CHUNK_MS / 1000 - time.perf_counter()))
    await asyncio.wait_for(reader, 120)
    end, cpu_s = marks.pop("end"), marks.pop("cpu") - cpu[0]
    return {**{k: round(v - end, 3) for k, v in marks.items()}, "cpu_s": round(cpu_s, 3)}


async def _read(conn, marks: dict[str, float]) -> None:
    while True:
        event = json.loads(await conn.recv_bytes())
        kind, now = event["type"], time.perf_counter()
        if kind == "input_audio_buffer.speech_stopped":
            marks.setdefault("vad_s", now)
        elif kind == "conversation.item.input_audio_transcription.completed":
            marks.setdefault("heard_s", now)
        elif kind == "response.done":
            calls = [o for o in event["response"]["output"] if o["type"] == "function_call"]
            if not calls:
                return
            marks.setdefault("call_s", now)
            for call in calls:
                output = OUTPUTS.get(call["name"], {"ok": True, "summary": "Done."})
                await conn.conversation.item.create(item={
                    "type": "function_call_output", "call_id": call["call_id"],
                    "output": json.dumps(output)})  # fmt: skip
            await conn.response.create()
        elif kind == "response.output_audio.delta" and "first_audio_s" not in marks:
            marks["first_audio_s"], marks["cpu"] = now, time.process_time()
            await conn.response.cancel()  # the figure is taken: the next turn need not wait
        elif kind == "error" and event["error"].get("code") != "response_cancel_not_active":
            raise RuntimeError(event["error"]["message"])


async def measure(runs: int, silence_ms: int) -> dict[str, Any]:
    import openai

    from localspeech.engine import OfflineEngine
    from localspeech.realtime_server import start_loopback
    from tests.localspeech.cases import tool_schemas

    engine = OfflineEngine()
    engine.warm_up(background=False)
    url, close = start_loopback(engine)
    tools = [{"type": "function", **t["function"]} for t in tool_schemas()]
    client = openai.AsyncOpenAI(
        api_key=os.environ.get("VOICEDESK_OFFLINE_API_KEY") or "offline",
        base_url=url.replace("ws://", "http://"),
        websocket_base_url=url,
    )
    turns = []
    try:
        async with client.realtime.connect(model="voicedesk-offline") as conn:
            await conn.session.update(session={
                "type": "realtime", "instructions": "Customer being helped: maria",
                "tools": tools, "audio": {"input": {"turn_detection": {
                    "type": "server_vad", "silence_duration_ms": silence_ms}}}})  # fmt: skip
            said = [speech(engine, q) for q in QUESTIONS]
            await one_turn(conn, *said[0], silence_s=1.5)  # warm: first-run allocations
            runs_before = engine.stt.transcriptions
            for n in range(runs):
                engine.stt.forget()  # each turn is really heard
                turns.append(await one_turn(conn, *said[n % len(said)], silence_s=1.5))
        whisper_runs = engine.stt.transcriptions - runs_before
    finally:
        close()
    firsts = [t["first_audio_s"] for t in turns]
    return {
        "live_first_sound_s_median": round(median(firsts), 3),
        "cpu_s_median": round(median([t["cpu_s"] for t in turns]), 3),
        "load_average": os.getloadavg()[0],
        "silence_duration_ms": silence_ms,
        "whisper_runs_per_turn": round(whisper_runs / max(1, runs), 2),
        "cpu_count": os.cpu_count(),
        "turns": turns,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """For `python -m bench`: the figure `live_first_sound_s_median`, the rest as details."""
    return asyncio.run(measure(3 if quick else 6, 500))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--silence-ms", type=int, default=500)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.runs, args.silence_ms)), indent=2))


if __name__ == "__main__":
    main()
