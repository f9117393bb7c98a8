"""What the Realtime tests share: a recorder of server events that checks each against OpenAI's
published schema, stand-in hearing and voices, and speech to stream (espeak-ng, at 24 kHz)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from localspeech.engine import OfflineEngine
from localspeech.realtime import RealtimeSession
from localspeech.stt import SpeechToText, Transcript
from localspeech.tts import TextToSpeech
from tests.contracts.openai_realtime import client_event_errors, server_event_errors
from tests.localspeech.cases import tool_schemas
from tests.localspeech.doubles import ToneSpeaker
from wavcodec import decode_wav, duration_s

RATE = 24_000
CHUNK_MS = 40
LONG_ANSWER = (
    "Withdrawals reach your bank in three to five days. Card payouts are quicker. "
    "You can follow each one in the wallet. Large sums may be checked first. "
    "Support can speed up a late one. Write to us if it takes longer than a week."
)


def sdk(url: str, api_key: str = "offline") -> openai.AsyncOpenAI:
    """The openai SDK client the live mode uses, on a `start_loopback()` URL."""
    return openai.AsyncOpenAI(
        api_key=api_key, base_url=url.replace("ws://", "http://"), websocket_base_url=url
    )


def realtime_tools() -> list[dict[str, Any]]:
    """The project's tools as Realtime function tools (flat, not nested under `function`)."""
    return [{"type": "function", **tool["function"]} for tool in tool_schemas()]


class HearsAs(SpeechToText):
    """Hears any recording as the script it is given (the VAD, buffers and protocol are real)."""

    def __init__(self, script: str, delay_s: float = 0.0):
        super().__init__({"GRV"}, loader=lambda: "scripted")
        self.script = script
        self.delay_s = delay_s
        self.heard: list[float] = []  # seconds of each recording it was given

    def _run(self, wav: bytes) -> Transcript:
        time.sleep(self.delay_s)
        self.heard.append(duration_s(wav))
        return Transcript(self.script, self.script, duration_s(wav), 1.0)


class SlowTone(ToneSpeaker):
    """A tone voice that takes `delay_s` to say each sentence: time to cancel or interrupt."""

    def __init__(self, delay_s: float):
        self.delay_s = delay_s

    def wav(self, text: str) -> bytes:
        time.sleep(self.delay_s)
        return super().wav(text)


def scripted(
    script: str = "How many games did I play?", delay_s: float = 0.0, hear_s: float = 0.0
) -> OfflineEngine:
    """An engine that hears `script` (taking `hear_s`) and says each sentence after `delay_s`."""
    return OfflineEngine(
        stt=HearsAs(script, hear_s), tts=TextToSpeech(loader=lambda: SlowTone(delay_s))
    )


class Recorder:
    """The `send` of a session: keeps every event, and every way one breaks the schema."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.contract_errors: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        wire = json.loads(json.dumps(event))  # what a client would read
        errors = server_event_errors(wire)
        with self._cond:
            self.contract_errors += [f"{wire.get('type')}: {e}" for e in errors]
            self.events.append(wire)
            self._cond.notify_all()

    def wait_for(self, kind: str, timeout: float = 60.0, after: int = 0, **fields) -> dict:
        """The first event of `kind` (with these field values) from index `after` on."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                        return event
                left = deadline - time.monotonic()
                assert left > 0, f"no {kind} within {timeout} s; got {self.types()}"
                self._cond.wait(left)

    def types(self, after: int = 0) -> list[str]:
        with self._cond:
            return [e["type"] for e in self.events[after:]]

    def index(self, event: dict[str, Any]) -> int:
        with self._cond:
            return next(i for i, e in enumerate(self.events) if e is event)


def client(session: RealtimeSession, event: dict[str, Any], *, valid: bool = True) -> None:
    """Send a client event; a well-formed one is first checked against the published schema."""
    if valid:
        assert client_event_errors(event) == [], event["type"]
    session.receive(json.dumps(event))


def append(session: RealtimeSession, pcm: bytes, pace_s: float = 0.0) -> None:
    """Stream PCM16 24 kHz as 40 ms `input_audio_buffer.append` events."""
    step = RATE * 2 * CHUNK_MS // 1000
    for start in range(0, len(pcm), step):
        chunk = base64.b64encode(pcm[start : start + step]).decode("ascii")
        client(session, {"type": "input_audio_buffer.append", "audio": chunk})
        if pace_s:
            time.sleep(pace_s)


def silence(seconds: float) -> bytes:
    return bytes(int(RATE * seconds) * 2)


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


@cache
def spoken(text: str) -> bytes:
    """`text` said by espeak-ng, as PCM16 mono at 24 kHz (the Realtime input format)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "said.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us+m3", "-s", "145", "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        return pcm16(decode_wav(out.read_bytes(), RATE))


def require_voice_detection() -> None:
    """The VAD model ships with faster-whisper; speech is made with espeak-ng."""
    import importlib.util

    missing = [p for p in ("faster_whisper", "onnxruntime") if importlib.util.find_spec(p) is None]
    missing += [] if shutil.which("espeak-ng") else ["espeak-ng"]
    if not missing:
        return
    message = "voice detection needs: " + ", ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must install it)")
    pytest.skip(message)
