"""WAV bytes in and out: decode any PCM WAV to 16 kHz mono float32, encode 16-bit mono WAV."""

from __future__ import annotations

import io
import wave

import numpy as np

WHISPER_RATE = 16_000


class AudioError(ValueError):
    """The audio cannot be used. The message is one plain sentence."""


def decode_wav(data: bytes, rate: int = WHISPER_RATE) -> np.ndarray:
    """PCM WAV bytes (8/16/32-bit, any rate, any channels) -> mono float32 at `rate`."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels, width, src_rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError("The audio is not a PCM WAV file.") from exc
    if width == 1:
        samples = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        samples = np.frombuffer(frames, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise AudioError("The audio uses an unsupported sample width; send 16-bit PCM WAV.")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return resample(samples, src_rate, rate)


def resample(samples: np.ndarray, src_rate: int, rate: int) -> np.ndarray:
    """soxr (band-limited, in requirements.txt) when installed, else linear interpolation."""
    if src_rate == rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    try:
        import soxr

        return soxr.resample(samples.astype(np.float32), src_rate, rate).astype(np.float32)
    except ImportError:
        pass
    count = int(round(len(samples) * rate / src_rate))
    positions = np.arange(count, dtype=np.float64) * (src_rate / rate)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """Mono float32 (-1..1) or int16 samples -> 16-bit PCM WAV bytes."""
    if samples.dtype != np.int16:
        samples = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return buf.getvalue()


def duration_s(data: bytes) -> float:
    """Length of a WAV in seconds (0.0 when it cannot be read)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            return wav.getnframes() / float(wav.getframerate() or 1)
    except (wave.Error, EOFError):
        return 0.0


def rms_dbfs(data: bytes) -> float:
    """Loudness of a WAV in dB full scale; about -inf for silence (used by tests and health checks)."""
    samples = decode_wav(data)
    if len(samples) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")
