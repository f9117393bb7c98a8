"""Accept a WAV recording as browsers, phones and people produce it, and normalise it.

`normalise()` turns whatever arrived into one canonical form (RIFF WAV, mono, 16-bit PCM,
16 kHz, 44-byte header) or refuses it with an `AudioError` whose `sentence` can be shown to
the user as is. Reading and writing WAV is the project's one codec, `wavcodec`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from wavcodec import (  # noqa: F401  (re-exported: the engine's callers know them from here)
    SENTENCES,
    TARGET_RATE,
    AudioError,
    _decode,
    _parse,
    _to_int16,
    read_wav_pcm,
    resample,
    wav_bytes,
)

# Silence. A muted microphone, a wrong capture device or dithered digital silence stays within a
# few LSB of 16-bit (about -90 dBFS RMS). Quiet but real speech from a far or low-gain
# microphone sits around -60..-40 dBFS RMS. So a 20 ms frame counts as sound when its RMS (about
# its own mean, so DC offset and rumble do not count) exceeds -70 dBFS, ~10 LSB of 16-bit; a
# recording needs 100 ms of such frames (a click or a button thump is shorter) or it is silent.
# Everything above that is gain-normalised rather than refused.
FRAME_SECONDS = 0.02
ACTIVE_FRAME_RMS = 10 ** (-70 / 20)
ACTIVE_MIN_SECONDS = 0.1

# Level. Recordings peaking under -6 dBFS are raised to it (at most +60 dB); floats over full
# scale are brought under it. Anything already in between is left bit-exact, so normalising a
# normalised recording returns the same bytes (and the same sha256 for the transcription cache).
TARGET_PEAK = 0.5
MAX_GAIN = 1000.0
FULL_SCALE_PEAK = 0.999
DC_LIMIT = 2**-10  # ~ -60 dBFS: smaller offsets are harmless and left alone unless we apply gain


@dataclass(frozen=True)
class Recording:
    wav: bytes  # RIFF WAV, mono, 16-bit PCM, TARGET_RATE, 44-byte header
    seconds: float
    rms: float  # of the normalised signal, 0..1 of full scale
    sha256: str  # of `wav`
    source_rate: int
    source_channels: int
    source_format: str  # "pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64", "mulaw", "alaw"
    gain_db: float = 0.0  # level change applied while normalising


# ---------------------------------------------------------------------------------------------
# Normalising


def normalise(data: bytes, *, max_seconds: float = 60.0, min_seconds: float = 0.3) -> Recording:
    """Validate a WAV recording and return it as mono 16-bit 16 kHz, level-normalised.

    Raises AudioError (codes: empty, not_audio, unsupported_encoding, no_channels, too_short,
    too_long, silent, malformed). Length checks come before decoding, so refusals are cheap.
    """
    fmt, body = _parse(data)
    frames = len(body) // fmt.frame_bytes  # a truncated last frame is dropped
    if frames == 0:
        raise AudioError("empty", detail="no complete sample frame")
    seconds = frames / fmt.rate
    if seconds < min_seconds:
        raise AudioError(
            "too_short",
            f"The recording is only {_say_seconds(seconds)} long; please record your question "
            f"again, speaking for at least {_say_seconds(max(min_seconds, 1.0))}.",
            detail=f"{seconds:.3f} s",
        )
    if seconds > max_seconds:
        raise AudioError(
            "too_long",
            f"The recording is {_say_seconds(seconds)} long, over the limit of "
            f"{_say_seconds(max_seconds)}; please ask a shorter question.",
            detail=f"{seconds:.3f} s",
        )
    y = resample(_decode(fmt, body, frames), fmt.rate)
    if y.size == 0:
        raise AudioError("too_short", detail="nothing left after resampling")
    if _is_silent(y):
        raise AudioError("silent", detail="no 100 ms above -70 dBFS")
    y, gain = _level(y)
    pcm = _to_int16(y)
    wav = wav_bytes(pcm, TARGET_RATE)
    rms = math.sqrt(float(np.mean(np.square(pcm, dtype=np.float64)))) / 32768.0
    return Recording(
        wav=wav,
        seconds=len(pcm) / TARGET_RATE,
        rms=rms,
        sha256=hashlib.sha256(wav).hexdigest(),
        source_rate=fmt.rate,
        source_channels=fmt.channels,
        source_format=fmt.name,
        gain_db=round(20 * math.log10(gain), 2) if gain > 0 else 0.0,
    )


def _is_silent(y: np.ndarray) -> bool:
    size = max(1, int(FRAME_SECONDS * TARGET_RATE))
    frames = y[: len(y) // size * size].reshape(-1, size) if len(y) >= size else y.reshape(1, -1)
    active = np.count_nonzero(frames.std(axis=1) > ACTIVE_FRAME_RMS) * frames.shape[1]
    needed = min(ACTIVE_MIN_SECONDS, 0.5 * len(y) / TARGET_RATE) * TARGET_RATE
    return active < max(needed, 1)


def _level(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Remove DC and set the level when needed; leave well-levelled recordings untouched."""
    peak = float(np.max(np.abs(y)))
    mean = float(np.mean(y, dtype=np.float64))
    # The 0.98 margin keeps a second pass over our own output from nudging it again.
    quiet = peak < 0.98 * TARGET_PEAK
    if quiet or peak > 1.0 or abs(mean) > DC_LIMIT:
        y = y - np.float32(mean)
        peak = float(np.max(np.abs(y)))
        quiet = peak < 0.98 * TARGET_PEAK
    gain = 1.0
    if peak > 1.0:
        gain = FULL_SCALE_PEAK / peak
    elif quiet and peak > 0:
        gain = min(TARGET_PEAK / peak, MAX_GAIN)
    if gain != 1.0:
        y = y * np.float32(gain)
    return y, gain


def _say_seconds(s: float) -> str:
    """Durations as people say them: "0.01 seconds", "1 second", "45 seconds", "10 minutes"."""
    if s >= 120:
        value, unit = s / 60, "minute"
    else:
        value, unit = s, "second"
    digits = 2 if value < 1 else 1 if value < 10 else 0
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} {unit}" + ("" if text == "1" else "s")
