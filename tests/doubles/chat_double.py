"""A faithful HTTP double of OpenAI's Chat Completions and audio transcriptions, on 127.0.0.1.

Endpoints, OpenAI's and Azure OpenAI's:
    POST /v1/chat/completions      POST /openai/deployments/{dep}/chat/completions?api-version=...
    POST /v1/audio/transcriptions  POST /openai/deployments/{dep}/audio/transcriptions?api-version=...

Every request is recorded in `.requests`. A chat request that breaks OpenAI's schema or server
rules (tests/contracts) is answered 400 with OpenAI's error shape and listed in `.violations`,
as is anything else the real service would refuse (no key, no api-version on Azure, unknown
path) or would never answer (audio nobody asked for, a call to a tool nobody offered), and
anything the double cannot honour (nothing scripted). Every body it serves is checked against
the response schema first, except a `reply_unchecked` step (for hostile-reply tests).
`stream=True` is served as server-sent events, each chunk checked first (against the published
schema and one derived from the SDK's own chunk type, which knows `delta.audio`). Streamed
audio is PCM16 mono at 24 kHz in chunks of CHUNK_SAMPLES, each base64-encoded on its own (so most
end in padding), at the `pace` set: the first chunk after `first_chunk_s`, the rest as fast as
speech `realtime`× real time is generated (a whole answer waits for all of it). As OpenAI does,
`stream=true` with any audio format but pcm16 is refused (400); `refuse_streamed_audio = True`
plays a provider or model that cannot stream audio at all.

Replies come from a queue, one per request, in order (`reply_tool_calls`, `reply_audio`, ...).
When the queue is empty, `policy="scripted"` answers 500 and records a violation, and
`policy="auto"` answers deterministically:
  * the last message is the user's, tools are offered and tool_choice is not "none": call, in
    parallel and only where offered, `get_player_summary(user_name)` for the customer named in a
    system or developer line `Customer being helped: <name>`; then `list_grievances(user_name)`
    if the question mentions a grievance, complaint or ticket, else
    `search_help_center(query=<the question's text>)` (AUTO_AUDIO_QUERY for a recording);
  * otherwise it answers with the "summary" fields of the tool results since the user's last
    message, joined (or an acknowledgement of the question when there are none): spoken, as
    `message.audio`, when the request asks for audio, else as text;
  * transcriptions: AUTO_TRANSCRIPT.
Reply audio is espeak-ng speech of its transcript when installed (so a person or a speech
recogniser can check it), else a tone.

Manual use: `python -m tests.doubles.chat_double --port 8765` (auto policy; stops on SIGTERM).
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import logging
import math
import re
import signal
import socket
import threading
import time
import wave
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soxr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.contracts.openai_chat import request_errors, response_errors, schema_errors
from tests.doubles.speech import spoken_or_tone

log = logging.getLogger(__name__)
AUTO_AUDIO_QUERY = "account and games help"
AUTO_TRANSCRIPT = "How many games did I play this week?"
CHAT_PATH = re.compile(r"^/(v1|openai/deployments/[^/]+)/chat/completions$")
TRANSCRIBE_PATH = re.compile(r"^/(v1|openai/deployments/[^/]+)/audio/transcriptions$")
CUSTOMER_LINE = re.compile(r"Customer being helped:\s*([\w.@-]*\w)", re.IGNORECASE)
GRIEVANCE_WORDS = re.compile(r"grievance|complain|ticket", re.IGNORECASE)
ERROR_TYPES = {401: "invalid_request_error", 403: "permission_error", 429: "requests"}
CONTENT_FILTERED = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management "
    "policy. Please modify your prompt and retry. To learn more about our content filtering "
    "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)
Calls = Iterable[tuple[str, "dict[str, Any] | str"]]
STREAM_RATE = 24_000  # what OpenAI streams: PCM16 mono at 24 kHz
CHUNK_SAMPLES = 2_401  # 0.1 s and a sample: 4,802 bytes, whose base64 ends in "=="
ARGUMENT_PIECE = 7  # characters of a tool call's arguments per delta
HOLD_S = 20.0  # the longest a held stream waits
NO_STREAMED_AUDIO = (
    "Streaming is not supported for audio output with this model; set stream to false."
)


@dataclass(frozen=True)
class Pace:
    """How fast the double "generates" an answer: the first chunk after `first_chunk_s`, then
    audio at `realtime` times real time (None: at once)."""

    first_chunk_s: float = 0.0
    realtime: float | None = None

    def ready_after(self, audio_s: float) -> float:
        """Seconds after the request at which audio up to `audio_s` has been generated."""
        return self.first_chunk_s + (audio_s / self.realtime if self.realtime else 0.0)


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    json: Any = None  # the parsed body of a JSON request
    form: dict[str, str] = field(default_factory=dict)  # multipart fields
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int | None = None  # what the double answered (0: it hung up)
    # When each streamed chunk was generated (time.monotonic()) and what it carried
    # ("role", "text", "tool", "audio", "end", "usage").
    generated: list[tuple[float, str]] = field(default_factory=list)
    connection: Any = field(default=None, repr=False, compare=False)  # the socket, to hang up

    @property
    def deployment(self) -> str | None:
        found = re.match(r"^/openai/deployments/([^/]+)/", self.path)
        return found.group(1) if found else None


Step = Callable[[RecordedRequest], Response]


class _Server(HTTPServer):
    def thread_target(self) -> None:
        self.server.serve_forever(poll_interval=0.02)  # stop() returns in 20 ms, not 500


@dataclass(frozen=True)
class _Delay:
    seconds: float


class ChatDouble:
    """See the module docstring. Start it (or use it as a context manager), point a client at
    `base_url` or `azure_endpoint`, script replies, then assert on `requests` and `violations`."""

    def __init__(self, policy: str = "scripted", *, port: int = 0, pace: Pace | None = None):
        if policy not in ("scripted", "auto"):
            raise ValueError("policy must be 'scripted' or 'auto'")
        self.policy = policy
        self.pace = pace or Pace()
        self.refuse_streamed_audio = False
        self.cut_after: int | None = None  # end the next stream after this many chunks
        # Hold the next stream before its n-th chunk until the event is set (or HOLD_S pass);
        # `generated` then records "released" or "held": proof of what a client did meanwhile.
        self.hold: tuple[int, threading.Event] | None = None
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.server = _Server(host="127.0.0.1", port=port, threaded=True)
        self._queues: dict[str, deque[Step | _Delay]] = {"chat": deque(), "transcription": deque()}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._call_ids = itertools.count(1)
        routes = ((CHAT_PATH, self._chat), (TRANSCRIBE_PATH, self._transcription))
        for path, handler in routes:
            self.server.expect_request(path, method="POST").respond_with_handler(
                self._wrap(handler)
            )
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._wrap(self._unknown))

    def start(self) -> ChatDouble:
        self._stopping.clear()
        self.server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes any delay() in progress
        if self.server.is_running():
            self.server.stop()

    def __enter__(self) -> ChatDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if CHAT_PATH.match(r.path)]

    @property
    def transcription_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if TRANSCRIBE_PATH.match(r.path)]

    @property
    def pending(self) -> int:
        """How many scripted steps have not been used yet."""
        return sum(len(queue) for queue in self._queues.values())

    # --- scripting: each call queues the answer to one request, and returns self -------------

    def reply_tool_calls(self, calls: Calls, *, offered_only: bool = True) -> ChatDouble:
        """One assistant message calling each (name, arguments) in parallel; ids call_1, call_2...

        A call to a tool the request does not offer is a violation, since the model cannot make
        it; `offered_only=False` allows it, to test how a client copes with a made-up name.
        """
        message = self._tool_message(calls)
        return self._push(
            "chat", lambda r: self._completion(r, message, "tool_calls", offered_only)
        )

    def reply_raw_arguments(self, name: str, arguments: str) -> ChatDouble:
        """A tool call whose `arguments` string is sent as is (e.g. not JSON at all)."""
        return self.reply_tool_calls([(name, arguments)])

    def reply_audio(self, transcript: str, wav_bytes: bytes | None = None) -> ChatDouble:
        """A spoken answer: message.audio with id, base64 WAV data, transcript and expires_at."""
        message = self._audio_message(transcript, wav_bytes)
        return self._push("chat", lambda r: self._completion(r, message, "stop"))

    def reply_without_audio(self, text: str) -> ChatDouble:
        """A text-only answer, as a model may give even when audio was asked for."""
        message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        return self._push("chat", lambda r: self._completion(r, message, "stop"))

    def reply_json(self, body: Any, status: int = 200) -> ChatDouble:
        """A body you build yourself; a 200 is still checked against the response schema."""
        return self._push(
            "chat", lambda r: self._serve_json(r, body, status, None, response_errors)
        )

    def reply_unchecked(
        self, message: Any, *, splice: dict[str, str] | None = None, **fields: Any
    ) -> ChatDouble:
        """A completion carrying `message` exactly as given, served WITHOUT the response schema
        check: the broken or hostile replies a model, a proxy or a "compatible" server may send,
        to test the client's own defences. Every other step keeps the check. `fields` replace
        top-level fields of the completion (`usage`, `choices`). `splice` replaces each JSON
        string "<key>" of the body with raw text (e.g. nesting deeper than Python's json module
        can write). The body is built once, when scripted."""
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        completion = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "gpt-4o-audio-preview",
            "choices": [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        body = _spliced(json.dumps({**completion, **fields}), splice)
        events = _spliced(_unchecked_events(completion, message, fields), splice)

        def serve(rec: RecordedRequest) -> Response:
            if rec.json.get("stream"):  # the same message, as one delta of a stream
                return self._answer(rec, Response(events, mimetype="text/event-stream"))
            return self._answer(rec, Response(body, 200, mimetype="application/json"))

        return self._push("chat", serve)

    def fail(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        on: str = "chat",
    ) -> ChatDouble:
        """An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""
        body = _error_body(status, message, code)
        return self._push(on, lambda r: self._serve_json(r, body, status, headers))

    def reply_content_filter(self, category: str = "violence") -> ChatDouble:
        """Azure OpenAI's 400 when its content filter blocks the prompt."""
        body = _content_filter_body(category)
        return self._push("chat", lambda r: self._serve_json(r, body, 400))

    def reply_not_json(self, on: str = "chat") -> ChatDouble:
        """A 200 with an HTML page, as a misconfigured gateway or proxy sends."""
        page = "<html><body><h1>Welcome to nginx!</h1></body></html>"
        return self._push(on, lambda r: self._answer(r, Response(page, mimetype="text/html")))

    def close_connection(self, on: str = "chat") -> ChatDouble:
        """Drop the connection without answering (the client sees a connection error)."""
        return self._push(on, self._hang_up)

    def delay(self, seconds: float, on: str = "chat") -> ChatDouble:
        """Wait `seconds` before serving the next step (or the policy's answer)."""
        return self._push(on, _Delay(seconds))

    def transcribe_as(self, text: str) -> ChatDouble:
        return self._push("transcription", lambda r: self._transcript(r, text))

    def _push(self, on: str, step: Step | _Delay) -> ChatDouble:
        with self._lock:
            self._queues[on].append(step)
        return self

    # --- handling requests -------------------------------------------------------------------

    def _wrap(self, handler: Step) -> Callable[[Request], Response]:
        """Record the request, check its credentials, and turn a crash into a violation."""

        def respond(request: Request) -> Response:
            rec = self._record(request)
            try:
                return self._check_access(rec) or handler(rec)
            except Exception as exc:  # a bug in a scripted reply or in the double itself
                log.exception("ChatDouble failed")
                return self._refuse(rec, 500, f"the double failed: {exc!r}", retry=False)

        return respond

    def _check_access(self, rec: RecordedRequest) -> Response | None:
        if rec.deployment is not None:
            if "api-version" not in rec.query:
                return self._refuse(rec, 404, "Resource not found (no api-version query parameter)")
            if "api-key" not in rec.headers and "authorization" not in rec.headers:
                return self._refuse(rec, 401, "Access denied due to missing subscription key.")
        elif not rec.headers.get("authorization", "").startswith("Bearer "):
            return self._refuse(rec, 401, "You didn't provide an API key.")
        return None

    def _chat(self, rec: RecordedRequest) -> Response:
        if not isinstance(rec.json, dict):
            return self._refuse(rec, 400, "We could not parse the JSON body of your request.")
        errors = request_errors(rec.json)
        if errors:
            return self._refuse(rec, 400, "Invalid request: " + "; ".join(errors), errors)
        streamed_audio = rec.json.get("stream") and "audio" in (rec.json.get("modalities") or [])
        if streamed_audio and self.refuse_streamed_audio:  # as the provider would: no violation
            body = _error_body(400, NO_STREAMED_AUDIO, "unsupported_value")
            body["error"]["param"] = "stream"
            return self._answer(rec, Response(json.dumps(body), 400, mimetype="application/json"))
        return self._next("chat", rec)

    def _transcription(self, rec: RecordedRequest) -> Response:
        upload = rec.files.get("file")
        errors = [] if upload and upload.data else ["the 'file' part is missing or empty"]
        errors += [] if rec.form.get("model") else ["the 'model' field is missing"]
        if rec.form.get("response_format", "json") not in ("json", "text"):
            errors.append("response_format must be 'json' or 'text' for gpt-4o transcribe models")
        if errors:
            return self._refuse(rec, 400, "Invalid request: " + "; ".join(errors), errors)
        return self._next("transcription", rec)

    def _unknown(self, rec: RecordedRequest) -> Response:
        return self._refuse(rec, 404, f"Invalid URL ({rec.method} {rec.path})")

    def _next(self, kind: str, rec: RecordedRequest) -> Response:
        while True:
            with self._lock:
                step = self._queues[kind].popleft() if self._queues[kind] else None
            if not isinstance(step, _Delay):
                break
            self._stopping.wait(step.seconds)
        if step is not None:
            return step(rec)
        if self.policy == "scripted":
            return self._refuse(rec, 500, f"nothing scripted for this {kind} request", retry=False)
        if kind == "transcription":
            return self._transcript(rec, AUTO_TRANSCRIPT)
        return self._auto_chat(rec)

    def _auto_chat(self, rec: RecordedRequest) -> Response:
        messages, offered = rec.json["messages"], _offered(rec.json)
        if messages[-1]["role"] == "user" and offered:
            calls = _auto_calls(_customer(messages), _text_of(messages[-1]), offered)
            if calls:
                return self._completion(rec, self._tool_message(calls), "tool_calls")
        answer = _auto_answer(messages)
        if "audio" in (rec.json.get("modalities") or []):
            return self._completion(rec, self._audio_message(answer, None), "stop")
        message = {"role": "assistant", "content": answer, "refusal": None, "annotations": []}
        return self._completion(rec, message, "stop")

    # --- building and serving replies ----------------------------------------------------------

    def _tool_message(self, calls: Calls) -> dict[str, Any]:
        tool_calls = [
            {
                "id": f"call_{next(self._call_ids)}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
            for name, args in calls
        ]
        return {"role": "assistant", "content": None, "refusal": None, "tool_calls": tool_calls}

    def _audio_message(self, transcript: str, wav_bytes: bytes | None) -> dict[str, Any]:
        audio = {
            "id": f"audio_{next(self._ids)}",
            "data": base64.b64encode(wav_bytes or spoken_or_tone(transcript)).decode("ascii"),
            "transcript": transcript,
            "expires_at": int(time.time()) + 3600,
        }
        return {"role": "assistant", "content": None, "refusal": None, "audio": audio}

    def _completion(
        self, rec: RecordedRequest, message: dict[str, Any], finish: str, offered_only: bool = True
    ) -> Response:
        """Serve `message` as a completion (or a stream), after checking the model could say it."""
        problems = []
        if message.get("audio") and "audio" not in (rec.json.get("modalities") or []):
            problems.append("an audio reply was scripted but the request did not ask for audio")
        for call in message.get("tool_calls") or [] if offered_only else []:
            if call["function"]["name"] not in _offered(rec.json):
                problems.append(f"a call to {call['function']['name']!r} was scripted, not offered")
        self._violate(rec, problems)
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        body = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": rec.json["model"],
            "choices": [choice],
            "usage": _usage(rec.json, message),
            "service_tier": "default",
            "system_fingerprint": "fp_chat_double",
        }
        pcm = _pcm24k(base64.b64decode(message["audio"]["data"])) if message.get("audio") else b""
        if not rec.json.get("stream"):  # the whole answer, once all of it is generated
            self._stopping.wait(self.pace.ready_after(len(pcm) / 2 / STREAM_RATE))
            return self._serve_json(rec, body, 200, check=response_errors)
        include_usage = (rec.json.get("stream_options") or {}).get("include_usage", False)
        timed = _stream_chunks(body, include_usage, pcm)
        return self._answer(rec, Response(self._paced(rec, timed), mimetype="text/event-stream"))

    def _paced(
        self, rec: RecordedRequest, timed: list[tuple[float, str, dict[str, Any]]]
    ) -> Iterator[str]:
        """Each chunk as an event once it has been "generated" and checked, then [DONE]. A chunk
        that breaks the schema (a bug in the double) is a violation and ends the stream."""
        started = time.monotonic()
        with self._lock:
            cut, self.cut_after = self.cut_after, None
            hold, self.hold = self.hold, None
        for n, (audio_s, what, chunk) in enumerate(timed[:cut]):
            if hold is not None and n == hold[0]:
                released = hold[1].wait(HOLD_S)
                rec.generated.append((time.monotonic(), "released" if released else "held"))
            errors = response_errors(chunk)  # checked while "generating", as it goes out
            if errors:
                self._violate(rec, ["the double's stream breaks the schema", *errors])
                return
            wait = started + self.pace.ready_after(audio_s) - time.monotonic()
            if wait > 0 and self._stopping.wait(wait):
                return
            rec.generated.append((time.monotonic(), what))
            yield f"data: {json.dumps(chunk)}\n\n"
        if cut is None:
            yield "data: [DONE]\n\n"

    def _transcript(self, rec: RecordedRequest, text: str) -> Response:
        if rec.form.get("response_format") == "text":
            return self._answer(rec, Response(text + "\n", mimetype="text/plain"))
        heard, said = _audio_tokens(rec.files["file"].data, per_second=10), _tokens(text)
        usage = {
            "type": "tokens",
            "input_tokens": heard,
            "output_tokens": said,
            "total_tokens": heard + said,
            "input_token_details": {"audio_tokens": heard, "text_tokens": 0},
        }
        return self._serve_json(rec, {"text": text, "usage": usage}, 200, check=_transcript_errors)

    def _hang_up(self, rec: RecordedRequest) -> Response:
        rec.status = 0  # before the shutdown, which the client may see at once
        rec.connection.shutdown(socket.SHUT_RDWR)
        return Response("", 500)  # never reaches the client: the socket is shut

    def _serve_json(
        self,
        rec: RecordedRequest,
        body: Any,
        status: int,
        headers: dict[str, str] | None = None,
        check: Callable[[Any], list[str]] | None = None,
    ) -> Response:
        errors = check(body) if check and status == 200 else []
        if errors:  # a bad script or a bug in the double: never serve a shape OpenAI would not
            return self._refuse(
                rec, 500, "the double's reply breaks the schema", errors, retry=False
            )
        return self._answer(
            rec, Response(json.dumps(body), status, headers, mimetype="application/json")
        )

    def _refuse(
        self,
        rec: RecordedRequest,
        status: int,
        message: str,
        errors: list[str] | None = None,
        *,
        retry: bool = True,
    ) -> Response:
        """An OpenAI-shaped error that is also a violation; `retry=False` stops the SDK retrying."""
        self._violate(rec, errors or [message])
        headers = {} if retry else {"x-should-retry": "false"}
        body = json.dumps(_error_body(status, message))
        return self._answer(rec, Response(body, status, headers, mimetype="application/json"))

    def _answer(self, rec: RecordedRequest, response: Response) -> Response:
        rec.status = response.status_code
        response.headers["x-request-id"] = f"req_{next(self._ids)}"
        return response

    def _violate(self, rec: RecordedRequest, errors: list[str]) -> None:
        with self._lock:
            for error in errors:
                self.violations.append(f"{rec.method} {rec.path}: {error}")
                log.warning("ChatDouble violation: %s %s: %s", rec.method, rec.path, error)

    def _record(self, request: Request) -> RecordedRequest:
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(),
            headers={name.lower(): value for name, value in request.headers.items()},
            connection=request.environ.get("werkzeug.socket"),
        )
        if request.mimetype == "multipart/form-data":
            rec.form = request.form.to_dict()
            for name, part in request.files.items():
                rec.files[name] = UploadedFile(part.filename or "", part.mimetype, part.read())
        else:
            try:
                rec.json = json.loads(request.get_data())
            except ValueError:
                rec.json = None
        with self._lock:
            self.requests.append(rec)
        return rec


# --- pure functions of a request: the auto policy, streaming, usage estimates ---------------------


def _error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _content_filter_body(category: str) -> dict[str, Any]:
    results: dict[str, Any] = {"jailbreak": {"filtered": False, "detected": False}}
    for name in ("hate", "self_harm", "sexual", "violence"):
        results[name] = {"filtered": name == category, "severity": "safe"}
    results[category] = {"filtered": True, "severity": "medium"}
    inner = {"code": "ResponsibleAIPolicyViolation", "content_filter_result": results}
    error = {"message": CONTENT_FILTERED, "type": None, "param": "prompt", "code": "content_filter"}
    return {"error": {**error, "status": 400, "innererror": inner}}


def _transcript_errors(body: Any) -> list[str]:
    return schema_errors("CreateTranscriptionResponseJson", body)


def _text_of(message: dict[str, Any]) -> str | None:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(part["text"] for part in content or [] if part["type"] == "text") or None


def _offered(request: dict[str, Any]) -> set[str]:
    """Names of the functions the model may call in this request."""
    if request.get("tool_choice") == "none":
        return set()
    return {t["function"]["name"] for t in request.get("tools") or [] if t["type"] == "function"}


def _customer(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        if message["role"] in ("system", "developer"):
            found = CUSTOMER_LINE.search(_text_of(message) or "")
            if found:
                return found.group(1)
    return None


def _auto_calls(customer: str | None, question: str | None, offered: set[str]) -> list:
    calls: list[tuple[str, dict[str, str]]] = []
    if customer and "get_player_summary" in offered:
        calls.append(("get_player_summary", {"user_name": customer}))
    if customer and GRIEVANCE_WORDS.search(question or "") and "list_grievances" in offered:
        calls.append(("list_grievances", {"user_name": customer}))
    elif "search_help_center" in offered:
        calls.append(("search_help_center", {"query": question or AUTO_AUDIO_QUERY}))
    return calls


def _auto_answer(messages: list[dict[str, Any]]) -> str:
    users = [i for i, message in enumerate(messages) if message["role"] == "user"]
    last_user = users[-1] if users else -1
    summaries = []
    for message in messages[last_user + 1 :]:
        if message["role"] == "tool":
            text = _text_of(message) or ""
            try:
                summaries.append(str(json.loads(text)["summary"]))
            except (ValueError, KeyError, TypeError):
                summaries.append(text[:200])
    if summaries:
        return " ".join(summaries)
    question = _text_of(messages[last_user]) if users else None
    return f"You asked: {question}" if question else "I heard your recording."


def _stream_chunks(
    body: dict[str, Any], include_usage: bool, pcm: bytes
) -> list[tuple[float, str, dict[str, Any]]]:
    """A completion as OpenAI streams it, each chunk with the seconds of audio generated before
    it and what it carries: role; content words; tool calls (name, then their arguments in
    pieces, the calls interleaved); audio (id, then transcript words and PCM chunks in turn,
    then the expiry); the finish; the usage."""
    choice = body["choices"][0]
    message = choice["message"]
    deltas: list[tuple[float, str, dict[str, Any]]] = [
        (0.0, "role", {"role": "assistant", "content": message["content"] and ""})
    ]
    deltas += [(0.0, "text", {"content": w}) for w in _words(message["content"] or "")]
    pieces: list[list[dict[str, Any]]] = []
    for i, call in enumerate(message.get("tool_calls") or []):
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        first = {"index": i, "id": call["id"], "type": "function"}
        parts = [{**first, "function": {"name": name, "arguments": ""}}]
        parts += [
            {"index": i, "function": {"arguments": arguments[n : n + ARGUMENT_PIECE]}}
            for n in range(0, len(arguments), ARGUMENT_PIECE)
        ]
        pieces.append(parts)
    for step in itertools.zip_longest(*pieces):  # parallel calls arrive interleaved
        deltas += [(0.0, "tool", {"tool_calls": [part]}) for part in step if part]
    if audio := message.get("audio"):
        deltas.append((0.0, "audio", {"audio": {"id": audio["id"], "transcript": ""}}))
        step = CHUNK_SAMPLES * 2
        spans = range(0, len(pcm), step)
        words = _words(audio["transcript"])
        per_chunk = max(1, math.ceil(len(words) / max(1, len(spans))))
        for n, start in enumerate(spans):
            said = "".join(words[n * per_chunk : (n + 1) * per_chunk])
            seconds = start / 2 / STREAM_RATE
            if said:
                deltas.append((seconds, "text", {"audio": {"transcript": said}}))
            data = base64.b64encode(pcm[start : start + step]).decode("ascii")
            deltas.append((seconds, "audio", {"audio": {"data": data}}))
        left = "".join(words[len(spans) * per_chunk :])
        done = len(pcm) / 2 / STREAM_RATE
        if left:
            deltas.append((done, "text", {"audio": {"transcript": left}}))
        deltas.append((done, "audio", {"audio": {"expires_at": audio["expires_at"]}}))
    end = deltas[-1][0]
    head = {
        key: body[key] for key in ("id", "created", "model", "service_tier", "system_fingerprint")
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        return {**head, "object": "chat.completion.chunk", "choices": choices}

    timed = [(seconds, what, chunk(delta)) for seconds, what, delta in deltas]
    timed.append((end, "end", chunk({}, choice["finish_reason"])))
    if include_usage:  # a last chunk with no choices, as OpenAI sends it
        usage = {**head, "object": "chat.completion.chunk", "choices": [], "usage": body["usage"]}
        timed.append((end, "usage", usage))
    return timed


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def _pcm24k(wav_bytes: bytes) -> bytes:
    """Any mono 16-bit WAV as PCM16 at 24 kHz, as OpenAI streams audio."""
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        rate, frames = reader.getframerate(), reader.readframes(reader.getnframes())
    samples = np.frombuffer(frames[: len(frames) // 2 * 2], "<i2").astype(np.float32) / 32768
    if rate != STREAM_RATE:
        samples = soxr.resample(samples, rate, STREAM_RATE)
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _spliced(text: str, splice: dict[str, str] | None) -> str:
    for key, raw in (splice or {}).items():
        text = text.replace(json.dumps(key), raw)
    return text


def _unchecked_events(completion: dict[str, Any], message: Any, fields: dict[str, Any]) -> str:
    """A hostile completion as a stream: its message as the one delta (unchanged, however odd),
    its other fields on that chunk, its usage on a last chunk of its own."""
    head = {key: completion[key] for key in ("id", "created", "model")}
    choice = {"index": 0, "delta": message, "finish_reason": "stop", "logprobs": None}
    first = {**head, "object": "chat.completion.chunk", "choices": [choice]}
    first.update({k: v for k, v in fields.items() if k != "usage"})
    usage = fields.get("usage", completion["usage"])
    last = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
    return "".join(f"data: {json.dumps(c)}\n\n" for c in (first, last)) + "data: [DONE]\n\n"


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))  # about four characters a token


def _audio_tokens(data: bytes, per_second: int) -> int:
    try:
        with wave.open(io.BytesIO(data)) as reader:
            seconds = reader.getnframes() / reader.getframerate()
    except (wave.Error, EOFError):
        seconds = len(data) / 16000  # compressed audio: about 128 kbit/s
    return max(1, math.ceil(seconds * per_second))


def _usage(request: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """Deterministic token counts: text by length, audio by duration (10/s heard, 20/s spoken)."""
    text_in = _tokens(json.dumps(request["tools"])) if request.get("tools") else 0
    audio_in = 0
    for item in request["messages"]:
        content = item.get("content")
        for part in content if isinstance(content, list) else [{"text": content or ""}]:
            if part.get("type") == "input_audio":
                audio = base64.b64decode(part["input_audio"]["data"])
                audio_in += _audio_tokens(audio, per_second=10)
            else:
                text_in += _tokens(part.get("text") or json.dumps(part))
        text_in += _tokens(json.dumps(item["tool_calls"])) if item.get("tool_calls") else 0
    audio = message.get("audio")
    audio_out = _audio_tokens(base64.b64decode(audio["data"]), per_second=20) if audio else 0
    said = (
        message["content"] or (audio or {}).get("transcript") or json.dumps(message["tool_calls"])
    )
    text_out = _tokens(said)
    return {
        "prompt_tokens": text_in + audio_in,
        "completion_tokens": text_out + audio_out,
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "prompt_tokens_details": {
            "audio_tokens": audio_in,
            "cached_tokens": 0,
            "text_tokens": text_in,
        },
        "completion_tokens_details": {
            "audio_tokens": audio_out,
            "reasoning_tokens": 0,
            "text_tokens": text_out,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Chat Completions double (auto policy).")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ChatDouble(policy="auto", port=args.port) as double:
        print(f"Chat Completions double at {double.base_url} (Azure: {double.azure_endpoint})")
        print("Stop it with Ctrl+C or SIGTERM.", flush=True)
        while not stop.wait(10):
            del double.requests[:-100]  # a long manual run must not keep every recording
            double.server.clear_log()


if __name__ == "__main__":
    main()
