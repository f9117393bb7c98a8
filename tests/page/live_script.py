"""A scripted LiveSession for the page's tests (a double of assistant/live's sessions, following
assistant/live/base.py): it hears with a plain energy gate over the PCM it is sent, and answers
each question heard with a tone streamed faster than real time, as a realtime service does.
Speech while an answer is still playing (by its length) is an interruption: `interrupted`,
then the next question. Finished answers are added to the conversation, as the engine's live
session does.

For the browser test it logs what it received and did (one JSON line each, wall-clock time) to
`VOICEDESK_TEST_LIVE_LOG`; `open_scripted` is the opener the test's serve file hands the relay.
Unit tests drive it by hand instead: `push` any event, read `frames`, `played_reports`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from assistant.history import Conversation
from assistant.live.base import LIVE_SAMPLE_RATE, LiveEvent, UpstreamClosed
from assistant.models import Reply, Stage, Usage
from tests import audio_factory
from tests.page.streaming import answer_pcm

SPEECH_RMS = 300  # int16 RMS above which a frame is speech
END_SILENCE_S = 0.5  # this much quiet after speech ends the question (counted in samples)
QUESTIONS = (
    "How many games did I play this week?",
    "And how many did I win?",
    "Tell me about each of them.",
    "Wait, what about yesterday?",
)
ANSWERS = (
    "You played <b>five</b> games this week.",  # shown as written, never as HTML
    "You won three of them.",
    "On Monday you won in twelve moves, on Wednesday in thirty, and on Friday on time.",
    "Yesterday you played one game, and won it.",
)


@dataclass
class LivePace:
    answer_s: list[float] = field(default_factory=lambda: [1.5, 4.0, 2.0])  # audio per answer
    chunk_s: float = 0.1  # audio in each chunk
    every_s: float = 0.04  # between chunks (faster than real time)
    think_s: float = 0.3  # "looking up" before the first chunk
    interrupts: bool = True  # False: deaf to speech over an answer (only the tab's gate hears)


def rms(pcm: bytes) -> float:
    samples = array("h", pcm[: len(pcm) // 2 * 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


class ScriptedSession:
    def __init__(
        self,
        conversation: Conversation,
        *,
        customer: str | None = None,
        pace: LivePace | None = None,
        log_path: str | None = None,
        name: str = "live",
        listen: bool = True,
    ):
        self.conversation = conversation
        self.customer = customer
        self.pace = pace or LivePace()
        self.log_path = log_path
        self.name = name
        self.listen = listen  # False: a unit test pushes every event itself
        self.frames: list[bytes] = []
        self.played_reports: list[tuple[str, int]] = []
        self.closed = False
        self.turn = 0
        self._queue: asyncio.Queue[LiveEvent | Exception | None] = asyncio.Queue()
        self._speaking = False
        self._quiet_samples = 0
        self._answer: asyncio.Task | None = None
        self._item: str | None = None
        self._playing_until = 0.0  # wall time the current answer ends playing in the tab
        self.push(LiveEvent("state", "listening"))

    # --- the protocol ---

    async def send_audio(self, pcm16: bytes) -> None:
        self.frames.append(pcm16)
        level = rms(pcm16)
        self._log(frame=len(self.frames), bytes=len(pcm16), rms=round(level))
        if self.listen:
            self._hear(pcm16, level)

    async def events(self):
        while True:
            event = await self._queue.get()
            if event is None:
                return
            if isinstance(event, Exception):  # see `fail`
                raise event
            yield event

    async def played(self, item_id: str, audio_end_ms: int) -> None:
        self.played_reports.append((item_id, audio_end_ms))
        self._log(played=item_id, ms=audio_end_ms)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._answer is not None:
            self._answer.cancel()
        self._log(closed=True, frames=len(self.frames))
        self._queue.put_nowait(None)

    # --- for tests ---

    def push(self, event: LiveEvent | None) -> None:
        self._queue.put_nowait(event)

    def fail(self, error: Exception) -> None:
        """The session breaks: `events` raises `error` (after what was pushed before)."""
        self._queue.put_nowait(error)

    # --- hearing and answering ---

    def _hear(self, pcm16: bytes, level: float) -> None:
        loud = level > SPEECH_RMS
        answering = self._answer is not None and not self._answer.done()
        answering = answering or time.time() < self._playing_until
        if answering and not self.pace.interrupts:
            return
        if loud and not self._speaking:
            self._speaking, self._quiet_samples = True, 0
            if answering:
                self._interrupt()
            self._log(speech_start=self.turn)
            self.push(LiveEvent("state", "hearing"))
        elif self._speaking:
            self._quiet_samples = 0 if loud else self._quiet_samples + len(pcm16) // 2
            if self._quiet_samples >= END_SILENCE_S * LIVE_SAMPLE_RATE:
                self._speaking = False
                self._log(speech_end=self.turn)
                self._answer = asyncio.create_task(self._answer_turn(self.turn))
                self.turn += 1

    def _interrupt(self) -> None:
        if self._answer is not None:
            self._answer.cancel()
        self._playing_until = 0.0
        self._log(interrupted=self._item)
        self.push(LiveEvent("interrupted", item_id=self._item))

    async def _answer_turn(self, number: int) -> None:
        heard = QUESTIONS[number % len(QUESTIONS)]
        answer = ANSWERS[number % len(ANSWERS)]
        seconds = self.pace.answer_s[number % len(self.pace.answer_s)]
        item = self._item = f"{self.name}-item-{number}"
        half = heard[: len(heard) // 2]
        self.push(LiveEvent("heard_delta", half))
        self.push(LiveEvent("heard", heard))
        self.push(LiveEvent("state", "looking_up"))
        await asyncio.sleep(self.pace.think_s)
        self.push(LiveEvent("state", "speaking"))
        pcm = answer_pcm(seconds, freq=300.0 + 60 * number)
        size = int(self.pace.chunk_s * LIVE_SAMPLE_RATE) * 2
        pieces = [pcm[i : i + size] for i in range(0, len(pcm), size)]
        words = answer.split(" ")
        started = time.time()
        self._playing_until = started + seconds + 0.3
        self._log(answer_start=item)
        for index, piece in enumerate(pieces):
            share = words[index * len(words) // len(pieces) : (index + 1) * len(words) // len(pieces)]
            if share:
                self.push(LiveEvent("answer_delta", " ".join(share) + " ", item_id=item))
            self.push(LiveEvent("audio", audio=piece, item_id=item))
            await asyncio.sleep(self.pace.every_s)
        reply = Reply(
            input_transcript=heard, transcript=answer,
            audio_wav=audio_factory.wav(pcm, rate=LIVE_SAMPLE_RATE), audio_id=None,
            expires_at=None, tool_calls=[], stages=[Stage("answer", "Speaking the answer", 1.0)],
            usage=Usage(), provider="offline", model="live-test", customer=self.customer,
        )  # fmt: skip
        self.conversation.add(heard, reply, spoken=True)
        self._log(answer_done=item)
        self.push(LiveEvent("answer_done", reply=reply, item_id=item))
        await asyncio.sleep(max(0.0, self._playing_until - time.time()))
        self.push(LiveEvent("state", "listening"))

    def _log(self, **line) -> None:
        if not self.log_path:
            return
        line["wall"] = time.time()
        with open(self.log_path, "a") as out:
            out.write(json.dumps(line) + "\n")


OPEN_REFUSED = "The live service refused the key; check OPENAI_API_KEY and try again."
_opened = 0


async def open_scripted(ticket) -> ScriptedSession:
    """The opener the browser test's server hands the relay (see tests/page/live_serve.py).
    VOICEDESK_TEST_LIVE_PACE sets the pace (and `open_s`, the time opening takes);
    VOICEDESK_TEST_LIVE_SESSIONS, how many open before the service refuses (as a bad key)."""
    global _opened
    settings = json.loads(os.environ.get("VOICEDESK_TEST_LIVE_PACE", "{}"))
    await asyncio.sleep(settings.pop("open_s", 0.0))
    _opened += 1
    if _opened > int(os.environ.get("VOICEDESK_TEST_LIVE_SESSIONS", "1000")):
        raise UpstreamClosed(OPEN_REFUSED, retryable=False)
    pace = LivePace(**settings)
    return ScriptedSession(
        ticket.conversation, customer=ticket.customer, pace=pace,
        log_path=os.environ.get("VOICEDESK_TEST_LIVE_LOG"),
    )  # fmt: skip


def logged(log_path) -> list[dict]:
    path = Path(log_path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
