"""Hearing and speaking through the OpenAI audio API: OpenAI, an Azure OpenAI deployment, or the
local engine (localspeech), which serves the same two paths.

`audio.transcriptions.create` hears a WAV (gpt-4o-transcribe, gpt-4o-mini-transcribe,
whisper-1); `audio.speech.with_streaming_response.create(response_format="pcm")` speaks, and
its body is handed on as it arrives: raw PCM16 mono at 24 kHz. Whatever a call raises becomes
one TurnError sentence in the part's own words (assistant/errors.py); replies are not trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import openai

from assistant.errors import TurnError, Words, call_failure
from assistant.model_reply import field_of
from assistant.speech.base import SPEECH_SAMPLE_RATE, Heard
from wavcodec import AudioError, duration_s

log = logging.getLogger(__name__)

MAX_HEARD_CHARS = 10_000  # a longer "transcript" of one question is not believed
MAX_PROMPT_CHARS = 800  # Whisper reads the last 224 tokens of a prompt; names come first
MAX_INPUT_CHARS = 4096  # CreateSpeechRequest.input
MAX_SPEECH_BYTES = SPEECH_SAMPLE_RATE * 2 * 300  # five minutes: more than any sentence takes
CHUNK_BYTES = 4800  # 0.1 s: the first sound is handed on as soon as it arrives
NOT_AUDIO = ("application/json", "text/")  # a 200 that carries an error page, not sound


class OpenAITranscriber:
    """A Transcriber on any client that speaks OpenAI's `audio/transcriptions`."""

    def __init__(self, api: openai.OpenAI, model: str, vendor: str, words: Words):
        self.api, self.model, self.vendor, self.words = api, model, vendor, words

    def transcribe(self, wav: bytes, *, prompt: str | None = None) -> Heard:
        request: dict[str, Any] = {
            "model": self.model,
            "file": ("question.wav", wav, "audio/wav"),
            "response_format": "json",
        }
        if prompt:
            request["prompt"] = prompt[:MAX_PROMPT_CHARS]
        try:
            result = self.api.audio.transcriptions.create(**request)
        except Exception as exc:
            raise self._failure(exc) from None
        text = result if isinstance(result, str) else field_of(result, "text")
        if not isinstance(text, str) or len(text) > MAX_HEARD_CHARS:
            log.warning("transcript not used: %s", _kind(text))
            raise self._failure(ValueError("not a transcript"))
        usage = field_of(result, "usage")
        seconds = _count(usage, "seconds", float) or _seconds_of(wav)
        return Heard(
            text=text.strip(),
            audio_seconds=seconds,
            input_tokens=_count(usage, "input_tokens", int),
            output_tokens=_count(usage, "output_tokens", int),
        )

    def _failure(self, exc: BaseException) -> TurnError:
        base_url = getattr(self.api, "base_url", "")
        return call_failure(exc, self.words, self.model, base_url) or TurnError(
            f"{self.words.speaker} failed to hear the question; try again.", code="stt_failed"
        )


class OpenAISynthesizer:
    """A Synthesizer on any client that speaks OpenAI's `audio/speech`, streamed as PCM."""

    def __init__(
        self,
        api: openai.OpenAI,
        model: str,
        voice: str,
        vendor: str,
        words: Words,
        instructions: str | None = None,
    ):
        self.api, self.model, self.voice, self.vendor = api, model, voice, vendor
        self.words, self.instructions = words, instructions

    def with_voice(self, voice: str) -> OpenAISynthesizer:
        """The same part speaking with another of its voices (the page's choice for a tab)."""
        return OpenAISynthesizer(self.api, self.model, voice, self.vendor, self.words,
                                 self.instructions)  # fmt: skip

    def stream(self, text: str) -> Iterator[bytes]:
        request: dict[str, Any] = {
            "model": self.model,
            "input": text[:MAX_INPUT_CHARS],
            "voice": self.voice,
            "response_format": "pcm",
        }
        if self.instructions and not self.model.startswith("tts-1"):  # tts-1 takes none
            request["instructions"] = self.instructions[:MAX_INPUT_CHARS]
        create = self.api.audio.speech.with_streaming_response.create
        try:
            with create(**request) as response:
                kind = response.headers.get("content-type", "").lower()
                if kind.startswith(NOT_AUDIO):
                    log.warning("speech reply was %s, not audio", kind.split(";")[0])
                    raise ValueError("not audio")
                yield from _samples(response.iter_bytes(CHUNK_BYTES))
        except TurnError:
            raise
        except Exception as exc:
            base_url = getattr(self.api, "base_url", "")
            failure = call_failure(exc, self.words, self.model, base_url)
            if failure is None:
                raise
            raise failure from None


def _samples(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The body's bytes as whole PCM16 samples (a sample may be split across pieces)."""
    carry, total = b"", 0
    for piece in pieces:
        total += len(piece)
        if total > MAX_SPEECH_BYTES:
            raise ValueError("longer than any sentence is spoken")
        data = carry + piece
        whole = len(data) - len(data) % 2
        carry = data[whole:]
        if whole:
            yield data[:whole]


def _count(holder: Any, name: str, kind: type) -> Any:
    value = field_of(holder, name)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e7
    return kind(value) if ok else kind(0)


def _seconds_of(wav: bytes) -> float:
    try:
        return duration_s(wav)
    except (AudioError, ValueError):
        return 0.0


def _kind(value: Any) -> str:
    return f"{len(value):,} characters" if isinstance(value, str) else type(value).__name__
