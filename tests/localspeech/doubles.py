"""Stand-ins for the speech models, so protocol and engine tests run in milliseconds.

They replace only the model calls: the engine's transcript cache, single-flight, routing,
composition and the wire format all run for real.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from localspeech.engine import OfflineEngine
from localspeech.normalize import normalize
from localspeech.stt import SpeechToText, Transcript
from localspeech.tts import TextToSpeech
from wavcodec import decode_wav, duration_s, encode_wav


def tone_wav(seconds: float, freq: float = 220.0, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return encode_wav((0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)


class ToneSpeaker:
    """Speaks any text as a tone, 0.3 s a word."""

    engine = "tone"

    def wav(self, text: str) -> bytes:
        return tone_wav(0.3 * max(1, len(text.split())), rate=22_050)


class ScriptedHearing(SpeechToText):
    """Hears each registered recording as its script; counts real (uncached) runs."""

    def __init__(self, delay_s: float = 0.0):
        super().__init__({"GRV"}, loader=lambda: "scripted")
        self.scripts: dict[bytes, str] = {}
        self.delay_s = delay_s
        self.runs = 0
        self._runs_lock = threading.Lock()

    def recording(self, text: str, seconds: float = 3.0) -> bytes:
        wav = tone_wav(seconds, freq=200 + len(self.scripts) * 7)
        self.scripts[wav] = text
        return wav

    def warm(self) -> None:
        self.model.get()

    def _run(self, wav: bytes) -> Transcript:
        self.model.get()
        decode_wav(wav)  # a broken recording fails here, as with the real model
        time.sleep(self.delay_s)
        with self._runs_lock:
            self.runs += 1
        raw = self.scripts.get(wav, "")
        return Transcript(normalize(raw, self.key_prefixes), raw, duration_s(wav), 1.0)


def scripted_engine(delay_s: float = 0.0) -> OfflineEngine:
    return OfflineEngine(
        stt=ScriptedHearing(delay_s), tts=TextToSpeech(loader=lambda: ToneSpeaker())
    )
