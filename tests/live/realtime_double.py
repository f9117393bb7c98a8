"""A Realtime API double (OpenAI's GA protocol) on 127.0.0.1, a `websockets` server in its own
thread, driven by the real `openai` SDK's realtime client.

Every event a client sends is checked with `client_event_errors` and every event the double
sends with `server_event_errors` (tests/contracts/openai_realtime.py); what breaks the published
schema lands in `violations`, which the fixture asserts empty.

It hears like the service does: server VAD over the appended PCM16 (loud 20 ms frames start
speech, 300 ms of quiet ends it), then the input transcription (the script's words for that
turn) and a response made of the script's steps:

    double.script(Turn("How many points has maria?",
                       [Call(("get_player_summary", {"user_name": "maria"})),
                        Say("Maria has 120 points.")]))

Faults: `reject_next(401)` refuses the next handshake; `Say(..., drop_after=2)` cuts the
connection after two audio chunks; `Fail(code, type)` answers with an `error` event (then ends
the connection when `close=True`, as a session limit does).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from tests.contracts.openai_realtime import client_event_errors, server_event_errors

RATE = 24_000
LOUD_RMS = 0.05  # of full scale: a frame above it is speech
QUIET_END_MS = 300  # of quiet after speech ends the turn
WRONG_KEY = "sk-wrong"


@dataclass
class Say:
    """A spoken answer: `audio_ms` of tone in `chunk_ms` deltas, `pace_s` apart."""

    text: str
    audio_ms: int = 600
    chunk_ms: int = 100
    pace_s: float = 0.0
    drop_after: int | None = None  # cut the connection after this many audio chunks
    usage: dict[str, Any] | None = None


@dataclass
class Call:
    """A response that asks for function calls: (name, arguments) each."""

    calls: tuple[tuple[str, dict[str, Any]], ...]

    def __init__(self, *calls: tuple[str, dict[str, Any]]):
        self.calls = calls


@dataclass
class Fail:
    """An `error` event instead of a response; `close`: then end the connection."""

    code: str
    kind: str = "invalid_request_error"
    close: bool = False


@dataclass
class Turn:
    heard: str
    steps: list[Say | Call | Fail] = field(default_factory=list)


USAGE = {
    "total_tokens": 300,
    "input_tokens": 200,
    "output_tokens": 100,
    "input_token_details": {
        "cached_tokens": 64, "text_tokens": 150, "audio_tokens": 50,
        "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0},
    },
    "output_token_details": {"text_tokens": 20, "audio_tokens": 80},
}  # fmt: skip


def tone(ms: int, amplitude: float = 0.3, hz: float = 440.0) -> bytes:
    t = np.arange(int(RATE * ms / 1000)) / RATE
    return (amplitude * 32767 * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()


def silence(ms: int) -> bytes:
    return bytes(int(RATE * ms / 1000) * 2)


@dataclass
class _Stop:
    asked: bool = False  # the response was cancelled (by the client, or by new speech)


class _Connection:
    """One client connection: its VAD, its responses, what it was sent."""

    def __init__(self, double: RealtimeDouble, ws: ServerConnection):
        self.double = double
        self.ws = ws
        self.log: list[dict[str, Any]] = []
        double.client_logs.append(self.log)
        self.pending = bytearray()  # audio not yet framed
        self.buffer_ms = 0
        self.speaking = False
        self.quiet_ms = 0
        self.input_item: str | None = None
        self.turn: Turn | None = None
        self.steps: deque[Say | Call | Fail] = deque()
        self.response: asyncio.Task[None] | None = None
        self.stop: _Stop = _Stop()  # of the response running now; each response has its own
        self.response_id: str | None = None

    # -- sending ---------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", self.double.next_id("event"))
        if self.double.validate:
            for error in server_event_errors(event):
                self.double.violations.append(f"server {event['type']}: {error}")
        self.double.sent.append(event)
        await self.ws.send(json.dumps(event))

    # -- receiving ---------------------------------------------------------------------------

    async def serve(self) -> None:
        await self.send({"type": "session.created", "session": self._session()})
        async for message in self.ws:
            try:
                event = json.loads(message)
            except ValueError:
                self.double.violations.append("client sent a message that is not JSON")
                continue
            if self.double.validate:
                for error in client_event_errors(event):
                    self.double.violations.append(f"client {event.get('type')}: {error}")
            kind = event.get("type")
            self.log.append(event if kind != "input_audio_buffer.append" else {"type": kind})
            await self.on_event(kind, event)

    async def on_event(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "session.update":
            self.double.sessions.append(event["session"])
            await self.send({"type": "session.updated", "session": self._session()})
        elif kind == "input_audio_buffer.append":
            await self.hear(base64.b64decode(event["audio"]))
        elif kind == "response.cancel":
            wanted = event.get("response_id")
            running = self.response is not None and not self.response.done()
            if running and wanted in (None, self.response_id):
                self.stop.asked = True
            else:
                await self.send({"type": "error", "error": {
                    "type": "invalid_request_error", "code": "response_cancel_not_active",
                    "message": "Cancellation failed: no active response found."}})  # fmt: skip
        elif kind == "conversation.item.truncate":
            self.double.truncations.append(event)
            await self.send({"type": "conversation.item.truncated", "item_id": event["item_id"],
                             "content_index": 0, "audio_end_ms": event["audio_end_ms"]})  # fmt: skip
        elif kind == "conversation.item.create":
            item = dict(event["item"], id=self.double.next_id("item"), object="realtime.item",
                        status="completed")  # fmt: skip
            await self.send({"type": "conversation.item.added", "previous_item_id": None,
                             "item": item})  # fmt: skip
        elif kind == "response.create":
            self.start_response()

    # -- server VAD --------------------------------------------------------------------------

    async def hear(self, pcm: bytes) -> None:
        self.pending += pcm
        frame = RATE // 50 * 2  # 20 ms
        while len(self.pending) >= frame:
            chunk, self.pending = bytes(self.pending[:frame]), self.pending[frame:]
            self.buffer_ms += 20
            samples = np.frombuffer(chunk, "<i2").astype(np.float64) / 32768
            loud = float(np.sqrt(np.mean(samples**2))) > LOUD_RMS
            if loud and not self.speaking:
                await self.speech_started()
            elif self.speaking:
                self.quiet_ms = 0 if loud else self.quiet_ms + 20
                if self.quiet_ms >= QUIET_END_MS:
                    await self.speech_stopped()

    async def speech_started(self) -> None:
        self.speaking, self.quiet_ms = True, 0
        self.input_item = self.double.next_id("item")
        await self.send({"type": "input_audio_buffer.speech_started",
                         "audio_start_ms": self.buffer_ms, "item_id": self.input_item})  # fmt: skip
        if self.response is not None and not self.response.done():
            self.stop.asked = True  # interrupt_response: the service stops the answer itself

    async def speech_stopped(self) -> None:
        self.speaking = False
        item = self.input_item or self.double.next_id("item")
        await self.send({"type": "input_audio_buffer.speech_stopped",
                         "audio_end_ms": self.buffer_ms, "item_id": item})  # fmt: skip
        await self.send({"type": "input_audio_buffer.committed", "previous_item_id": None,
                         "item_id": item})  # fmt: skip
        self.turn = self.double.next_turn()
        self.steps = deque(self.turn.steps)
        await self.send({"type": "conversation.item.input_audio_transcription.delta",
                         "item_id": item, "content_index": 0,
                         "delta": self.turn.heard[:10]})  # fmt: skip
        await self.send({"type": "conversation.item.input_audio_transcription.completed",
                         "item_id": item, "content_index": 0, "transcript": self.turn.heard,
                         "usage": {"type": "duration", "seconds": 1.0}})  # fmt: skip
        self.start_response()

    # -- responses ---------------------------------------------------------------------------

    def start_response(self) -> None:
        if not self.steps:
            return
        step = self.steps.popleft()
        # The old response's id stops naming the running one now, not when the new one sends
        # response.created: a late cancel of the old one must not stop the new one.
        self.response_id = None
        self.stop = _Stop()
        self.response = asyncio.ensure_future(self.respond(step, self.stop))

    async def respond(self, step: Say | Call | Fail, stop: _Stop) -> None:
        with contextlib.suppress(ConnectionClosed):  # the client went away mid-answer
            await self._respond(step, stop)

    async def _respond(self, step: Say | Call | Fail, stop: _Stop) -> None:
        if isinstance(step, Fail):
            await self.send({"type": "error", "error": {"type": step.kind, "code": step.code,
                             "message": f"Scripted failure: {step.code}."}})  # fmt: skip
            if step.close:
                await self.ws.close(1008, step.code)
            return
        response_id = self.response_id = self.double.next_id("resp")
        await self.send({"type": "response.created", "response": {
            "id": response_id, "object": "realtime.response", "status": "in_progress",
            "output": []}})  # fmt: skip
        if isinstance(step, Call):
            await self.call(response_id, step)
        else:
            await self.say(response_id, step, stop)

    async def call(self, response_id: str, step: Call) -> None:
        output = []
        for index, (name, arguments) in enumerate(step.calls):
            item = {"id": self.double.next_id("item"), "object": "realtime.item",
                    "type": "function_call", "status": "in_progress",
                    "call_id": self.double.next_id("call"), "name": name, "arguments": ""}  # fmt: skip
            await self.send({"type": "response.output_item.added", "response_id": response_id,
                             "output_index": index, "item": item})  # fmt: skip
            text = json.dumps(arguments)
            await self.send({"type": "response.function_call_arguments.done",
                             "response_id": response_id, "item_id": item["id"],
                             "output_index": index, "call_id": item["call_id"], "name": name,
                             "arguments": text})  # fmt: skip
            item = dict(item, status="completed", arguments=text)
            await self.send({"type": "response.output_item.done", "response_id": response_id,
                             "output_index": index, "item": item})  # fmt: skip
            output.append(item)
        await self.done(response_id, "completed", output, USAGE)

    async def say(self, response_id: str, step: Say, stop: _Stop) -> None:
        item_id = self.double.next_id("item")
        item = {"id": item_id, "object": "realtime.item", "type": "message",
                "status": "in_progress", "role": "assistant", "content": []}  # fmt: skip
        await self.send({"type": "response.output_item.added", "response_id": response_id,
                         "output_index": 0, "item": item})  # fmt: skip
        chunks = max(1, step.audio_ms // step.chunk_ms)
        words = step.text.split(" ")
        per = max(1, math.ceil(len(words) / chunks))
        said: list[str] = []
        for n in range(chunks):
            if stop.asked:
                await self.done(response_id, "cancelled", [dict(item, status="incomplete")],
                                None)  # fmt: skip
                return
            piece = " ".join(words[n * per : (n + 1) * per])
            if piece:
                piece = piece if not said else " " + piece
                said.append(piece)
                await self.send({"type": "response.output_audio_transcript.delta",
                                 "response_id": response_id, "item_id": item_id,
                                 "output_index": 0, "content_index": 0, "delta": piece})  # fmt: skip
            audio = base64.b64encode(tone(step.chunk_ms)).decode("ascii")
            if n == 0:
                self.double.first_audio_at.append(time.perf_counter())
            await self.send({"type": "response.output_audio.delta", "response_id": response_id,
                             "item_id": item_id, "output_index": 0, "content_index": 0,
                             "delta": audio})  # fmt: skip
            if step.drop_after is not None and n + 1 >= step.drop_after:
                self.double.drops += 1
                self.ws.transport.abort()  # no close frame: a dropped connection
                return
            if step.pace_s:
                await asyncio.sleep(step.pace_s)
        done = dict(item, status="completed",
                    content=[{"type": "output_audio", "transcript": step.text}])  # fmt: skip
        await self.send({"type": "response.output_item.done", "response_id": response_id,
                         "output_index": 0, "item": done})  # fmt: skip
        await self.done(response_id, "completed", [done], step.usage or USAGE)

    async def done(self, response_id: str, status: str, output: list, usage: Any) -> None:
        response: dict[str, Any] = {"id": response_id, "object": "realtime.response",
                                    "status": status, "output": output}  # fmt: skip
        if usage is not None:
            response["usage"] = usage
        if status == "cancelled":
            response["status_details"] = {"type": "cancelled", "reason": "turn_detected"}
        await self.send({"type": "response.done", "response": response})

    def _session(self) -> dict[str, Any]:
        return {"type": "realtime", "id": self.double.session_id, "object": "realtime.session",
                "model": "gpt-realtime", "output_modalities": ["audio"]}  # fmt: skip


class RealtimeDouble:
    """Start with `with RealtimeDouble() as double:`; `base_url` for OpenAI clients,
    `azure_endpoint` for Azure ones."""

    def __init__(self, *, validate: bool = True, default: Turn | None = None) -> None:
        self.validate = validate  # off only for load benchmarks: the schema checks cost most
        self.default = default or Turn("(unscripted)", [Say("Sorry?")])
        self.first_audio_at: list[float] = []  # perf_counter when each answer's audio began
        self.violations: list[str] = []
        self.sessions: list[dict[str, Any]] = []  # every session.update's session
        self.client_logs: list[list[dict[str, Any]]] = []  # per connection, in order
        self.truncations: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[Headers] = []
        self.drops = 0
        self.ended = 0  # connections that have ended, whoever ended them
        self.session_id = "sess_double"
        self._turns: deque[Turn] = deque()
        self._rejects: deque[tuple[int, str]] = deque()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None
        self.port = 0

    # -- scripting -----------------------------------------------------------------------------

    def script(self, *turns: Turn) -> RealtimeDouble:
        self._turns.extend(turns)
        return self

    def reject_next(self, status: int, body: str = "") -> RealtimeDouble:
        self._rejects.append((status, body))
        return self

    def next_turn(self) -> Turn:
        return self._turns.popleft() if self._turns else self.default

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    @property
    def connections(self) -> int:
        return len(self.client_logs)

    def client_types(self, connection: int = -1) -> list[str]:
        """The event types a connection's client sent, audio appends left out."""
        log = self.client_logs[connection]
        return [e["type"] for e in log if e["type"] != "input_audio_buffer.append"]

    # -- serving -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RealtimeDouble:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check,
                                   max_size=None)  # fmt: skip
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()
        current = asyncio.current_task()
        left = [t for t in asyncio.all_tasks() if t is not current]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def _check(self, connection: ServerConnection, request: Any) -> Response | None:
        self.paths.append(request.path)
        self.headers.append(request.headers)
        if self._rejects:
            status, body = self._rejects.popleft()
            return _refusal(connection, status, body or f"Refused with {status}.")
        path = request.path.split("?")[0]
        if path not in ("/v1/realtime", "/openai/realtime"):
            return _refusal(connection, 404, "No such path.")
        key = request.headers.get("api-key") or request.headers.get("Authorization", "")
        if not key or WRONG_KEY in key:
            return _refusal(connection, 401, "Incorrect API key provided.")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        connection = _Connection(self, ws)
        try:
            await connection.serve()
        except ConnectionClosed:  # a dropped client: the test reads what was logged
            pass
        except Exception as exc:  # the double's own fault: the test must not pass on it
            self.violations.append(f"the double failed: {exc!r}")
        finally:
            self.ended += 1
            if connection.response is not None:
                connection.response.cancel()


def _refusal(connection: ServerConnection, status: int, message: str) -> Response:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                 "code": None}})  # fmt: skip
    response = connection.respond(status, body)
    response.headers["Content-Type"] = "application/json"
    return response


def wav(pcm: bytes) -> bytes:
    """PCM16 mono at 24 kHz as a WAV file."""
    from wavcodec import wav_bytes

    return wav_bytes(pcm, RATE)


def main() -> None:
    """`python -m tests.live.realtime_double --audio-ms 2000`: a double in its own process (for
    load benchmarks), answering every question alike, paced in real time; prints its port."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--audio-ms", type=int, default=2000)
    parser.add_argument("--validate", action="store_true")
    args = parser.parse_args()
    answer = Say("This is the answer to your question.", audio_ms=args.audio_ms, pace_s=0.1)
    with RealtimeDouble(validate=args.validate, default=Turn("A question?", [answer])) as double:
        print(double.port, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    main()
