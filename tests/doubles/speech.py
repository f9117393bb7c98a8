"""WAV bytes for tests and doubles: real speech from espeak-ng when installed, else a tone."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import wave
from functools import lru_cache


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


@lru_cache(maxsize=64)
def speech_wav(text: str, *, voice: str = "en-us", words_per_minute: int = 165) -> bytes:
    """`text` spoken by espeak-ng as a mono 16-bit WAV (22050 Hz). Needs the espeak-ng binary."""
    done = subprocess.run(
        ["espeak-ng", "--stdout", "--stdin", "-v", voice, "-s", str(words_per_minute)],
        input=text.encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=30,
    )
    return _fix_stream_header(done.stdout)


def tone_wav(seconds: float = 0.6, *, hz: float = 440.0, rate: int = 16000) -> bytes:
    """A short sine tone as a mono 16-bit WAV: valid audio where no speech engine is installed."""
    count = int(seconds * rate)
    frames = struct.pack(
        f"<{count}h", *(int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(count))
    )
    return _wav(frames, rate)


def spoken_or_tone(text: str) -> bytes:
    return speech_wav(text) if have_espeak() else tone_wav()


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnframes() / reader.getframerate()


def _fix_stream_header(data: bytes) -> bytes:
    """espeak-ng --stdout streams, so its header claims a huge length; rewrite it honestly."""
    start = data.index(b"data") + 8
    fmt = data.index(b"fmt ") + 8
    channels, rate = struct.unpack("<HI", data[fmt + 2 : fmt + 8])
    if channels != 1:
        raise ValueError("espeak-ng produced audio with more than one channel")
    return _wav(data[start:], rate)


def _wav(frames: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames[: len(frames) // 2 * 2])
    return out.getvalue()
