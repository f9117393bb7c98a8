"""An Azure AI Voice Live double on 127.0.0.1, following the `azure-ai-voicelive` SDK's models.

It speaks at `/voice-live/realtime` as the SDK's `aio.connect` addresses it (api-version and
model in the query, `api-key` or a bearer token in the headers). Every client event is checked
against the SDK's models (tests/contracts/voicelive_models.py): one they would not accept is
refused with an `error` event and recorded in `refused`. Every server event is built from the
SDK's model classes and serialised as the SDK serialises (`as_dict()`, bytes as base64), and is
checked against the same models before it leaves.

Scripting (from the test's event loop):
    async with VoiceLiveDouble() as double:
        double.answers.append(double.answer("Your balance is 5 points.", audio=b"..."))
        await double.hear("what is my balance")     # VAD, commit, transcription
        await double.speech_started()               # the person speaks over the answer
        await double.error("rate_limit_exceeded", "Too many requests.")
        await double.drop()                         # the TCP connection dies
    double.received / double.refused / double.handshakes
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.ai.voicelive import models as vl
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from tests.contracts.voicelive_models import client_event_errors, server_event_errors

PATH = "/voice-live/realtime"
API_KEY = "vl-test-key-0123456789"
TOKEN = "vl-test-entra-token"
Script = Callable[[], Awaitable[None]]


class VoiceLiveDouble:
    def __init__(self, *, models: tuple[str, ...] = ("gpt-realtime",), chunk_delay_s: float = 0.0):
        self.models = models
        self.chunk_delay_s = chunk_delay_s  # between audio chunks: time to speak over an answer
        self.refuse_status: int | None = None  # every handshake gets this HTTP status
        self.handshakes: list[dict[str, Any]] = []  # path, query and auth kind of each
        self.received: list[dict[str, Any]] = []  # every client event, as it arrived
        self.refused: list[str] = []  # what the SDK's models would not accept
        self.failures: list[str] = []  # the double's own faults (checked on leaving)
        self.answers: deque[Script] = deque()  # played, in order, on each response.create
        self.session: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._connection: ServerConnection | None = None
        self._connected = asyncio.Event()
        self._response: asyncio.Task | None = None
        self._response_id = ""
        self._server = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> VoiceLiveDouble:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._handshake, max_size=None
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.cancel()
        self._server.close()
        await self._server.wait_closed()
        assert not self.failures, f"the double failed: {self.failures}"

    @property
    def endpoint(self) -> str:
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        """The client events of type `kind` once `count` of them have arrived."""

        async def enough() -> list[dict]:
            while len(found := [e for e in self.received if e.get("type") == kind]) < count:
                await asyncio.sleep(0.01)
            return found

        return await asyncio.wait_for(enough(), timeout)

    # -- handshake ---------------------------------------------------------------------------

    def _handshake(self, connection: ServerConnection, request: Request):
        url = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        key, bearer = request.headers.get("api-key"), request.headers.get("Authorization", "")
        auth = "key" if key else "token" if bearer.startswith("Bearer ") else "none"
        self.handshakes.append({"path": url.path, "query": query, "auth": auth})
        if self.refuse_status is not None:
            return self._refuse(connection, self.refuse_status, "refused by the test")
        if url.path != PATH or "api-version" not in query:
            return self._refuse(connection, 404, "Resource not found")
        if key != API_KEY and bearer != f"Bearer {TOKEN}":
            return self._refuse(connection, 401, "Access denied due to invalid subscription key")
        if query.get("model") not in self.models:
            return self._refuse(connection, 404, "The model or deployment does not exist")
        return None

    @staticmethod
    def _refuse(connection: ServerConnection, status: int, message: str):
        body = json.dumps({"error": {"code": str(status), "message": message}})
        return connection.respond(status, body)

    # -- the session -------------------------------------------------------------------------

    async def _serve(self, connection: ServerConnection) -> None:
        self._connection = connection
        query = self.handshakes[-1]["query"]
        self.session = {"id": f"sess_{next(self._ids)}", "model": query["model"],
                        "modalities": ["text", "audio"], "input_audio_format": "pcm16",
                        "output_audio_format": "pcm16", "voice": {"type": "openai", "name": "alloy"},
                        "turn_detection": {"type": "server_vad"}}  # fmt: skip
        await self.send(vl.ServerEventSessionCreated(session=vl.ResponseSession(self.session)))
        self._connected.set()
        try:
            async for message in connection:
                await self._on_client_event(json.loads(message))
        except ConnectionClosed:
            pass
        except Exception as exc:  # the double's own fault: the test must fail, not hang on
            self.failures.append(repr(exc))
            raise
        finally:
            self._connected.clear()

    async def _on_client_event(self, event: dict[str, Any]) -> None:
        self.received.append(event)
        errors = client_event_errors(event)
        if errors:
            self.refused += errors
            await self.error("invalid_event", errors[0], event_id=event.get("event_id"))
            return
        kind = event["type"]
        if kind == "session.update":
            self.session.update(event["session"])
            await self.send(vl.ServerEventSessionUpdated(session=vl.ResponseSession(self.session)))
        elif kind == "response.create":
            script = self.answers.popleft() if self.answers else self.answer("Done.")
            self._response = asyncio.create_task(script())
            self._response.add_done_callback(self._check)
        elif kind == "response.cancel":
            await self._cancel("client_cancelled")
        elif kind == "conversation.item.truncate":
            await self.send(
                vl.ServerEventConversationItemTruncated(
                    item_id=event["item_id"],
                    content_index=event["content_index"],
                    audio_end_ms=event["audio_end_ms"],
                )
            )
        elif kind == "conversation.item.create":
            item = {k: v for k, v in event["item"].items() if k != "status"}
            if item["type"] in ("message", "function_call"):  # items the SDK gives a status
                item["status"] = "completed"
            item.setdefault("id", f"item_{next(self._ids)}")
            await self.send(
                vl.ServerEventConversationItemCreated(item=vl.ResponseItem._deserialize(item, []))
            )

    def _check(self, task: asyncio.Task) -> None:
        if task.cancelled() or isinstance(task.exception(), (ConnectionClosed, type(None))):
            return
        self.failures.append(repr(task.exception()))

    async def send(self, event: vl.ServerEvent) -> None:
        """A server event, as the SDK's model serialises it, checked against the SDK's models."""
        if not event.get("event_id"):
            event["event_id"] = f"event_{next(self._ids)}"
        data = event.as_dict()
        errors = server_event_errors(data)
        assert not errors, f"the double built an event the SDK would not read: {errors}"
        await self._connection.send(json.dumps(data))

    # -- scripts -----------------------------------------------------------------------------

    def answer(self, transcript: str, audio: bytes = b"\0\0" * 2400, chunks: int = 3) -> Script:
        """A spoken answer: its transcript word by word, its audio in `chunks` deltas."""

        async def play() -> None:
            response_id, item_id = self._start_response()
            await self.send(
                vl.ServerEventResponseCreated(response=self._response_model("in_progress"))
            )
            item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress",
                    "content": []}  # fmt: skip
            at = {"response_id": response_id, "item_id": item_id, "output_index": 0}
            await self.send(vl.ServerEventResponseOutputItemAdded(
                response_id=response_id, output_index=0, item=vl.ResponseItem._deserialize(item, [])
            ))  # fmt: skip
            part = vl.ResponseAudioContentPart(transcript="")
            await self.send(
                vl.ServerEventResponseContentPartAdded(**at, content_index=0, part=part)
            )
            words = transcript.split(" ")
            step = max(1, -(-len(audio) // chunks))
            for i in range(max(len(words), chunks)):
                if i < len(words):
                    delta = words[i] if i == 0 else " " + words[i]
                    await self.send(vl.ServerEventResponseAudioTranscriptDelta(
                        **at, content_index=0, delta=delta))  # fmt: skip
                if i * step < len(audio):
                    await self.send(vl.ServerEventResponseAudioDelta(
                        **at, content_index=0, delta=audio[i * step : (i + 1) * step]))  # fmt: skip
                await asyncio.sleep(self.chunk_delay_s)
            await self.send(vl.ServerEventResponseAudioDone(**at, content_index=0))
            await self.send(vl.ServerEventResponseAudioTranscriptDone(
                **at, content_index=0, transcript=transcript))  # fmt: skip
            part = vl.ResponseAudioContentPart(transcript=transcript)
            await self.send(vl.ServerEventResponseContentPartDone(**at, content_index=0, part=part))
            item = {**item, "status": "completed",
                    "content": [{"type": "audio", "transcript": transcript}]}  # fmt: skip
            await self.send(vl.ServerEventResponseOutputItemDone(
                response_id=response_id, output_index=0, item=vl.ResponseItem._deserialize(item, [])
            ))  # fmt: skip
            await self._finish("completed", [item])

        return play

    def function_call(
        self, name: str, arguments: dict[str, Any], call_id: str = "call_1"
    ) -> Script:
        """A response that asks for one function call, its arguments in two deltas."""

        async def play() -> None:
            response_id, item_id = self._start_response()
            await self.send(
                vl.ServerEventResponseCreated(response=self._response_model("in_progress"))
            )
            text = json.dumps(arguments)
            item = {"id": item_id, "type": "function_call", "name": name, "call_id": call_id,
                    "arguments": "", "status": "in_progress"}  # fmt: skip
            await self.send(vl.ServerEventResponseOutputItemAdded(
                response_id=response_id, output_index=0, item=vl.ResponseItem._deserialize(item, [])
            ))  # fmt: skip
            at = {"response_id": response_id, "item_id": item_id, "output_index": 0,
                  "call_id": call_id}  # fmt: skip
            half = len(text) // 2
            for delta in (text[:half], text[half:]):
                await self.send(vl.ServerEventResponseFunctionCallArgumentsDelta(**at, delta=delta))
            await self.send(vl.ServerEventResponseFunctionCallArgumentsDone(
                **at, arguments=text, name=name))  # fmt: skip
            item = {**item, "arguments": text, "status": "completed"}
            await self.send(vl.ServerEventResponseOutputItemDone(
                response_id=response_id, output_index=0, item=vl.ResponseItem._deserialize(item, [])
            ))  # fmt: skip
            await self._finish("completed", [item])

        return play

    async def hear(self, transcript: str, start_ms: int = 1000, end_ms: int = 2500) -> str:
        """The person said `transcript`: VAD start and stop, commit, the user item, its words."""
        item_id = f"item_{next(self._ids)}"
        await self.send(vl.ServerEventInputAudioBufferSpeechStarted(
            audio_start_ms=start_ms, item_id=item_id))  # fmt: skip
        await self.send(vl.ServerEventInputAudioBufferSpeechStopped(
            audio_end_ms=end_ms, item_id=item_id))  # fmt: skip
        await self.send(vl.ServerEventInputAudioBufferCommitted(item_id=item_id))
        # The SDK's RequestAudioContentPart requires `audio`; what the service puts there for a
        # committed turn is not known here (only the SDK's models were followed).
        item = {"id": item_id, "type": "message", "role": "user", "status": "completed",
                "content": [{"type": "input_audio", "audio": ""}]}  # fmt: skip
        await self.send(
            vl.ServerEventConversationItemCreated(item=vl.ResponseItem._deserialize(item, []))
        )
        await self.send(vl.ServerEventConversationItemInputAudioTranscriptionDelta(
            item_id=item_id, content_index=0, delta=transcript))  # fmt: skip
        await self.send(vl.ServerEventConversationItemInputAudioTranscriptionCompleted(
            item_id=item_id, content_index=0, transcript=transcript))  # fmt: skip
        return item_id

    async def speech_started(self, start_ms: int = 4000) -> str:
        """The person starts speaking (over an answer, if one is playing)."""
        item_id = f"item_{next(self._ids)}"
        await self.send(vl.ServerEventInputAudioBufferSpeechStarted(
            audio_start_ms=start_ms, item_id=item_id))  # fmt: skip
        return item_id

    async def error(self, code: str, message: str, *, event_id: str | None = None) -> None:
        details = vl.ServerEventErrorDetails(
            type="invalid_request_error", code=code, message=message, event_id=event_id
        )
        await self.send(vl.ServerEventError(error=details))

    async def warn(self, code: str, message: str) -> None:
        await self.send(
            vl.ServerEventWarning(warning=vl.ServerEventWarningDetails(message=message, code=code))
        )

    async def drop(self) -> None:
        """The connection dies without a closing handshake (a network fault)."""
        self._connection.transport.abort()

    async def end_session(self, code: int = 1000, reason: str = "session time limit") -> None:
        await self._connection.close(code, reason)

    # -- responses ---------------------------------------------------------------------------

    def _start_response(self) -> tuple[str, str]:
        self._response_id = f"resp_{next(self._ids)}"
        return self._response_id, f"item_{next(self._ids)}"

    def _response_model(self, status: str, output: list | None = None, details=None) -> vl.Response:
        response = {"id": self._response_id, "object": "realtime.response", "status": status,
                    "output": output or [], "modalities": ["text", "audio"],
                    "voice": self.session.get("voice"), "output_audio_format": "pcm16"}  # fmt: skip
        if details:
            response["status_details"] = details
        if status != "in_progress":
            response["usage"] = USAGE
        return vl.Response._deserialize(response, [])

    async def _finish(self, status: str, output: list, details: dict | None = None) -> None:
        await self.send(
            vl.ServerEventResponseDone(response=self._response_model(status, output, details))
        )
        self._response = None

    async def _cancel(self, reason: str) -> None:
        task, self._response = self._response, None
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self._finish("cancelled", [], {"type": "cancelled", "reason": reason})


USAGE = {
    "total_tokens": 180, "input_tokens": 120, "output_tokens": 60,
    "input_token_details": {"cached_tokens": 64, "text_tokens": 40, "audio_tokens": 80,
                            "image_tokens": 0, "cached_tokens_details": {
                                "text_tokens": 32, "audio_tokens": 32, "image_tokens": 0}},
    "output_token_details": {"text_tokens": 15, "audio_tokens": 45},
}  # fmt: skip
