"""The cascade mode: hear with a speech-to-text part, think with any tool-calling Chat Completions
model (streamed, text only), speak each sentence with a text-to-speech part as soon as the model
has written it.

The rounds, limits and errors-as-data are audio_chat's, in the wire format of
assistant/chatcmpl.py. The model's stream is read on its own thread; each sentence it completes
goes to a voice thread, which synthesizes sentences in order; both hand their pieces to the
asking thread through one inbox (assistant/modes/cascade_pipeline.py), so the first sentence is
heard while the rest is being written, even while the model pauses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from assistant import chatcmpl
from assistant.audio import wav_bytes
from assistant.errors import TurnError
from assistant.model_reply import MAX_TEXT_CHARS, ModelMessage
from assistant.models import ANSWER_SAMPLE_RATE, Event, Usage
from assistant.modes.base import MAX_TOOL_ROUNDS, Answer, Question, Turn
from assistant.modes.cascade_pipeline import Failures, ModelStream, Voice
from assistant.pricing import audio_model_usage, cost_usd, part_cost
from assistant.speech.base import Heard, Synthesizer
from assistant.speech.parts import Parts

log = logging.getLogger(__name__)
NAMES_TTL_S = 300.0  # how long the players' names for the transcriber's prompt are trusted
MAX_PROMPT_NAMES = 60
PRICE_NAMES = {"azure_speech": ("azure-speech-stt", "azure-speech-tts")}  # else: the model


class CascadeMode:
    name = "cascade"
    hears = True  # the engine leaves the question's words to this mode

    def __init__(
        self,
        parts: Parts,
        *,
        prices: dict[str, dict[str, float]] | None = None,
        audio_model: str = "gpt-4o-audio-preview",
        players: Callable[[], Iterable[str]] | None = None,
    ):
        self.parts = parts
        self.prices = prices or {}
        self.audio_model = audio_model  # what the audio_chat mode would have used, for the cost
        self.names = _Names(players)
        self._tools: tuple[tuple[str, ...], list[dict[str, Any]]] = ((), [])

    @property
    def provider(self) -> str:
        return self.parts.provider

    @property
    def model(self) -> str:
        return self.parts.text.model

    def answer(self, question: Question, turn: Turn) -> Answer:
        heard = self._hear(question, turn)
        words = heard.text if heard else (question.text or "").strip()
        voice = Voice(self._synthesizer(question.voice), turn)
        try:
            message, stopped = self._think(question, words, turn, voice)
            if stopped:
                return self._answer(voice, heard, turn, stopped=True)
            if not message.content and not voice.words:
                raise _empty(message)
            with turn.stage("speak", f"Speaking the rest ({self.parts.synthesizer.model})"):
                voice.finish()
            return self._answer(voice, heard, turn, stopped=turn.cancelled(), cut=message.cut)
        finally:
            voice.close()

    def _synthesizer(self, voice: str | None) -> Synthesizer:
        """The voice part, speaking with the voice chosen for this question (an OpenAI or Azure
        OpenAI voice) unless VOICEDESK_TTS_VOICE fixes it."""
        synthesizer = self.parts.synthesizer
        change = getattr(synthesizer, "with_voice", None)
        own_voice = self.parts.voice_fixed or synthesizer.vendor == "local"  # one voice there
        if own_voice or not voice or change is None or voice == synthesizer.voice:
            return synthesizer
        return change(voice)

    # -- hear ----------------------------------------------------------------------------------

    def _hear(self, question: Question, turn: Turn) -> Heard | None:
        if question.wav is None:
            return None  # a typed question needs no hearing
        transcriber = self.parts.transcriber
        with turn.stage("hear", f"Hearing the question ({transcriber.model or transcriber.vendor})"):
            heard = transcriber.transcribe(question.wav, prompt=self.names.prompt())
        if not heard.text.strip():
            raise TurnError(
                "No words were heard in the recording; please ask again.",
                code="nothing_heard", retryable=False,
            )  # fmt: skip
        turn.emit(Event("heard", "transcribe", "Heard the question", data=heard.text.strip()))
        return heard

    # -- think ---------------------------------------------------------------------------------

    def _tool_entries(self, question: Question) -> list[dict[str, Any]]:
        names = tuple(tool.name for tool in question.tools)
        if self._tools[0] != names:
            self._tools = (names, chatcmpl.tool_entries(question.tools))
        return self._tools[1]

    def _think(
        self, question: Question, words: str, turn: Turn, voice: Voice
    ) -> tuple[ModelMessage, bool]:
        """The model's last message, and whether the person stopped it."""
        tools = self._tool_entries(question)
        messages = [
            chatcmpl.system_message(question.system),
            *question.context,
            {"role": "user", "content": words},
        ]
        model = self.parts.text.model
        for round_no in range(MAX_TOOL_ROUNDS + 1):
            last = round_no == MAX_TOOL_ROUNDS
            label = "Thinking" if round_no == 0 else "Composing the answer"
            with turn.stage("think", f"{label} ({model})"):
                message = self._call(turn, voice, messages, tools, "none" if last else "auto")
            voice.pump()
            if turn.cancelled():
                return message, True
            if not message.tool_calls:
                return message, False
            if last:
                raise TurnError(
                    "The assistant could not settle on an answer; please ask again.",
                    code="tool_loop",
                )
            messages.append(message.echo())
            results = turn.run_tools(message.tool_calls, round_no)
            for call, result in zip(message.tool_calls, results, strict=True):
                messages.append(chatcmpl.tool_message(call.id, result))
            voice.pump()
        raise AssertionError("unreachable")  # the last round always returns or raises

    def _call(
        self,
        turn: Turn,
        voice: Voice,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: str,
    ) -> ModelMessage:
        text = self.parts.text
        body = chatcmpl.text_request(text.model, messages, tools, tool_choice)
        stream = ModelStream(text, body, voice.inbox)
        reader = chatcmpl.StreamReader(on_text=voice.write, on_audio=lambda pcm: None)
        with Failures(text):
            try:
                while True:
                    item = voice.next(stream)
                    if item is None:  # the person talked over it: the stream is closed below
                        log.info("answer stopped by the person after %s chunks", reader.chunks)
                        return _said_so_far(reader)
                    kind, value = item
                    if kind == "failed":
                        raise value
                    if kind == "end":
                        break
                    if kind == "whole":  # a server that ignores stream=true and answers whole
                        message, usage = chatcmpl.whole_message(value)
                        chatcmpl.add_usage(turn.usage, usage)
                        voice.write(message.content or "")
                        voice.end_of_text()
                        return message
                    if isinstance(value, dict) and value.get("error") is not None:
                        log.warning("text model stream ended in an error event")
                        raise ValueError("an error event in the stream")
                    reader.feed(value)
            finally:
                stream.close()
            message = reader.message()
        if not reader.finished:
            log.warning("text model stream ended after %s chunks, unfinished", reader.chunks)
            raise TurnError("The answer stopped partway; please try again.", code="cut_off")
        chatcmpl.add_usage(turn.usage, reader.usage)
        voice.end_of_text()  # words before a tool call ("Let me look.") are said too
        return message

    # -- the answer ------------------------------------------------------------------------------

    def _answer(
        self, voice: Voice, heard: Heard | None, turn: Turn, *, stopped: bool, cut: bool = False
    ) -> Answer:
        said = "".join(voice.words).strip()
        warning = None
        if stopped:
            said = f"{said} …" if said else ""
            warning = "Stopped when you spoke; ask again to hear the rest."
        elif cut:
            warning = f"The model's answer was cut to its first {MAX_TEXT_CHARS:,} characters."
        elif not voice.pcm:
            warning = "The voice said nothing for this answer; it is shown in text only."
        cost, extra = self._costs(voice, heard, turn.usage)
        return Answer(
            transcript=said,
            audio_wav=wav_bytes(bytes(voice.pcm), ANSWER_SAMPLE_RATE) if voice.pcm else b"",
            delivery="streamed",
            warning=warning,
            heard=heard.text.strip() if heard else None,
            cost_usd=cost,
            extra=extra,
        )

    def _costs(self, voice: Voice, heard: Heard | None, usage: Usage) -> tuple[float, dict]:
        """The turn's cost part by part, and what the audio model would have cost for it."""
        parts = self.parts
        stt_price, tts_price = self._price_names()
        heard_s = heard.audio_seconds if heard else 0.0
        hear = 0.0
        if heard is not None:
            tokens = Usage(prompt_tokens=heard.input_tokens, audio_prompt_tokens=heard.input_tokens,
                           completion_tokens=heard.output_tokens)  # fmt: skip
            hear = part_cost(stt_price, self.prices, usage=tokens, seconds=heard_s)
        think = cost_usd(usage, parts.text.model, self.prices)
        spoken_s = len(voice.pcm) / 2 / ANSWER_SAMPLE_RATE
        speak = part_cost(tts_price, self.prices, usage=Usage(prompt_tokens=voice.chars // 4),
                          seconds=spoken_s, chars=voice.chars)  # fmt: skip
        instead = cost_usd(audio_model_usage(usage, heard_s, spoken_s), self.audio_model,
                           self.prices)  # fmt: skip
        extra = {
            "parts": [
                _part("hear", parts.transcriber.vendor, parts.transcriber.model, hear, heard_s),
                _part("think", parts.text.vendor, parts.text.model, think, None),
                _part("speak", parts.synthesizer.vendor, parts.synthesizer.model, speak, spoken_s),
            ],
            "first_sound_ms": voice.first_sound_ms,
            "audio_model": self.audio_model,
            "audio_model_cost_usd": round(instead, 6),
        }
        return hear + think + speak, extra

    def _price_names(self) -> tuple[str, str]:
        parts = self.parts
        stt = PRICE_NAMES.get(parts.transcriber.vendor, (parts.transcriber.model, ""))[0]
        tts = PRICE_NAMES.get(parts.synthesizer.vendor, ("", parts.synthesizer.model))[1]
        if parts.transcriber.vendor == "local":
            stt = ""
        if parts.synthesizer.vendor == "local":
            tts = ""
        return stt, tts


def _part(name: str, vendor: str, model: str, cost: float, seconds: float | None) -> dict:
    found = {"part": name, "vendor": vendor, "model": model, "cost_usd": round(cost, 6)}
    if seconds is not None:
        found["audio_s"] = round(seconds, 2)
    return found


def _said_so_far(reader: chatcmpl.StreamReader) -> ModelMessage:
    """What the model had written when the person talked over it (never a tool call)."""
    try:
        return ModelMessage(reader.message().content)
    except ValueError:  # nothing readable yet
        return ModelMessage(None)


def _empty(message: ModelMessage) -> TurnError:
    if message.unreadable:
        return TurnError(
            "The model sent an answer that could not be read; please try again.",
            code="unreadable_answer",
        )
    return TurnError("The model sent an empty answer; please try again.", code="empty_answer")


class _Names:
    """The players' names for the transcriber's prompt, read in the background at most every
    NAMES_TTL_S: hearing never waits for a database."""

    def __init__(self, source: Callable[[], Iterable[str]] | None):
        self.source = source
        self._names: list[str] = []
        self._read_at = -NAMES_TTL_S
        self._lock = threading.Lock()
        self._refresh()

    def prompt(self) -> str | None:
        self._refresh()
        return f"Players: {', '.join(self._names)}." if self._names else None

    def _refresh(self) -> None:
        with self._lock:
            if self.source is None or time.monotonic() - self._read_at < NAMES_TTL_S:
                return
            self._read_at = time.monotonic()
        threading.Thread(target=self._read, daemon=True, name="cascade-names").start()

    def _read(self) -> None:
        try:
            names = [str(name) for name in self.source()][:MAX_PROMPT_NAMES]  # type: ignore[misc]
        except Exception as exc:  # the statistics down: hearing goes on without the names
            log.warning("players' names not read for the transcriber: %s", type(exc).__name__)
            return
        self._names = names
