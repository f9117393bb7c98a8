"""One Realtime session (OpenAI's GA protocol) over the offline engine, without a socket.

The transport hands each client event (a JSON text) to `receive` and gives a `send` callable
for server events; this module does the rest:

* `input_audio_buffer.append` (PCM16 24 kHz) -> Silero VAD -> `speech_started` / `speech_stopped`
  / `committed` -> Whisper on the segment -> `...input_audio_transcription.completed` -> a
  response, when server VAD creates one (`input_audio_buffer.commit` works without VAD);
* a response asks the engine (localspeech.engine, Chat Completions) for the turn: tool calls
  become `function_call` items; after the client adds `function_call_output`s and sends
  `response.create`, the engine composes the answer from them, spoken by Piper sentence by
  sentence as `response.output_audio.delta`s;
* `response.cancel`, or speech starting while an answer plays (barge-in), ends the response at
  once (`response.done` status cancelled) and no more of its audio is sent;
* a bad event gets an `error` event in the GA shape; the session goes on.

Receiving (and VAD, ~0.2 ms a 32 ms window) runs on the transport's thread; hearing, routing and
speaking run on one worker thread per session, so a cancel or barge-in is read while an answer
is being voiced. Every event is sent under one lock, so a cancelled response sends nothing after
its `response.done`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from localspeech import compose
from localspeech import realtime_items as items
from localspeech.checks import load_json
from localspeech.loading import ModelUnavailable
from localspeech.protocol import OfflineAPIError, new_id
from localspeech.realtime_events import (
    Config,
    RealtimeError,
    client_item,
    object_of,
    response_config,
    session_body,
    updated,
)
from localspeech.vad import IN_RATE, WINDOW_MS, TurnDetector, TurnSettings
from wavcodec import encode_wav

log = logging.getLogger(__name__)
DEFAULT_MODEL = "voicedesk-offline"
SESSION_TTL_S = 3600  # `expires_at`; the server ends a session this old
MAX_APPEND_CHARS = 15 * 1024 * 1024  # OpenAI's limit for one append event (base64)
MAX_ITEMS = 512  # the oldest items are forgotten beyond this
MAX_WAITING_JOBS = 8  # committed turns and responses waiting for the worker
MIN_COMMIT_MS = 100  # OpenAI refuses to commit less
TAIL_MS = 150  # kept after the last speech window: a word's soft end
AUDIO_DELTA_BYTES = 9_600  # one `response.output_audio.delta`: 0.2 s of PCM16 at 24 kHz
BYTES_PER_MS = IN_RATE * 2 // 1000
EVENT_ID_CHARS = 512
Send = Callable[[dict[str, Any]], None]


@dataclass
class _Response:
    id: str
    audio: bool  # output_modalities has "audio"
    output: list[dict[str, Any]] = field(default_factory=list)
    message: dict[str, Any] | None = None  # the assistant item being said
    sentences: list[str] = field(default_factory=list)
    said: int = 0  # sentences whose words were sent
    starts_ms: list[int] = field(default_factory=list)  # where each said sentence's audio began
    audio_bytes: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)  # what the engine read
    heard_s: float = 0.0
    closed: bool = False


class RealtimeSession:
    def __init__(
        self,
        engine: Any,
        send: Send,
        *,
        model: str | None = None,
        detector: Callable[[TurnSettings], TurnDetector] = TurnDetector,
    ):
        self.engine = engine
        self._send = send
        self._make_detector = detector
        self.id = new_id("sess_")
        self.model = model or DEFAULT_MODEL
        self.created = int(time.time())
        self.config = Config()
        self.items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._heard_s: dict[str, float] = {}  # user audio items: seconds heard
        self._spoken: dict[str, _Response] = {}  # assistant audio items: what was voiced
        self._lock = threading.RLock()
        self._buffer = bytearray()
        self._buffer_start_ms = 0  # the stream clock at the buffer's first byte
        self._detector: TurnDetector | None = None
        self._speech: tuple[str, int] | None = None  # (item id, start ms) of speech under way
        self._early: threading.Thread | None = None  # hearing a turn at its first pause
        self._response: _Response | None = None
        self._waiting_response = False  # a response asked for and not yet done
        self._turns = 0  # speech starts so far: a turn heard after a newer one began is not
        # answered (the newer one is, with both in the conversation)
        self._jobs: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, name=f"realtime-{self.id}", daemon=True)
        self.closed = False

    # ---- the transport's side -----------------------------------------------------------

    def start(self) -> None:
        self._worker.start()
        self._event("session.created", session=self._session())

    def close(self) -> None:
        """The connection is gone: stop the answer being voiced and the worker."""
        with self._lock:
            self.closed = True
            if self._response is not None:
                self._response.closed = True
        self._jobs.put(None)

    def refuse(self, message: str) -> None:
        """A message the transport could not take as an event."""
        self._error(RealtimeError(message, code="invalid_frame"), None)

    def expire(self, message: str) -> None:
        """The transport ends the session (too old, or idle): one last `error` event."""
        self._error(RealtimeError(message, code="session_expired"), None)

    def receive(self, text: str | bytes) -> None:
        """One client event (a JSON text); any fault in it becomes an `error` event."""
        client_event_id = None
        try:
            event = load_json(text if isinstance(text, bytes) else text.encode("utf-8"))
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise RealtimeError(
                    "An event must be a JSON object with a string type.", param="type"
                )
            given = event.get("event_id")
            if isinstance(given, str) and len(given) <= EVENT_ID_CHARS:
                client_event_id = given
            handler = _HANDLERS.get(event["type"])
            if handler is None:
                raise RealtimeError(
                    f"The event type '{event['type'][:64]}' is not supported.",
                    code="invalid_event_type",
                    param="type",
                )
            handler(self, event)
        except RealtimeError as exc:
            self._error(exc, client_event_id)
        except OfflineAPIError as exc:  # JSON too large, too deep, not JSON
            self._error(RealtimeError(str(exc), code=exc.code or "invalid_json"), client_event_id)
        except Exception:  # never a traceback to the client; the log has it
            log.exception("realtime session: an event failed")
            self._error(
                RealtimeError(
                    "The offline engine failed on this event; see its log.",
                    code="server_error",
                    type="server_error",
                ),
                client_event_id,
            )

    # ---- events -------------------------------------------------------------------------

    def _on_session_update(self, event: dict[str, Any]) -> None:
        session = object_of(event.get("session"), "session")
        config = updated(self.config, session)
        with self._lock:
            if config.turn != self.config.turn:
                self._detector = None  # made again with the new settings
                self._speech = None
            self.config = config
            self._event("session.updated", session=self._session())

    def _on_append(self, event: dict[str, Any]) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            raise RealtimeError("audio must be a base64 string.", param="audio")
        if len(audio) > MAX_APPEND_CHARS:
            raise RealtimeError(
                "One append may carry at most 15 MB of audio.",
                param="audio",
                code="audio_too_large",
            )
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise RealtimeError("audio is not valid base64.", param="audio") from None
        if len(pcm) % 2:
            raise RealtimeError(
                "audio must be whole PCM16 samples (an even number of bytes).", param="audio"
            )
        limit_ms = int(self.engine.max_recording_s * 1000)
        with self._lock:
            full = (len(self._buffer) + len(pcm)) // BYTES_PER_MS > limit_ms
            if full and self._speech is not None and self._detector is not None:
                # Speech (or a noise taken for it) longer than can be heard at once: the turn
                # ends here, as OpenAI ends one at its own limit, rather than refusing audio.
                self._speech_stopped(self._end_ms())
                self._detector.reset()
                full = (len(self._buffer) + len(pcm)) // BYTES_PER_MS > limit_ms
            if full:
                raise RealtimeError(
                    f"The input audio buffer holds at most {limit_ms // 1000} seconds; "
                    "commit or clear it.",
                    code="input_audio_buffer_full",
                    param="audio",
                )
            clock_ms = self._end_ms()  # where this audio begins on the stream clock
            self._buffer += pcm
            detector = self._turn_detector(clock_ms)
        if detector is None:
            return
        for voice in detector.feed(pcm):
            with self._lock:
                if voice.kind == "started":
                    self._speech_started(voice.ms)
                elif self._speech is not None and voice.kind == "paused":
                    self._hear_early(self._segment(voice.ms))
                elif self._speech is not None:
                    self._speech_stopped(voice.ms)
        with self._lock:
            if self._speech is None:  # keep only what a next turn's padding may need
                self._trim(self._end_ms() - self.config.turn.prefix_padding_ms - 300)

    def _on_commit(self, event: dict[str, Any]) -> None:
        with self._lock:
            if len(self._buffer) < MIN_COMMIT_MS * BYTES_PER_MS:
                raise RealtimeError(
                    f"The input audio buffer holds less than {MIN_COMMIT_MS} ms of audio.",
                    code="input_audio_buffer_commit_empty",
                )
            item_id = self._speech[0] if self._speech else new_id("item_")
            self._speech = None
            if self._detector is not None:
                self._detector.reset()
            self._commit(item_id, bytes(self._buffer), respond=False)
            self._trim(self._end_ms())

    def _on_clear(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._trim(self._end_ms())
            self._speech = None
            if self._detector is not None:
                self._detector.reset()
            self._event("input_audio_buffer.cleared")

    def _on_item_create(self, event: dict[str, Any]) -> None:
        item = client_item(object_of(event.get("item"), "item"))
        previous = event.get("previous_item_id")
        with self._lock:
            if previous is not None and previous not in self.items:
                raise RealtimeError(
                    f"There is no item '{str(previous)[:64]}' to add after.",
                    param="previous_item_id",
                    code="item_not_found",
                )
            if item["id"] in self.items:
                raise RealtimeError(
                    "An item with this id exists already.", param="item.id", code="item_exists"
                )
            self._add(item, added_and_done=True)

    def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = self._item_id(event)
        with self._lock:
            self.items.pop(item_id)
            self._event("conversation.item.deleted", item_id=item_id)

    def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        item_id = self._item_id(event)
        with self._lock:
            self._event("conversation.item.retrieved", item=self.items[item_id])

    def _on_truncate(self, event: dict[str, Any]) -> None:
        item_id = self._item_id(event)
        end_ms = event.get("audio_end_ms")
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            raise RealtimeError(
                "audio_end_ms must be a whole number of ms, 0 or more.", param="audio_end_ms"
            )
        if event.get("content_index", 0) != 0:
            raise RealtimeError(
                "An answer has one content part: content_index must be 0.", param="content_index"
            )
        with self._lock:
            said = self._spoken.get(item_id)
            if said is None:
                raise RealtimeError(
                    "Only an assistant's spoken answer can be truncated.", param="item_id"
                )
            if end_ms > said.audio_bytes // BYTES_PER_MS:
                raise RealtimeError(
                    "audio_end_ms is longer than the answer's audio.", param="audio_end_ms"
                )
            if said is self._response:  # the answer is still being voiced: stop it first
                self._finish(said, "cancelled", "client_cancelled")
            heard = [
                s
                for s, start in zip(said.sentences, said.starts_ms, strict=False)
                if start < end_ms
            ]
            item = self.items.get(item_id)
            if item is not None:  # what the listener heard is what the conversation keeps
                item["content"] = [{"type": "output_audio", "transcript": " ".join(heard)}]
            self._event(
                "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=end_ms
            )

    def _on_response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response")
        params = object_of(params, "response") if params is not None else {}
        config = response_config(self.config, params)
        with self._lock:
            if self._waiting_response:
                raise RealtimeError(
                    "A response is already under way; cancel it or wait for response.done.",
                    code="conversation_already_has_active_response",
                )
            self._queue(("respond", config))
            self._waiting_response = True

    def _on_response_cancel(self, event: dict[str, Any]) -> None:
        with self._lock:
            response = self._response
            wanted = event.get("response_id")
            if response is None or (wanted is not None and wanted != response.id):
                raise RealtimeError(
                    "There is no response under way to cancel.", code="response_cancel_not_active"
                )
            self._finish(response, "cancelled", "client_cancelled")

    def _on_output_buffer_clear(self, event: dict[str, Any]) -> None:
        raise RealtimeError(
            "output_audio_buffer.clear is for WebRTC; over a WebSocket, send response.cancel.",
            code="unsupported_event",
        )

    # ---- turns ----------------------------------------------------------------------------

    def _turn_detector(self, clock_ms: int) -> TurnDetector | None:
        if self.config.turn is None:
            return None
        if self._detector is None:
            try:
                self._detector = self._make_detector(self.config.turn)
            except ModelUnavailable as exc:
                self.config.turn = None  # commits still work by hand
                log.warning("realtime session: no voice detection (%s)", exc)
                raise RealtimeError(
                    "Voice detection is not installed here, so commit each turn yourself.",
                    code="vad_unavailable",
                    type="server_error",
                ) from None
            self._detector.windows = clock_ms // WINDOW_MS  # its clock starts at ours
        return self._detector

    def _speech_started(self, ms: int) -> None:
        item_id = new_id("item_")
        self._speech = (item_id, ms)
        self._turns += 1
        response = self._response
        if response is not None and self.config.interrupt_response:
            self._finish(response, "cancelled", "turn_detected")
        start = max(0, ms - self.config.turn.prefix_padding_ms)
        self._event("input_audio_buffer.speech_started", audio_start_ms=start, item_id=item_id)

    def _speech_stopped(self, ms: int) -> None:
        item_id = self._speech[0]
        segment = self._segment(ms)
        self._speech = None
        self._event("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=item_id)
        self._trim(ms)
        self._commit(item_id, segment, respond=self.config.create_response)

    def _segment(self, end_ms: int) -> bytes:
        """The speech under way, from its padding before to a short tail after `end_ms`."""
        start_ms = self._speech[1]
        first = max(self._buffer_start_ms, start_ms - self.config.turn.prefix_padding_ms)
        return bytes(self._slice(first, min(self._end_ms(), end_ms + TAIL_MS)))

    def _hear_early(self, pcm: bytes) -> None:
        """Start hearing a turn at a pause, before silence_duration_ms says it ended: if it
        does end there, its commit carries the same audio, and the engine's transcript cache
        hands over this result (or waits for it) instead of hearing it again."""
        if self._early is not None and self._early.is_alive():
            return  # one at a time: a pause-and-go speaker must not queue Whisper runs
        self._early = threading.Thread(target=self._transcribe_early, args=(pcm,), daemon=True)
        self._early.start()

    def _transcribe_early(self, pcm: bytes) -> None:
        try:
            self._transcribe(pcm)
        except Exception as exc:  # the commit hears it again, and reports any fault
            log.info("realtime session: early hearing failed (%s)", type(exc).__name__)

    def _transcribe(self, pcm: bytes) -> dict[str, Any]:
        samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
        self.engine.players()  # Whisper's prompt names the players
        return self.engine.transcription(
            {"model": "whisper-tiny.en", "response_format": "json"}, encode_wav(samples, IN_RATE)
        )

    def _commit(self, item_id: str, pcm: bytes, respond: bool) -> None:
        previous = next(reversed(self.items), None)
        self._event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        self._add(items.user_audio(item_id), added_and_done=False)
        self._heard_s[item_id] = len(pcm) / (2 * IN_RATE)
        self._queue(("hear", item_id, pcm, respond, self._turns))

    def _hear(self, item_id: str, pcm: bytes, respond: bool, turn: int) -> None:
        try:
            result = self._transcribe(pcm)
        except OfflineAPIError as exc:
            with self._lock:
                error = {
                    "type": exc.type,
                    "code": exc.code or "transcription_failed",
                    "message": str(exc),
                    "param": exc.param or "audio",
                }
                self._event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=item_id,
                    content_index=0,
                    error=error,
                )
            return
        transcript = result["text"]
        with self._lock:
            item = self.items.get(item_id)
            if item is not None:
                item["content"] = [{"type": "input_audio", "transcript": transcript}]
            self._event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=transcript,
                usage={"type": "duration", "seconds": result["usage"]["seconds"]},
            )
            if item is not None:
                self._event(
                    "conversation.item.done", item=item, previous_item_id=self._before(item_id)
                )
            if not transcript.strip():  # a cough or a door: nothing to answer
                return
            if turn != self._turns:  # they spoke again meanwhile: answer that turn instead
                return
        if respond:
            self._respond(self.config)

    # ---- responses ------------------------------------------------------------------------

    def _respond(self, config: Config) -> None:
        response = _Response(new_id("resp_"), "audio" in config.output_modalities)
        with self._lock:
            self._waiting_response = True
            if self.closed:
                return
            self._response = response
            self._event(
                "response.created", response=self._response_body(response, "in_progress", None)
            )
            history = list(self.items.values())
        response.messages = items.chat_messages(config.instructions, history)
        last_user = next((i for i in reversed(history) if i.get("role") == "user"), None)
        response.heard_s = self._heard_s.get(last_user["id"], 0.0) if last_user else 0.0
        body: dict[str, Any] = {"model": self.model, "messages": response.messages}
        if config.tools:
            body["tools"] = items.chat_tools(config.tools)
            body["tool_choice"] = items.chat_tool_choice(config.tool_choice)
        try:
            answer = self.engine.chat(body)
            message = answer["choices"][0]["message"]
            if message.get("tool_calls"):
                self._call_tools(response, message["tool_calls"])
            else:
                self._say(response, message.get("content") or "")
        except (OfflineAPIError, ModelUnavailable) as exc:
            code = getattr(exc, "code", None) or "engine_failed"
            with self._lock:
                self._finish(response, "failed", error={"type": "server_error", "code": code})
                self._error(RealtimeError(str(exc), code=code, type="server_error"), None)

    def _call_tools(self, response: _Response, calls: list[dict[str, Any]]) -> None:
        with self._lock:
            if response.closed:
                return
            for index, call in enumerate(calls):
                function = call.get("function") or {}
                item_id, call_id = new_id("item_"), new_id("call_")
                name, arguments = function.get("name", ""), function.get("arguments", "{}")
                where = {"response_id": response.id, "item_id": item_id, "output_index": index}
                self._event(
                    "response.output_item.added",
                    response_id=response.id,
                    output_index=index,
                    item=items.function_call(item_id, call_id, name, "", "in_progress"),
                )
                self._event(
                    "response.function_call_arguments.delta",
                    **where,
                    call_id=call_id,
                    delta=arguments,
                )
                self._event(
                    "response.function_call_arguments.done",
                    **where,
                    call_id=call_id,
                    name=name,
                    arguments=arguments,
                )
                item = items.function_call(item_id, call_id, name, arguments, "completed")
                self._event(
                    "response.output_item.done",
                    response_id=response.id,
                    output_index=index,
                    item=item,
                )
                self._add(item, added_and_done=True)
                response.output.append(item)
            self._finish(response, "completed")

    def _say(self, response: _Response, text: str) -> None:
        text = text.strip() or "Sorry, I have no answer for that."
        response.sentences = [s for s in re.split(r"(?<=[.!?;])\s+", text) if s]
        item_id = new_id("item_")
        with self._lock:
            if response.closed:
                return
            response.message = items.assistant(item_id, "in_progress", None, response.audio)
            self._event(
                "response.output_item.added",
                response_id=response.id,
                output_index=0,
                item=response.message,
            )
            self._add(dict(response.message), added_and_done=False)
            part = (
                {"type": "audio", "transcript": ""}
                if response.audio
                else {"type": "text", "text": ""}
            )
            self._event("response.content_part.added", **self._where(response), part=part)
            if not response.audio:
                response.said = len(response.sentences)
                self._event("response.output_text.delta", **self._where(response), delta=text)
                self._finish(response, "completed")
                return
            self._spoken[item_id] = response
        pieces = self.engine.tts.stream([compose.for_speech(s) for s in response.sentences])
        try:
            for n, pcm in pieces:
                with self._lock:
                    if response.closed:
                        return
                    self._voice(response, n, pcm)
        finally:
            pieces.close()  # a cancelled answer: the phrases still queued are not voiced
        with self._lock:
            self._finish(response, "completed")

    def _voice(self, response: _Response, n: int, pcm: bytes) -> None:
        where = self._where(response)
        if n >= response.said:  # a sentence's words go just before its sound
            words = " ".join(response.sentences[response.said : n + 1])
            self._event(
                "response.output_audio_transcript.delta",
                **where,
                delta=(" " if response.said else "") + words,
            )
            response.starts_ms += [response.audio_bytes // BYTES_PER_MS] * (n + 1 - response.said)
            response.said = n + 1
        for start in range(0, len(pcm), AUDIO_DELTA_BYTES):
            chunk = pcm[start : start + AUDIO_DELTA_BYTES]
            self._event(
                "response.output_audio.delta",
                **where,
                delta=base64.b64encode(chunk).decode("ascii"),
            )
            response.audio_bytes += len(chunk)

    def _finish(
        self,
        response: _Response,
        status: str,
        reason: str | None = None,
        error: dict[str, str] | None = None,
    ) -> None:
        """The closing events of a response, once: the answer's item as far as it was said."""
        if response.closed:
            return
        response.closed = True
        said = " ".join(response.sentences[: response.said])
        if response.message is not None:
            where = self._where(response)
            if response.audio:
                self._event("response.output_audio.done", **where)
                self._event("response.output_audio_transcript.done", **where, transcript=said)
                part = {"type": "audio", "transcript": said}
            else:
                self._event("response.output_text.done", **where, text=said)
                part = {"type": "text", "text": said}
            self._event("response.content_part.done", **where, part=part)
            done = "completed" if status == "completed" else "incomplete"
            item = items.assistant(response.message["id"], done, said, response.audio)
            response.message = item
            response.output.append(item)
            self._event(
                "response.output_item.done", response_id=response.id, output_index=0, item=item
            )
            if item["id"] in self.items:
                self.items[item["id"]] = item
                self._event(
                    "conversation.item.done", item=item, previous_item_id=self._before(item["id"])
                )
        details: dict[str, Any] = {"type": status}
        if reason:
            details["reason"] = reason
        if error:
            details["error"] = error
        self._event("response.done", response=self._response_body(response, status, details))
        if self._response is response:
            self._response = None
        self._waiting_response = False

    def _response_body(self, response: _Response, status: str, details: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": response.id,
            "object": "realtime.response",
            "status": status,
            "output": list(response.output),
            "conversation_id": self.id.replace("sess_", "conv_"),
            "output_modalities": ["audio"] if response.audio else ["text"],
            "max_output_tokens": "inf",
        }
        if response.audio:
            body["audio"] = {
                "output": {
                    "format": {"type": "audio/pcm", "rate": IN_RATE},
                    "voice": self.config.voice,
                }
            }
        if details is not None:
            body["status_details"] = details
            said = " ".join(response.sentences[: response.said])
            for item in response.output:
                if item["type"] == "function_call":
                    said += item["arguments"]
            spoken_s = response.audio_bytes / (2 * IN_RATE)
            body["usage"] = items.usage(response.messages, response.heard_s, said, spoken_s)
        return body

    # ---- the worker -----------------------------------------------------------------------

    def _queue(self, job: tuple) -> None:
        if self._jobs.qsize() >= MAX_WAITING_JOBS:
            raise RealtimeError(
                "Too many turns are waiting to be answered; slow down.",
                code="too_many_waiting",
                type="server_error",
            )
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self.closed:
                return
            try:
                if job[0] == "hear":
                    self._hear(*job[1:])
                else:
                    self._respond(job[1])
            except Exception:  # one failed turn must not end the session
                log.exception("realtime session: a turn failed")
                with self._lock:
                    if self._response is not None:
                        self._finish(
                            self._response,
                            "failed",
                            error={"type": "server_error", "code": "engine_failed"},
                        )
                    self._waiting_response = False
                    self._error(
                        RealtimeError(
                            "The offline engine failed on this turn; see its log.",
                            code="server_error",
                            type="server_error",
                        ),
                        None,
                    )

    # ---- helpers --------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> None:
        self._emit({"type": kind, **fields})

    def _emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self.closed:
                return
            self._send({"event_id": new_id("event_"), **event})

    def _error(self, exc: RealtimeError, client_event_id: str | None) -> None:
        self._event(
            "error",
            error={
                "type": exc.type,
                "code": exc.code,
                "message": str(exc),
                "param": exc.param,
                "event_id": client_event_id,
            },
        )

    def _add(self, item: dict[str, Any], *, added_and_done: bool) -> None:
        previous = next(reversed(self.items), None)
        self.items[item["id"]] = item
        while len(self.items) > MAX_ITEMS:
            old, _ = self.items.popitem(last=False)
            self._heard_s.pop(old, None)
            self._spoken.pop(old, None)
        self._event("conversation.item.added", item=item, previous_item_id=previous)
        if added_and_done:
            self._event("conversation.item.done", item=item, previous_item_id=previous)

    def _before(self, item_id: str) -> str | None:
        keys = list(self.items)
        at = keys.index(item_id)
        return keys[at - 1] if at else None

    def _item_id(self, event: dict[str, Any]) -> str:
        item_id = event.get("item_id")
        if not isinstance(item_id, str) or item_id not in self.items:
            raise RealtimeError(
                f"There is no item '{str(item_id)[:64]}'.", param="item_id", code="item_not_found"
            )
        return item_id

    @staticmethod
    def _where(response: _Response) -> dict[str, Any]:
        return {
            "response_id": response.id,
            "item_id": response.message["id"],
            "output_index": 0,
            "content_index": 0,
        }

    def _end_ms(self) -> int:
        return self._buffer_start_ms + len(self._buffer) // BYTES_PER_MS

    def _slice(self, first_ms: int, last_ms: int) -> bytearray:
        a = max(0, first_ms - self._buffer_start_ms) * BYTES_PER_MS
        b = max(0, last_ms - self._buffer_start_ms) * BYTES_PER_MS
        return self._buffer[a:b]

    def _trim(self, until_ms: int) -> None:
        """Drop the buffered audio before `until_ms` on the stream clock."""
        drop = min(len(self._buffer), max(0, until_ms - self._buffer_start_ms) * BYTES_PER_MS)
        if drop:
            del self._buffer[:drop]
            self._buffer_start_ms += drop // BYTES_PER_MS

    def _session(self) -> dict[str, Any]:
        return session_body(self.config, self.id, self.model, self.created + SESSION_TTL_S)


# ---- reading client events -----------------------------------------------------------------

_HANDLERS: dict[str, Callable[[RealtimeSession, dict[str, Any]], None]] = {
    "session.update": RealtimeSession._on_session_update,
    "input_audio_buffer.append": RealtimeSession._on_append,
    "input_audio_buffer.commit": RealtimeSession._on_commit,
    "input_audio_buffer.clear": RealtimeSession._on_clear,
    "conversation.item.create": RealtimeSession._on_item_create,
    "conversation.item.delete": RealtimeSession._on_item_delete,
    "conversation.item.retrieve": RealtimeSession._on_item_retrieve,
    "conversation.item.truncate": RealtimeSession._on_truncate,
    "response.create": RealtimeSession._on_response_create,
    "response.cancel": RealtimeSession._on_response_cancel,
    "output_audio_buffer.clear": RealtimeSession._on_output_buffer_clear,
}
