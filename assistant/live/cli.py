"""`python -m assistant live FILE.wav ...`: recordings spoken into one live session, in real time.

Each recording streams in 20 ms chunks paced by the clock, as a microphone would send it; then
quiet (silence, still paced) until its answer has been heard, a second more, and the next one.
Each answer prints as `ask` prints it (`--json`: the same keys, plus `first_sound_s`: from the
end of that question's speech to the first answer audio).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.config import Settings
from assistant.live.base import LIVE_SAMPLE_RATE, LiveEvent
from assistant.models import Reply

CHUNK_S = 0.02
CHUNK_BYTES = int(LIVE_SAMPLE_RATE * CHUNK_S) * 2
GAP_S = 1.0  # of silence between recordings
ANSWER_WAIT_S = 60.0  # for one answer, after its question has been spoken
LOUD_RMS = 10 ** (-50 / 20)  # a chunk louder than -50 dBFS is speech (for first_sound_s)


class LiveFailure(Exception):
    """The command cannot run; the message is the sentence to print."""


@dataclass
class _Heard:
    """What the session said, as it said it (filled by one task, read by the other)."""

    answers: list[tuple[Reply, float | None]] = field(default_factory=list)  # reply, first audio
    first_audio: float | None = None
    closed: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def read_recordings(paths: list[Path]) -> list[bytes]:
    """Each file as PCM16 mono 24 kHz; LiveFailure with one sentence when one cannot be read."""
    from wavcodec import AudioError, decode_wav

    recordings = []
    for path in paths:
        try:
            samples = decode_wav(path.read_bytes(), LIVE_SAMPLE_RATE)
        except OSError as exc:
            raise LiveFailure(f"Cannot read {path}: {exc.strerror or 'unreadable'}.") from None
        except AudioError as exc:
            raise LiveFailure(f"{path}: {exc.sentence}") from None
        pcm = np.clip(np.rint(samples * 32767), -32768, 32767).astype("<i2").tobytes()
        recordings.append(pcm)
    return recordings


def check_local_engine(settings: Settings) -> None:
    from assistant.live.factory import NO_LOCAL_REALTIME, live_provider

    local = live_provider(settings) == "offline"
    if local and importlib.util.find_spec("localspeech.realtime_server") is None:
        raise LiveFailure(NO_LOCAL_REALTIME)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.binding import valid_customer
    from assistant.history import Conversation
    from assistant.service import build_engine

    try:
        customer = valid_customer(args.customer or settings.voicedesk_customer)
    except ValueError as exc:
        raise LiveFailure(str(exc)) from None
    recordings = read_recordings(args.files)
    check_local_engine(settings)
    engine = build_engine(settings)
    conversation = Conversation(customer=customer)
    return asyncio.run(_converse(engine, conversation, recordings, args))


async def _converse(engine, conversation, recordings: list[bytes], args) -> int:
    from assistant.live.factory import open_live_session

    session = await open_live_session(engine, conversation, voice=args.voice)
    heard = _Heard()
    listening = asyncio.ensure_future(_listen(session, heard))
    mic = _Microphone(session)
    failures = 0
    try:
        for number, pcm in enumerate(recordings, start=1):
            if heard.closed is not None:  # the session ended: this one is not asked
                failures += 1
                if args.json:
                    print(json.dumps({"error": heard.closed}), flush=True)
                continue
            spoke_at = await mic.say(pcm)
            answer = await _answer(heard, mic, number)
            if answer is None:
                failures += 1
                sentence = "No answer came for this recording; the session went on."
                if heard.closed is None:
                    print(f"{args.files[number - 1]}: {sentence}", file=sys.stderr)
                if args.json:
                    print(json.dumps({"error": heard.closed or sentence}), flush=True)
                continue
            reply, first_audio = answer
            failures += _show(reply, first_audio, spoke_at, number, args)
            await mic.quiet(GAP_S)
    finally:
        await session.close()
        await asyncio.wait_for(listening, 10)
    return 1 if failures else 0


class _Microphone:
    """Sends PCM at the pace it would be spoken."""

    def __init__(self, session) -> None:
        self.session = session
        self.loop = asyncio.get_running_loop()
        self.next_at = self.loop.time()

    async def _send(self, chunk: bytes) -> None:
        self.next_at = max(self.next_at + CHUNK_S, self.loop.time() - CHUNK_S)
        await self.session.send_audio(chunk)
        await asyncio.sleep(max(0.0, self.next_at - self.loop.time()))

    async def say(self, pcm: bytes) -> float:
        """Stream a recording; the moment its last speech was sent."""
        spoke_at = self.loop.time()
        for start in range(0, len(pcm), CHUNK_BYTES):
            chunk = pcm[start : start + CHUNK_BYTES]
            await self._send(chunk)
            samples = np.frombuffer(chunk[: len(chunk) // 2 * 2], "<i2") / 32768
            if samples.size and float(np.sqrt(np.mean(samples**2))) > LOUD_RMS:
                spoke_at = self.loop.time()
        return spoke_at

    async def quiet(self, seconds: float) -> None:
        for _ in range(round(seconds / CHUNK_S)):
            await self._send(bytes(CHUNK_BYTES))


async def _answer(heard: _Heard, mic: _Microphone, number: int):
    """Quiet until answer `number` has arrived and been played in full (or the wait is over)."""
    deadline = mic.loop.time() + ANSWER_WAIT_S
    while mic.loop.time() < deadline and heard.closed is None:
        if len(heard.answers) >= number:
            reply, first_audio = heard.answers[number - 1]
            played_until = (first_audio or 0.0) + _seconds(reply)
            if mic.loop.time() >= played_until:
                return reply, first_audio
        await mic.quiet(0.1)
    return heard.answers[number - 1] if len(heard.answers) >= number else None


async def _listen(session, heard: _Heard) -> None:
    loop = asyncio.get_running_loop()
    event: LiveEvent
    said = ""
    async for event in session.events():
        if event.kind == "audio" and event.item_id is not None and heard.first_audio is None:
            heard.first_audio = loop.time()
        elif event.kind == "answer_done" and event.reply is not None:
            heard.answers.append((event.reply, heard.first_audio))
            heard.first_audio = None
        elif event.kind == "error":
            print(event.text, file=sys.stderr, flush=True)
            said = event.text
        elif event.kind == "closed" and event.text != "closed":
            heard.closed = event.text
            if event.text != said:  # idle or too long: said once, like an error
                print(event.text, file=sys.stderr, flush=True)


def _seconds(reply: Reply) -> float:
    return max(0, len(reply.audio_wav) - 44) / 2 / LIVE_SAMPLE_RATE


def _show(reply: Reply, first_audio: float | None, spoke_at: float, number: int, args) -> int:
    """Print one answer (and save its audio); 1 when its audio could not be saved."""
    from assistant.files import WriteError, write_inside

    audio_file, failed = None, 0
    if args.out and reply.audio_wav:
        try:
            audio_file = str(
                write_inside(args.out, f"live-reply-{number:02d}.wav", reply.audio_wav)
            )
        except WriteError as exc:
            print(f"The spoken answer was not saved: {exc}.", file=sys.stderr)
            failed = 1
    first_sound = None if first_audio is None else round(max(0.0, first_audio - spoke_at), 3)
    if args.json:
        print(json.dumps({**reply.as_json(audio_file), "first_sound_s": first_sound},
                         ensure_ascii=False), flush=True)  # fmt: skip
        return failed
    if reply.input_transcript:
        print(f"You: {reply.input_transcript}")
    for call in reply.tool_calls:
        print(f"  [{call.name} {'ok' if call.ok else 'failed'}, {call.ms:.0f} ms] {call.summary}")
    print(f"VoiceDesk: {reply.transcript}")
    if first_sound is not None:
        print(f"  (first sound {first_sound:.2f} s after you stopped speaking)")
    if audio_file:
        print(f"  (spoken answer saved to {audio_file})")
    print()
    return failed
