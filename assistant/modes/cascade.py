"""The cascade mode: hear with a speech-to-text part, think with any tool-calling Chat Completions
model (streamed, text only), speak each sentence with a text-to-speech part as soon as the model
has written it.

The model's stream is read on the asking thread (as audio_chat reads it, with the same rounds,
limits and errors-as-data, and the wire format of assistant/chatcmpl.py). Each sentence it
completes goes to a voice thread, which synthesizes sentences in order; their audio comes back
through a queue and is emitted on the asking thread, between the model's chunks and after its
last, so the first sentence is heard while the rest is being written.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from assistant import chatcmpl
from assistant.audio import wav_bytes
from assistant.errors import TurnError, call_failure
from assistant.model_reply import MAX_TEXT_CHARS, ModelMessage
from assistant.models import ANSWER_SAMPLE_RATE, Event, Usage
from assistant.modes.base import MAX_TOOL_ROUNDS, Answer, Question, Turn
from assistant.pricing import audio_model_usage, cost_usd, part_cost
from assistant.speech.base import Heard, Synthesizer
from assistant.speech.parts import Parts
from assistant.speech.sentences import SentenceCutter, for_speech

log = logging.getLogger(__name__)
EVENT_STREAM = "text/event-stream"
POLL_S = 0.05  # how often a wait looks whether the person talked over the answer
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
        voice = _Voice(self._synthesizer(question.voice), turn)
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
        self, question: Question, words: str, turn: Turn, voice: _Voice
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
        voice: _Voice,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: str,
    ) -> ModelMessage:
        text = self.parts.text
        body = chatcmpl.text_request(text.model, messages, tools, tool_choice)
        stream = _ModelStream(text, body, voice.inbox)
        reader = chatcmpl.StreamReader(on_text=voice.write, on_audio=lambda pcm: None)
        with _Failures(text):
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
        self, voice: _Voice, heard: Heard | None, turn: Turn, *, stopped: bool, cut: bool = False
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

    def _costs(self, voice: _Voice, heard: Heard | None, usage: Usage) -> tuple[float, dict]:
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


class _Failures:
    """Whatever a text model call raises, as one TurnError in the text part's words."""

    def __init__(self, text: Any):
        self.text = text

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, TurnError):
            return False
        base_url = getattr(self.text.api, "base_url", "")
        failure = call_failure(exc, self.text.words, self.text.model, base_url)
        if failure is not None:
            raise failure from None
        return False


class _ModelStream:
    """One streamed model call, read on its own thread into the voice's inbox, so the asking
    thread hands on the voice's audio even while the model is silent. Items are tagged with
    the stream, so a closed stream's late items are told apart."""

    def __init__(self, text: Any, body: dict[str, Any], inbox: queue.SimpleQueue):
        self.text, self.body, self.inbox = text, body, inbox
        self._stop = threading.Event()
        self._response: Any = None
        threading.Thread(target=self._read, daemon=True, name="cascade-model").start()

    def close(self) -> None:
        """Stop reading; the connection is closed, so the model stops generating."""
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.close()
            except Exception:  # closing from another thread may race the reader: no matter
                log.debug("closing the model stream", exc_info=True)

    def _read(self) -> None:
        create = self.text.api.chat.completions.with_streaming_response.create
        try:
            with _Failures(self.text), create(**self.body) as response:
                self._response = response
                if not response.headers.get("content-type", "").startswith(EVENT_STREAM):
                    self._put("whole", response.json())
                    return
                for chunk in chatcmpl.sse_data(response.iter_lines()):
                    if self._stop.is_set():
                        return
                    self._put("chunk", chunk)
            self._put("end", None)
        except TurnError as exc:
            self._put("failed", exc)
        except Exception:  # a bug: one sentence for the person, the log has the rest
            log.exception("reading the text model failed")
            self._put("failed", TurnError(
                "Something went wrong while answering; try again.", code="internal"))

    def _put(self, kind: str, value: Any) -> None:
        if not self._stop.is_set():
            self.inbox.put((self, kind, value))


class _Voice:
    """Says the answer sentence by sentence while it is written.

    The asking thread `write`s the model's text; each completed sentence goes to a voice thread
    that synthesizes sentences in order. Its audio (and its failure, a TurnError) comes back
    through the inbox, which the model's stream also feeds: `next` waits for the stream's next
    item while handing on audio, `pump` hands on what is ready, `finish` waits for the rest;
    all on the asking thread, the only thread that may emit events."""

    def __init__(self, synthesizer: Synthesizer, turn: Turn):
        self.synthesizer = synthesizer
        self.turn = turn
        self.cutter = SentenceCutter()
        self.words: list[str] = []
        self.pcm = bytearray()
        self.chars = 0
        self.first_sound_ms: float | None = None
        self._started = time.perf_counter()
        self._sentences: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.inbox: queue.SimpleQueue[tuple[Any, str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = False

    # -- the asking thread -----------------------------------------------------------------

    def write(self, piece: str) -> None:
        self.words.append(piece)
        self.turn.emit(Event("text_delta", "answer", "Answer text", data=piece))
        for sentence in self.cutter.feed(piece):
            self._say(sentence)

    def end_of_text(self) -> None:
        for sentence in self.cutter.flush():
            self._say(sentence)

    def next(self, source: Any) -> tuple[str, Any] | None:
        """The next item from `source` (a model stream), handing on audio meanwhile; None as
        soon as the person talks over the answer."""
        while True:
            item = self._wait()
            if item is None:
                return None
            origin, kind, value = item
            if origin is self:
                self._take(kind, value)
            elif origin is source:
                return kind, value  # anything else is a closed stream's: dropped

    def pump(self) -> None:
        """Hand on the audio that is ready; raise the voice's failure, if it failed."""
        while True:
            try:
                origin, kind, value = self.inbox.get_nowait()
            except queue.Empty:
                return
            if origin is self:
                self._take(kind, value)

    def finish(self) -> None:
        """Wait for the rest of the answer's audio, handing it on as it comes; stop at once
        when the person talks over it."""
        if self._thread is None:
            return
        self._sentences.put(None)
        while not self._done:
            item = self._wait()
            if item is None:
                self._stop.set()
                return
            origin, kind, value = item
            if origin is self:
                self._take(kind, value)

    def _wait(self) -> tuple[Any, str, Any] | None:
        while not self.turn.cancelled():
            try:
                return self.inbox.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return None

    def close(self) -> None:
        self._stop.set()
        self._sentences.put(None)

    def _say(self, sentence: str) -> None:
        text = for_speech(sentence)
        if not any(char.isalnum() for char in text):
            return
        self.chars += len(text)
        if self._thread is None:
            self._thread = threading.Thread(target=self._speak, daemon=True, name="cascade-voice")
            self._thread.start()
        self._sentences.put(text)

    def _take(self, kind: str, value: Any) -> None:
        if kind == "audio":
            if self.first_sound_ms is None:
                self.first_sound_ms = round((time.perf_counter() - self._started) * 1000, 1)
            self.pcm += value
            self.turn.emit(Event("audio_chunk", "answer", "Answer audio", data=value))
        elif kind == "error":
            self._done = True
            raise value
        else:
            self._done = True

    # -- the voice thread ------------------------------------------------------------------

    def _speak(self) -> None:
        try:
            while not self._stop.is_set():
                sentence = self._sentences.get()
                if sentence is None:
                    break
                pieces = self.synthesizer.stream(sentence)
                try:
                    for pcm in pieces:
                        if self._stop.is_set():
                            break
                        if pcm:
                            self.inbox.put((self, "audio", pcm))
                finally:
                    close = getattr(pieces, "close", None)
                    if close is not None:
                        close()  # a stop closes the speech request: the voice stops too
        except TurnError as exc:
            self.inbox.put((self, "error", exc))
        except Exception:  # a part's own bug: one sentence for the person, the log has it
            log.exception("the voice failed")
            self.inbox.put((self, "error", TurnError(
                "The voice failed to speak the answer; please try again.", code="tts_failed")))
        finally:
            self.inbox.put((self, "done", None))


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
