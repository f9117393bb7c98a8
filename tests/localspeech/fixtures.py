"""Spoken test questions, synthesised on demand and cached on disk (nothing large is committed).

Two voices: Piper (en_US joe, natural) and espeak-ng (robotic). Each question is said by both;
its `variant` roughens one of the two: `slow` (sox tempo 0.8 / espeak-ng -s 115) or `noise`
(brown noise mixed in at 12 dB signal-to-noise). Output: 16 kHz mono 16-bit WAV, as the page
records.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from localspeech.normalize import normalize
from tests.localspeech.cases import Case, load_cases
from wavcodec import decode_wav, encode_wav

GENERATOR_VERSION = "3"  # bump to re-synthesise every cached recording
VOICES = ("piper", "espeak")
NOISE_SNR_DB = 12.0


@dataclass(frozen=True)
class SpokenCase:
    case: Case
    voice: str
    variant: str | None  # the roughening applied to this recording, if any

    @property
    def id(self) -> str:
        return f"{self.case.id}-{self.voice}" + (f"-{self.variant}" if self.variant else "")


def spoken_cases(cases: tuple[Case, ...] | None = None) -> list[SpokenCase]:
    """Every question in both voices; the variant goes to Piper and espeak-ng in turn."""
    out = []
    for i, case in enumerate(load_cases() if cases is None else cases):
        roughened = VOICES[i % 2]
        for voice in VOICES:
            out.append(SpokenCase(case, voice, case.variant if voice == roughened else None))
    return out


def missing_tools() -> list[str]:
    """System programs the generator needs and cannot find."""
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


class Synthesiser:
    """Makes (or reads from `cache_dir`) the 16 kHz WAV of a spoken case."""

    def __init__(self, cache_dir: Path, piper=None):
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._piper = piper  # a loaded PiperVoice, or None to load one when first needed

    def wav(self, spoken: SpokenCase) -> bytes:
        key = f"{GENERATOR_VERSION}|{spoken.voice}|{spoken.variant}|{spoken.case.text}"
        path = self.cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.wav"
        if not path.exists():
            data = self._make(spoken)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return path.read_bytes()

    def _make(self, spoken: SpokenCase) -> bytes:
        text = spoken.case.text
        if spoken.voice == "piper":
            raw = self._piper_wav(text)
        else:
            # en-us+m3 at 145 words a minute: the clearest espeak-ng voice for Whisper tiny.en
            # of those measured (12 % word errors against 19 % for plain en-us at 160).
            speed = "115" if spoken.variant == "slow" else "145"
            raw = _run_to_wav(["espeak-ng", "-v", "en-us+m3", "-s", speed, "-w", "{out}", text])
        tempo = ["tempo", "0.8"] if spoken.variant == "slow" and spoken.voice == "piper" else []
        data = _sox(raw, tempo)
        if spoken.variant == "noise":
            data = add_noise(data, NOISE_SNR_DB, seed=len(text))
        return data

    def _piper_wav(self, text: str) -> bytes:
        if self._piper is None:
            from localspeech.tts import PiperSpeaker

            self._piper = PiperSpeaker().voice
        from piper import SynthesisConfig

        # No sampling noise: the same recording on every machine, so the routing figure is
        # the same wherever the tests run.
        steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            self._piper.synthesize_wav(text, out, syn_config=steady)
        return buf.getvalue()


def _run_to_wav(command: list[str]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.wav")
        subprocess.run([c.replace("{out}", out) for c in command], check=True, capture_output=True)
        return Path(out).read_bytes()


def _sox(wav: bytes, effects: list[str]) -> bytes:
    """To 16 kHz mono 16-bit, with optional sox effects (tempo)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        src.write_bytes(wav)
        subprocess.run(
            # -D: no dither, so the same input gives the same bytes on every run
            ["sox", "-D", str(src), "-r", "16000", "-c", "1", "-b", "16", str(dst), *effects],
            check=True,
            capture_output=True,
        )
        return dst.read_bytes()


def add_noise(wav: bytes, snr_db: float, seed: int) -> bytes:
    """Brown (rumbling, room-like) noise at `snr_db` below the speech's power."""
    speech = decode_wav(wav)
    rng = np.random.default_rng(seed)
    brown = np.cumsum(rng.standard_normal(len(speech)))
    brown -= np.convolve(brown, np.ones(401) / 401, mode="same")  # keep it audible, not DC drift
    power = float(np.mean(speech**2))
    brown *= np.sqrt(power / 10 ** (snr_db / 10) / max(float(np.mean(brown**2)), 1e-12))
    return encode_wav(np.clip(speech + brown, -1, 1).astype(np.float32), 16_000)


def word_error_rate(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words), after the same normalisation the engine applies."""
    ref, hyp = _comparable(reference), _comparable(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1], len(ref)


def _comparable(text: str) -> list[str]:
    text = normalize(text, ["GRV"]).lower().replace("-", " ")
    return re.findall(r"[a-z0-9']+", text)
