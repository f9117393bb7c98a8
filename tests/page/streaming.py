"""A turn engine that answers as a streaming voice mode will: the question heard, then the
answer's text and its audio (PCM16 mono 24 kHz) piece by piece, slowly, honouring
`on_event.cancel`. It stands in for the engine until the real one streams, so the page's side
is tested against the contract in assistant/models.py. It logs the wall-clock time of each audio
chunk it sends (to `VOICEDESK_TEST_STREAM_LOG`, one JSON line each) so a browser test can tell
whether the page played the first chunk before the last one was generated."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import TurnError
from assistant.history import Conversation
from assistant.models import ANSWER_SAMPLE_RATE, Event, Reply, Stage, Usage
from tests import audio_factory

HEARD = "How many games did I play this week?"
ANSWER = "Maria Lopez played five games this week, and won three of them."
FAILING = "fail"  # a typed question containing this word fails, as an unreachable model does
UNREACHABLE = "The model could not be reached; press Try again."


@dataclass
class Pace:
    first_chunk_s: float = 0.4  # "thinking" before the first audio
    chunks: int = 12
    chunk_s: float = 0.25  # audio in each chunk
    every_s: float = 0.2  # time between chunks (faster than real time, as models are)


def answer_pcm(seconds: float, freq: float = 330.0) -> bytes:
    """A clearly audible tone with a slow swell, PCM16 at 24 kHz."""
    count = int(ANSWER_SAMPLE_RATE * seconds)
    samples = array("h", (
        int(12000 * math.sin(2 * math.pi * freq * i / ANSWER_SAMPLE_RATE)
            * (0.6 + 0.4 * math.sin(2 * math.pi * 2 * i / ANSWER_SAMPLE_RATE)))
        for i in range(count)
    ))  # fmt: skip
    return samples.tobytes()


class StreamingEngine:
    """`ask` as TurnEngine's, answering every question with ANSWER, streamed at `pace`."""

    def __init__(self, pace: Pace | None = None, log_path: str | None = None):
        self.pace = pace or Pace()
        self.log_path = log_path if log_path is not None else os.environ.get(
            "VOICEDESK_TEST_STREAM_LOG"
        )
        self.lock = threading.Lock()
        self.cancelled = 0  # answers stopped by the page before their end

    def ask(
        self, conversation: Conversation, *, audio=None, text=None, voice=None, customer=None,
        agent=None, on_event=None, grants=None,
    ) -> Reply:  # fmt: skip
        emit = on_event or (lambda event: None)
        cancel = getattr(on_event, "cancel", None)
        started = time.perf_counter()
        emit(Event("stage_start", "understand", "Understanding the question"))
        heard = text or HEARD
        if text and FAILING in text.lower():
            time.sleep(self.pace.first_chunk_s)
            raise TurnError(UNREACHABLE, code="unreachable", retryable=True)
        if audio is not None:
            emit(Event("heard", "transcribe", "Heard", data=heard))
        time.sleep(self.pace.first_chunk_s)
        emit(Event("stage_end", "understand", "Understanding the question", ms=1.0))
        emit(Event("stage_start", "answer", "Speaking the answer"))
        words = ANSWER.split(" ")
        pcm = answer_pcm(self.pace.chunk_s * self.pace.chunks)
        size = len(pcm) // self.pace.chunks // 2 * 2
        sent = bytearray()
        for number in range(self.pace.chunks):
            if cancel is not None and cancel.is_set():
                with self.lock:
                    self.cancelled += 1
                break
            share = words[number * len(words) // self.pace.chunks:
                          (number + 1) * len(words) // self.pace.chunks]  # fmt: skip
            if share:
                emit(Event("text_delta", "answer", "", data=" ".join(share) + " "))
            chunk = pcm[number * size:(number + 1) * size]
            self._log(number, len(chunk))
            emit(Event("audio_chunk", "answer", "", data=chunk))
            sent += chunk
            time.sleep(self.pace.every_s)
        ms = (time.perf_counter() - started) * 1000
        emit(Event("stage_end", "answer", "Speaking the answer", ms=ms))
        reply = Reply(
            input_transcript=heard, transcript=ANSWER,
            audio_wav=audio_factory.wav(bytes(sent), rate=ANSWER_SAMPLE_RATE),
            audio_id=None, expires_at=None, tool_calls=[],
            stages=[Stage("answer", "Speaking the answer", ms)], usage=Usage(),
            provider="offline", model="streaming-test", customer=customer,
        )  # fmt: skip
        conversation.add(heard, reply, spoken=audio is not None, audio=audio)
        return reply

    def _log(self, number: int, size: int) -> None:
        if not self.log_path:
            return
        line = {"chunk": number, "of": self.pace.chunks, "bytes": size, "wall": time.time()}
        with self.lock, open(self.log_path, "a") as log:
            log.write(json.dumps(line) + "\n")


def chunks_sent(log_path) -> list[dict]:
    """The chunks logged so far (see `StreamingEngine._log`), oldest first."""
    path = Path(log_path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


_shared: StreamingEngine | None = None


def shared_engine() -> StreamingEngine:
    """One engine for the whole test server (the page script runs anew on every rerun)."""
    global _shared
    if _shared is None:
        _shared = StreamingEngine(Pace(**json.loads(os.environ.get("VOICEDESK_TEST_PACE", "{}"))))
    return _shared
