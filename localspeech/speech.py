"""`POST /v1/audio/speech` as the offline engine serves it: OpenAI's CreateSpeechRequest, spoken
by the local voice (Piper, else espeak-ng) sentence by sentence.

`response_format="pcm"` is raw PCM16 mono at 24 kHz, sent as each phrase is voiced (the body is
an iterator of bytes); `"wav"` is the same audio whole, in a WAV. The engine has one voice: any
`voice` is accepted and spoken in it, as `instructions` and `speed` are accepted and not used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from localspeech.compose import for_speech
from localspeech.loading import ModelUnavailable
from localspeech.protocol import OfflineAPIError
from localspeech.tts import STREAM_RATE, TextToSpeech
from wavcodec import wav_bytes

log = logging.getLogger(__name__)
MAX_INPUT_CHARS = 4096
FIELDS = {"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"}
FORMATS = {"pcm": "audio/pcm", "wav": "audio/wav"}


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    input: str
    response_format: str


def parse_speech_request(body: Any) -> SpeechRequest:
    """A CreateSpeechRequest the engine can honour, or a 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise OfflineAPIError("The request body must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise OfflineAPIError(
            f"Unrecognized request argument supplied: {unknown[0]}.", param=unknown[0]
        )
    model, text, voice = body.get("model"), body.get("input"), body.get("voice")
    if not isinstance(model, str) or not model:
        raise OfflineAPIError("You must provide a model parameter.", param="model")
    if not isinstance(text, str) or not text.strip():
        raise OfflineAPIError("input must be a non-empty string.", param="input")
    if len(text) > MAX_INPUT_CHARS:
        raise OfflineAPIError(
            f"input is longer than {MAX_INPUT_CHARS:,} characters.", param="input",
            code="string_above_max_length",
        )  # fmt: skip
    if not (isinstance(voice, str) and voice) and not (
        isinstance(voice, dict) and isinstance(voice.get("id"), str)
    ):
        raise OfflineAPIError("You must provide a voice parameter.", param="voice")
    fmt = body.get("response_format", "mp3")
    if fmt not in FORMATS:
        raise OfflineAPIError(
            f"The offline engine speaks pcm or wav, not {fmt!r}.", param="response_format",
            code="unsupported_value",
        )  # fmt: skip
    if body.get("stream_format", "audio") != "audio":
        raise OfflineAPIError(
            "The offline engine streams the audio itself (stream_format 'audio').",
            param="stream_format", code="unsupported_value",
        )  # fmt: skip
    speed = body.get("speed", 1)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.25 <= speed <= 4:
        raise OfflineAPIError("speed must be a number from 0.25 to 4.", param="speed")
    return SpeechRequest(model, text, fmt)


def speak(tts: TextToSpeech, body: Any) -> tuple[str, bytes | Iterator[bytes]]:
    """(content type, body): the request's text spoken; a 503 before the first byte when the
    voice cannot be loaded."""
    request = parse_speech_request(body)
    sentences = [for_speech(s) for s in re.split(r"(?<=[.!?;])\s+", request.input.strip()) if s]
    try:
        pieces = tts.stream(sentences)
    except ModelUnavailable as exc:
        raise OfflineAPIError(str(exc), status=503, type="server_error") from exc
    if request.response_format == "wav":
        return FORMATS["wav"], wav_bytes(b"".join(pcm for _, pcm in pieces), STREAM_RATE)
    return FORMATS["pcm"], _audio(pieces)


def _audio(pieces: Iterator[tuple[int, bytes]]) -> Iterator[bytes]:
    """The PCM as it is voiced. A failure midway ends the body early (raw audio has no room for
    an error); the log says why."""
    try:
        for _, pcm in pieces:
            yield pcm
    except Exception:
        log.exception("the offline voice failed while speaking")
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
