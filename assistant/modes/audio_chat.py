"""The audio_chat mode: Chat Completions with audio in and out, streamed where the provider allows.

Each model call asks for a streamed answer (PCM16 at 24 kHz), hands text and audio on as events
while they arrive, and keeps them for the final WAV. A provider or model that refuses streamed
audio is asked again for the whole answer, and remembered (per client and model) for the rest
of the process, so it costs one refused request, once.
"""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any

import openai

from assistant import chatcmpl
from assistant.audio import wav_bytes
from assistant.client import ModelClient
from assistant.errors import TurnError, call_failure, log_summary
from assistant.model_reply import MAX_TEXT_CHARS, ModelMessage
from assistant.models import ANSWER_SAMPLE_RATE, Event
from assistant.modes.base import MAX_TOOL_ROUNDS, Answer, Delivery, Question, Turn

log = logging.getLogger(__name__)
EVENT_STREAM = "text/event-stream"


class StreamSupport:
    """Which (client, model) pairs refused streamed audio in this process."""

    def __init__(self) -> None:
        self._refused: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    @staticmethod
    def key(client: ModelClient) -> tuple[str, str, str]:
        return client.provider, str(getattr(client.api, "base_url", "")), client.model

    def allowed(self, client: ModelClient) -> bool:
        with self._lock:
            return self.key(client) not in self._refused

    def refused(self, client: ModelClient) -> None:
        with self._lock:
            self._refused.add(self.key(client))


STREAM_SUPPORT = StreamSupport()  # for the process: a refusal is not asked again


class _Refused(Exception):
    """The provider refused the streamed request itself."""


class _Spoken:
    """What the person has heard and read so far in this turn, across model calls."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.pcm = bytearray()
        self.words: list[str] = []

    def text(self, piece: str) -> None:
        self.words.append(piece)
        self.turn.emit(Event("text_delta", "answer", "Answer text", data=piece))

    def audio(self, pcm: bytes) -> None:
        self.pcm += pcm
        self.turn.emit(Event("audio_chunk", "answer", "Answer audio", data=pcm))


class AudioChatMode:
    name = "audio_chat"

    def __init__(self, client: ModelClient, support: StreamSupport = STREAM_SUPPORT):
        self.client = client
        self.support = support
        self._tools: tuple[tuple[str, ...], list[dict[str, Any]]] = ((), [])

    def _tool_entries(self, question: Question) -> list[dict[str, Any]]:
        """The `tools[]` entries, converted once for a given set of tools."""
        names = tuple(tool.name for tool in question.tools)
        if self._tools[0] != names:
            self._tools = (names, chatcmpl.tool_entries(question.tools))
        return self._tools[1]

    @property
    def provider(self) -> str:
        return self.client.provider

    @property
    def model(self) -> str:
        return self.client.model

    def answer(self, question: Question, turn: Turn) -> Answer:
        tools = self._tool_entries(question)
        messages = [
            chatcmpl.system_message(question.system),
            *question.context,
            chatcmpl.user_message(question.wav, question.text),
        ]
        asked = len(messages) - 1
        spoken = _Spoken(turn)
        deliveries: set[Delivery] = set()
        for round_no in range(MAX_TOOL_ROUNDS + 1):
            last = round_no == MAX_TOOL_ROUNDS
            words = question.heard() if round_no else None
            if words:  # after the first call, the question's words stand in for its audio
                messages[asked] = {"role": "user", "content": words}
            name, label = (
                ("understand", "Understanding the question")
                if round_no == 0
                else ("compose", "Composing the spoken answer")
            )
            with turn.stage(name, label):
                message, delivery = self._call(
                    turn, spoken, messages, question.voice, tools, "none" if last else "auto"
                )
            deliveries.add(delivery)
            if turn.cancelled():  # the person talked over it: what was said is the answer
                return _stopped(spoken, delivery)
            calls = message.tool_calls
            if not calls:
                return self._answer(message, spoken, "streamed" if "streamed" in deliveries
                                    else "whole")  # fmt: skip
            if last:  # the model asked for tools after being told not to: answer without them
                raise TurnError(
                    "The assistant could not settle on an answer; please ask again.",
                    code="tool_loop",
                )
            messages.append(message.echo())
            results = turn.run_tools(calls, round_no)
            for call, result in zip(calls, results, strict=True):
                messages.append(chatcmpl.tool_message(call.id, result))
        raise AssertionError("unreachable")  # the last round always returns or raises

    # -- one model call ----------------------------------------------------------------------

    def _call(
        self,
        turn: Turn,
        spoken: _Spoken,
        messages: list[dict[str, Any]],
        voice: str,
        tools: list[dict[str, Any]],
        tool_choice: str,
    ) -> tuple[ModelMessage, Delivery]:
        def request(stream: bool) -> dict[str, Any]:
            return chatcmpl.request(self.client.model, messages, tools, tool_choice, voice,
                                    stream=stream)  # fmt: skip

        if self.support.allowed(self.client):
            try:
                return self._streamed(turn, spoken, request(stream=True))
            except _Refused:
                self.support.refused(self.client)
                log.info(
                    "streamed audio refused by %s %s: whole answers from now on",
                    self.client.provider, self.client.model,
                )  # fmt: skip
        with self._reading():
            return _whole(turn, self.client.api.chat.completions.create(**request(stream=False)))

    def _streamed(
        self, turn: Turn, spoken: _Spoken, request: dict[str, Any]
    ) -> tuple[ModelMessage, Delivery]:
        create = self.client.api.chat.completions.with_streaming_response.create
        with self._reading(refusal_is_final=False), create(**request) as response:
            if not response.headers.get("content-type", "").startswith(EVENT_STREAM):
                # A server that ignores stream=true and answers whole: read it as such.
                return _whole(turn, response.json())
            reader = chatcmpl.StreamReader(on_text=spoken.text, on_audio=spoken.audio)
            for chunk in chatcmpl.sse_data(response.iter_lines()):
                if isinstance(chunk, dict) and chunk.get("error") is not None:
                    log.warning("model stream ended in an error event")
                    raise ValueError("an error event in the stream")
                reader.feed(chunk)
                if turn.cancelled():  # leaving the block closes the stream: generation stops
                    log.info("answer stopped by the person after %s chunks", reader.chunks)
                    return reader.message(), "streamed"
            message = reader.message()
            if not reader.finished:  # the stream ended before the answer did
                log.warning("model stream ended after %s chunks, unfinished", reader.chunks)
                raise TurnError("The answer stopped partway; please try again.", code="cut_off")
        chatcmpl.add_usage(turn.usage, reader.usage)
        return message, "streamed"

    def _reading(self, refusal_is_final: bool = True) -> _Reading:
        return _Reading(self.client, refusal_is_final)

    # -- the answer ------------------------------------------------------------------------

    def _answer(self, message: ModelMessage, spoken: _Spoken, delivery: Delivery) -> Answer:
        audio, warning = message.audio, None
        if audio is not None and audio.pcm is not None:
            # Everything heard in this turn, so "Play again" plays what was played.
            wav, transcript = wav_bytes(bytes(spoken.pcm), ANSWER_SAMPLE_RATE), audio.transcript
        elif audio is not None:
            try:
                wav = base64.b64decode(audio.data, validate=True)
            except ValueError:
                raise _damaged() from None
            transcript = audio.transcript
        elif message.content:
            # A reply in text only still answers the question; say that there is no speech.
            wav, transcript = b"", message.content
            warning = "The model answered in text only, without speech."
        elif message.unreadable:
            raise TurnError(
                "The model sent an answer that could not be read; please try again.",
                code="unreadable_answer",
            )
        else:
            raise TurnError(
                "The model sent an empty answer; please try again.", code="empty_answer"
            )
        if message.cut:
            warning = f"The model's answer was cut to its first {MAX_TEXT_CHARS:,} characters."
        return Answer(
            transcript=transcript,
            audio_wav=wav,
            delivery=delivery,
            audio_id=audio.id if audio else None,
            expires_at=audio.expires_at if audio else None,
            warning=warning,
        )


def _stopped(spoken: _Spoken, delivery: Delivery) -> Answer:
    said = "".join(spoken.words).strip()
    return Answer(
        transcript=f"{said} …" if said else "",
        audio_wav=wav_bytes(bytes(spoken.pcm), ANSWER_SAMPLE_RATE) if spoken.pcm else b"",
        delivery=delivery,
        warning="Stopped when you spoke; ask again to hear the rest.",
    )


def _damaged() -> TurnError:
    return TurnError("The spoken answer arrived damaged; please try again.", code="bad_audio")


def _whole(turn: Turn, response: Any) -> tuple[ModelMessage, Delivery]:
    """An answer sent whole (an SDK object or the parsed JSON body), its usage counted."""
    message, usage = chatcmpl.whole_message(response)
    chatcmpl.add_usage(turn.usage, usage)
    return message, "whole"


class _Reading:
    """Turns whatever a model call raises into one TurnError (logged without the body, which
    may quote the customer), or into _Refused when the streamed request itself was refused."""

    def __init__(self, client: ModelClient, refusal_is_final: bool):
        self.client = client
        self.refusal_is_final = refusal_is_final

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, TurnError | _Refused):
            return False
        refused = isinstance(exc, openai.OpenAIError) and chatcmpl.refuses_streaming(exc)
        if refused and not self.refusal_is_final:
            log.info("model refused the streamed request: %s", log_summary(exc)[0])
            raise _Refused() from None
        if isinstance(exc, chatcmpl.DamagedAudio):
            log.warning("streamed answer not used: %s", exc)
            raise _damaged() from None
        base_url = getattr(self.client.api, "base_url", "")
        failure = call_failure(exc, self.client.provider, self.client.model, base_url)
        if failure is not None:
            raise failure from None
        return False
