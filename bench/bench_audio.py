"""How long `assistant.audio.normalise` takes on typical and hostile inputs. Prints figures.

python bench/bench_audio.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from audio_factory import (  # noqa: E402
    FLOAT,
    MULAW,
    float32,
    mulaw,
    pcm16,
    speech_like,
    stereo,
    wav,
)

from assistant import audio  # noqa: E402


def timed(data: bytes, repeat: int) -> tuple[float, str]:
    """Median milliseconds of `repeat` runs, and the outcome."""
    times, outcome = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            audio.normalise(data)
            outcome = "accepted"
        except audio.AudioError as exc:
            outcome = exc.code
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), outcome


def main() -> None:
    s48 = speech_like(60, 48000)
    s44 = speech_like(60, 44100)
    s16 = speech_like(60, 16000)
    rng = np.random.default_rng(1)
    cases = [
        ("60 s 48 kHz stereo pcm16", wav(pcm16(stereo(s48, s48)), channels=2, rate=48000), 9),
        ("60 s 44.1 kHz stereo pcm16", wav(pcm16(stereo(s44, s44)), channels=2, rate=44100), 9),
        ("60 s 48 kHz mono float32", wav(float32(s48), tag=FLOAT, bits=32, rate=48000), 9),
        ("60 s 16 kHz mono pcm16 (browser)", wav(pcm16(s16)), 9),
        (
            "60 s 8 kHz mu-law (phone)",
            wav(mulaw(speech_like(60, 8000)), tag=MULAW, rate=8000, bits=8),
            9,
        ),
        ("5 s 16 kHz mono pcm16", wav(pcm16(s16[: 5 * 16000])), 21),
        ("refuse: 1 MB random bytes", rng.integers(0, 256, 2**20, dtype=np.uint8).tobytes(), 101),
        ("refuse: JSON text", b'{"audio": "question.wav"}', 101),
        ("refuse: MP3 bytes", b"ID3\x04" + bytes(100_000), 101),
        ("refuse: 10 min 48 kHz stereo", wav(bytes(600 * 48000 * 4), channels=2, rate=48000), 101),
        ("refuse: 60 s digital silence 48k", wav(bytes(60 * 48000 * 2), rate=48000), 9),
    ]
    print(f"resampler: {'soxr ' + audio._soxr.__version__ if audio._soxr else 'numpy FFT'}")
    for name, data, repeat in cases:
        ms, outcome = timed(data, repeat)
        print(f"{name:36s} {len(data) / 1e6:7.2f} MB  {ms:8.3f} ms  {outcome}")
    if audio._soxr is not None:  # the fallback, for when soxr is not installed
        saved, audio._soxr = audio._soxr, None
        try:
            ms, outcome = timed(cases[0][1], 5)
            print(f"{'60 s 48k stereo, numpy FFT fallback':36s} {'':10s} {ms:8.3f} ms  {outcome}")
            ms, outcome = timed(cases[1][1], 5)
            print(f"{'60 s 44.1k stereo, numpy FFT fallback':36s} {'':10s} {ms:8.3f} ms  {outcome}")
        finally:
            audio._soxr = saved


if __name__ == "__main__":
    main()
