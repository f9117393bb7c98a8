"""What a speech-to-text or text-to-speech part is, whoever provides it.

The cascade (assistant/modes/cascade.py) hears with a `Transcriber`, thinks with any
tool-calling Chat Completions model, and speaks each sentence with a `Synthesizer` as soon as
the sentence is written. Parts raise `TurnError` (assistant/errors.py) with one plain sentence
when they cannot do their job; they never raise a vendor's exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

SPEECH_SAMPLE_RATE = 24_000  # what every synthesizer yields: PCM16 mono at this rate


@dataclass(frozen=True)
class Heard:
    """What a transcriber heard, and what it used (for the trace and the cost)."""

    text: str
    audio_seconds: float = 0.0  # priced per minute by some vendors
    input_tokens: int = 0  # priced per token by others (gpt-4o-transcribe)
    output_tokens: int = 0


class Transcriber(Protocol):
    vendor: str  # "openai", "azure_openai", "azure_speech", "local"
    model: str  # the model or deployment (Azure AI Speech: the language it listens for)

    def transcribe(self, wav: bytes, *, prompt: str | None = None) -> Heard:
        """The words in a WAV recording. `prompt`: names and words to expect (player names)."""
        ...


class Synthesizer(Protocol):
    vendor: str  # "openai", "azure_openai", "azure_speech", "local"
    model: str
    voice: str

    def stream(self, text: str) -> Iterator[bytes]:
        """`text` spoken, as PCM16 mono SPEECH_SAMPLE_RATE chunks, the first as soon as there is
        one. Characters spoken are counted by the caller (text length) for the cost."""
        ...
