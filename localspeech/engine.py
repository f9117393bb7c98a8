"""The offline engine: answers Chat Completions requests with local speech models and a router.

Call 1 (a question, spoken or typed) -> the router chooses tools -> a `tool_calls` reply.
Call 2 (the same messages + tool results) -> a spoken answer composed from those results.
No tool needed, or a question back ("Which player is this about?") -> a spoken answer at once.
With `stream=true` each answer comes as `chat.completion.chunk`s; a spoken one sentence by
sentence (PCM16 at 24 kHz), the first sent while the voice is still saying the rest.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from localspeech import compose, protocol
from localspeech.checks import check_question
from localspeech.loading import ModelUnavailable
from localspeech.players import Players
from localspeech.protocol import ChatRequest, OfflineAPIError
from localspeech.router import Decision, route
from localspeech.stt import SpeechToText, Transcript
from localspeech.tts import TextToSpeech
from wavcodec import AudioError, duration_s

log = logging.getLogger(__name__)
CUSTOMER_LINE = re.compile(r"^Customer being helped:\s*([A-Za-z0-9_.\-]{1,64})\s*$", re.MULTILINE)
MAX_AUDIO_BYTES = 25 * 1024 * 1024  # OpenAI's limit for an uploaded recording
PLAYERS_TTL_S = 300.0  # how long the list of players is trusted before it is read again
MAX_RECORDING_S = 600.0  # the longest the app can be set to send (VOICEDESK_MAX_SECONDS)
AUDIO_PIECE_BYTES = 12_000  # a streamed audio delta: 0.25 s of PCM16 at 24 kHz
STREAM_RATE = 24_000
Chunks = Iterator[dict[str, Any]]


@dataclass
class TurnTrace:
    """What the engine did for one request, for benchmarks and debugging."""

    question: str = ""
    decision: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)


class OfflineEngine:
    def __init__(
        self,
        settings: Any = None,
        *,
        stt: SpeechToText | None = None,
        tts: TextToSpeech | None = None,
        players: Callable[[], Iterable[str]] | None = None,
    ):
        project_key = getattr(settings, "jira_project_key", None) or "GRV"
        self.key_prefixes = {project_key.upper()}
        self.stt = stt or SpeechToText(self.key_prefixes)
        self.tts = tts or TextToSpeech()
        self._clarifications: OrderedDict[str, None] = OrderedDict()
        self._warm = threading.Event()
        self._warm_thread: threading.Thread | None = None
        self._warm_lock = threading.Lock()
        self.last_trace = TurnTrace()
        self._players_source = players
        self._players: Players | None = None
        self._players_read = -PLAYERS_TTL_S
        self._players_lock = threading.Lock()
        # Hearing costs time and memory in proportion to length: no longer than the app sends.
        self.max_recording_s = getattr(settings, "voicedesk_max_seconds", None) or MAX_RECORDING_S

    # ---- models ------------------------------------------------------------------------

    def warm_up(self, background: bool = True) -> threading.Thread | None:
        """Load both models (in parallel) and run each once, so the first turn is not slow."""
        with self._warm_lock:
            if self._warm_thread is None:
                self._warm_thread = threading.Thread(target=self._warm_up, daemon=True)
                self._warm_thread.start()
                # A process that ends while a model is still loading or running in C++ aborts
                # ("terminate called ..."): let the warm-up finish first.
                atexit.register(self._warm_thread.join, 60)
        if background:
            return self._warm_thread
        self._warm_thread.join()
        return None

    def know_players(self, source: Callable[[], Iterable[str]]) -> None:
        """Where the players that exist are read from (the statistics backend's names)."""
        with self._players_lock:
            self._players_source, self._players_read = source, -PLAYERS_TTL_S
        # Read in the background: a slow database must not hold up the page that connects.
        threading.Thread(target=_quietly, args=(self.players,), daemon=True).start()

    def players(self) -> Players | None:
        """The players that exist, read at most every PLAYERS_TTL_S; the last list (or None)
        when they cannot be read: names are then taken as said, as before they were known."""
        with self._players_lock:
            source = self._players_source
            if source is None or time.monotonic() - self._players_read < PLAYERS_TTL_S:
                return self._players
            self._players_read = time.monotonic()
        try:
            found = Players(source())
        except Exception as exc:  # a backend down: routing goes on without the list
            log.warning("offline engine: the players could not be read (%s)", type(exc).__name__)
            return self._players
        with self._players_lock:
            self._players = found
        self.stt.names = found.spoken_forms()
        return found

    def _warm_up(self) -> None:
        _quietly(self.players)  # before the first recording: Whisper's prompt names them
        # Each model loads and runs once in its own thread: the slower voice load (~1.5 s)
        # overlaps the speech-to-text load and first run.
        threads = [
            threading.Thread(target=_quietly, args=(part.warm,), daemon=True)
            for part in (self.stt, self.tts)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._warm.set()

    def status(self) -> dict[str, Any]:
        """For the page: each model 'idle' | 'loading' | 'ready' | 'failed', and why it failed."""
        status: dict[str, Any] = {
            "stt": self.stt.model.state,
            "tts": self.tts.model.state,
            "tts_engine": self.tts.engine,
            "warm": self._warm.is_set(),
        }
        errors = {m.name: m.error for m in (self.stt.model, self.tts.model) if m.error}
        if errors:
            status["errors"] = errors
        return status

    # ---- requests ----------------------------------------------------------------------

    def chat(self, body: Any) -> dict[str, Any] | Chunks:
        """A Chat Completions response body for a request body, or with `stream=true` an
        iterator of its chunks (raises OfflineAPIError before the first)."""
        request = protocol.parse_chat_request(body)
        trace = TurnTrace()
        self.last_trace = trace
        last_user = max(
            (i for i, m in enumerate(request.messages) if m["role"] == "user"), default=None
        )
        if last_user is None:
            raise OfflineAPIError("The messages need a user message to answer.", param="messages")
        tail = request.messages[last_user + 1 :]
        prompt_text = protocol.text_tokens(json.dumps(request.tools)) + sum(
            protocol.text_tokens(_text_of(m)) for m in request.messages
        )
        started = time.perf_counter()
        question, audio_s = self._question(request.messages[last_user], trace)
        outcomes = _tool_outcomes(tail)
        question = self._with_clarified(request.messages[:last_user], question)
        if outcomes:
            trace.decision = "answer"
            reply = compose.answer(outcomes, question)  # the question says which fact leads
        else:
            customer = _customer(request.messages)
            decision = route(
                question,
                request.tools,
                customer,
                request.tool_choice,
                self.key_prefixes,
                players=self.players(),
                last_answer=_last_answer(request.messages[:last_user]),
            )
            trace.question, trace.decision = decision.question, decision.kind
            trace.timings_ms["route"] = _ms(started) - trace.timings_ms.get("stt", 0.0)
            if decision.kind == "tools":
                whole = self._tool_calls(request, decision, prompt_text, audio_s)
                return _maybe_streamed(request, whole)
            reply = decision.say or ""
            if decision.kind == "clarify":
                self._remember_clarification(reply)
        return self._spoken(request, reply, prompt_text, audio_s, trace)

    def transcription(self, fields: dict[str, str], audio: bytes) -> dict[str, Any] | str:
        """A transcription response for a multipart upload's fields and file bytes."""
        response_format = fields.get("response_format") or "json"
        if response_format not in ("json", "text"):
            raise OfflineAPIError(
                f"The offline engine returns json or text, not {response_format}.",
                param="response_format",
                code="unsupported_value",
            )
        if not fields.get("model"):
            raise OfflineAPIError("You must provide a model parameter.", param="model")
        transcript = self._transcribe(audio, param="file")
        if response_format == "text":
            return transcript.text
        return {
            "text": transcript.text,
            "usage": {"type": "duration", "seconds": max(1, round(transcript.seconds))},
        }

    # ---- steps -------------------------------------------------------------------------

    def _question(self, message: dict[str, Any], trace: TurnTrace) -> tuple[str, float]:
        content = message.get("content")
        if isinstance(content, str):
            check_question(content)
            return content, 0.0
        typed = [p.get("text") or "" for p in content or [] if p.get("type") == "text"]
        check_question(" ".join(typed))
        texts, seconds = [], 0.0
        for i, part in enumerate(content or []):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(str(part.get("text") or ""))
            elif kind == "input_audio":
                audio = part.get("input_audio") or {}
                if audio.get("format") != "wav":
                    raise OfflineAPIError(
                        "The offline engine hears WAV recordings only.",
                        param=f"messages.content[{i}].input_audio.format",
                        code="unsupported_value",
                    )
                try:
                    wav = base64.b64decode(audio.get("data") or "", validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise OfflineAPIError(
                        "The recording is not valid base64.",
                        param=f"messages.content[{i}].input_audio.data",
                    ) from exc
                started = time.perf_counter()
                transcript = self._transcribe(wav, param="input_audio")
                trace.timings_ms["stt"] = trace.timings_ms.get("stt", 0.0) + _ms(started)
                texts.append(transcript.text)
                seconds += transcript.seconds
            else:
                raise OfflineAPIError(
                    f"The offline engine cannot read '{kind}' content.",
                    param=f"messages.content[{i}]",
                    code="unsupported_value",
                )
        return " ".join(t for t in texts if t).strip(), seconds

    def _transcribe(self, wav: bytes, param: str) -> Transcript:
        if len(wav) > MAX_AUDIO_BYTES:
            raise OfflineAPIError("The recording is larger than 25 MB.", param=param)
        if duration_s(wav) > self.max_recording_s + 0.5:
            raise OfflineAPIError(
                f"The recording is longer than {self.max_recording_s:g} seconds.",
                param=param,
                code="audio_too_long",
            )
        try:
            return self.stt.transcribe(wav)
        except AudioError as exc:
            raise OfflineAPIError(str(exc), param=param, code="invalid_value") from exc
        except ModelUnavailable as exc:
            raise OfflineAPIError(str(exc), status=503, type="server_error") from exc

    def _with_clarified(self, earlier: list[dict[str, Any]], question: str) -> str:
        """After "Which player is this about?", "Maria" completes the question asked before it."""
        if len(earlier) < 2 or earlier[-1]["role"] != "assistant":
            return question
        if _text_of(earlier[-1]).strip() not in self._clarifications:
            return question
        previous = next((m for m in reversed(earlier) if m["role"] == "user"), None)
        if previous is None or len(question.split()) > 6:
            return question
        return f"{_text_of(previous).strip().rstrip('?.!')}, {question.strip()}"

    def _remember_clarification(self, text: str) -> None:
        self._clarifications[text] = None
        while len(self._clarifications) > 64:
            self._clarifications.popitem(last=False)

    def _tool_calls(
        self, request: ChatRequest, decision: Decision, prompt_text: int, audio_s: float
    ) -> dict[str, Any]:
        message = protocol.tool_call_message([(c.name, c.arguments) for c in decision.calls])
        out = sum(protocol.text_tokens(tc["function"]["arguments"]) for tc in message["tool_calls"])
        use = protocol.usage(prompt_text, protocol.audio_tokens(audio_s), out + 5, 0)
        return protocol.completion(request.model, message, "tool_calls", use)

    def _spoken(
        self,
        request: ChatRequest,
        reply: str,
        prompt_text: int,
        audio_s: float,
        trace: TurnTrace,
    ) -> dict[str, Any] | Chunks:
        reply = reply.strip() or "Sorry, I have no answer for that."
        if not request.wants_audio:
            use = protocol.usage(
                prompt_text, protocol.audio_tokens(audio_s), protocol.text_tokens(reply), 0
            )
            whole = protocol.completion(request.model, protocol.text_message(reply), "stop", use)
            return _maybe_streamed(request, whole)
        if request.stream:
            sentences = _sentences(reply)
            try:
                pieces = self.tts.stream([compose.for_speech(s) for s in sentences])
            except ModelUnavailable as exc:
                raise OfflineAPIError(str(exc), status=503, type="server_error") from exc
            return self._spoken_chunks(request, sentences, pieces, prompt_text, audio_s, trace)
        started = time.perf_counter()
        try:
            wav = self.tts.wav(compose.for_speech(reply))
        except ModelUnavailable as exc:
            raise OfflineAPIError(str(exc), status=503, type="server_error") from exc
        trace.timings_ms["tts"] = _ms(started)
        message = protocol.audio_message(reply, base64.b64encode(wav).decode("ascii"))
        use = protocol.usage(
            prompt_text,
            protocol.audio_tokens(audio_s),
            protocol.text_tokens(reply),
            protocol.audio_tokens(duration_s(wav)),
        )
        return protocol.completion(request.model, message, "stop", use)

    def _spoken_chunks(
        self,
        request: ChatRequest,
        sentences: list[str],
        pieces: Iterator[tuple[int, bytes]],
        prompt_text: int,
        audio_s: float,
        trace: TurnTrace,
    ) -> Chunks:
        """The answer's chunks: each sentence's words, then its sound as soon as it is voiced."""
        head = protocol.stream_head(request.model)
        started = time.perf_counter()
        opening = {"id": protocol.audio_id(), "transcript": ""}
        yield protocol.chunk(head, {"role": "assistant", "content": None, "audio": opening})
        said, samples = 0, 0
        for n, pcm in pieces:
            if n >= said:  # the words of a sentence go just before its sound
                yield protocol.chunk(head, {"audio": {"transcript": _words(sentences, said, n)}})
                said = n + 1
            if not samples:
                trace.timings_ms["first_audio"] = _ms(started)
            samples += len(pcm) // 2
            for start in range(0, len(pcm), AUDIO_PIECE_BYTES):
                data = base64.b64encode(pcm[start : start + AUDIO_PIECE_BYTES]).decode("ascii")
                yield protocol.chunk(head, {"audio": {"data": data}})
        trace.timings_ms["tts"] = _ms(started)
        closing: dict[str, Any] = {"expires_at": protocol.expires_at()}
        if said < len(sentences):  # sentences with nothing to say still belong to the text
            closing["transcript"] = _words(sentences, said, len(sentences) - 1)
        yield protocol.chunk(head, {"audio": closing})
        yield protocol.chunk(head, {}, "stop")
        if request.include_usage:
            seconds = samples / STREAM_RATE
            said_text = " ".join(sentences)
            use = protocol.usage(
                prompt_text,
                protocol.audio_tokens(audio_s),
                protocol.text_tokens(said_text),
                protocol.audio_tokens(seconds),
            )
            yield protocol.usage_chunk(head, use)


def _maybe_streamed(request: ChatRequest, whole: dict[str, Any]) -> dict[str, Any] | Chunks:
    return iter(protocol.as_chunks(whole, request.include_usage)) if request.stream else whole


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+", text.strip()) if s]


def _words(sentences: list[str], first: int, last: int) -> str:
    """Sentences first..last as transcript text, with the space that joins them to what came
    before."""
    return (" " if first else "") + " ".join(sentences[first : last + 1])


def _quietly(step: Any) -> None:
    """A warm-up step whose failure is reported by status() (a load) or the log, never raised."""
    try:
        step()
    except ModelUnavailable:
        pass
    except Exception as exc:  # the first real request will report it to its caller
        log.warning("offline warm-up step failed: %s", exc)


def _customer(messages: list[dict[str, Any]]) -> str | None:
    """The documented context line `Customer being helped: <user_name>` in a system message."""
    found = None
    for message in messages:
        if message["role"] in ("system", "developer"):
            for match in CUSTOMER_LINE.finditer(_text_of(message)):
                found = match.group(1).lower()
    return found


def _last_answer(earlier: list[dict[str, Any]]) -> str | None:
    """What the assistant said last, for "what did you just say?"."""
    for message in reversed(earlier):
        if message["role"] == "assistant" and not message.get("tool_calls"):
            text = _text_of(message).strip()
            if text:
                return text
    return None


def _tool_outcomes(tail: list[dict[str, Any]]) -> list[compose.ToolOutcome]:
    """The tool results after the last user message, with the call each one answers."""
    asked: dict[str, tuple[str, dict[str, Any]]] = {}
    outcomes = []
    for message in tail:
        if message["role"] == "assistant":
            for call in message.get("tool_calls") or []:
                fn = call.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    args = {}
                asked[call.get("id", "")] = (
                    fn.get("name", ""),
                    args if isinstance(args, dict) else {},
                )
        elif message["role"] == "tool":
            name, args = asked.get(message.get("tool_call_id", ""), ("", {}))
            outcomes.append(compose.ToolOutcome(name, args, _text_of(message)))
    return outcomes


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text") or "")
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    audio = message.get("audio")
    if isinstance(audio, dict):
        return str(audio.get("transcript") or "")
    return ""


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
