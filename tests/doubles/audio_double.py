"""An HTTP double of OpenAI's audio API on 127.0.0.1: transcriptions and speech.

Endpoints, OpenAI's and Azure OpenAI's:
    POST /v1/audio/transcriptions   POST /openai/deployments/{dep}/audio/transcriptions?api-version=
    POST /v1/audio/speech           POST /openai/deployments/{dep}/audio/speech?api-version=

Every request is recorded and checked against the published schema (tests/contracts/
openai_audio.py): one that breaks it is answered 400 in OpenAI's error shape and listed in
`.violations`, as is a request without credentials. Transcriptions answer `transcript` (JSON,
with token usage, checked against the response schema). Speech is served as OpenAI streams it
with `response_format="pcm"`: raw PCM16 mono at 24 kHz, chunk by chunk; its sound is a tone as
long as the text would take to say (SECONDS_PER_CHAR), so tests can tell sentences apart by
length. `hold = (n, event)` holds the next speech body after its n-th chunk until `event` is
set (or HOLD_S pass), and records whether it was released: a test's proof of what the client
did before the body ended. Faults are queued per path (`fail`, `close_connection`,
`reply_not_audio`, `break_off`, `delay`), one per request, in order.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.contracts.openai_audio import (
    speech_request_errors,
    transcription_request_errors,
    transcription_response_errors,
)

TRANSCRIBE_PATH = re.compile(r"^/(v1|openai/deployments/[^/]+)/audio/transcriptions$")
SPEECH_PATH = re.compile(r"^/(v1|openai/deployments/[^/]+)/audio/speech$")
RATE = 24_000
CHUNK_BYTES = 4_800  # 0.1 s
SECONDS_PER_CHAR = 0.06
HOLD_S = 20.0


@dataclass
class AudioRequest:
    kind: str  # "transcription" or "speech"
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    json: Any = None
    status: int | None = None
    held: bool | None = None  # a held body: whether the test released it
    connection: Any = field(default=None, repr=False)


Step = Callable[[AudioRequest], Response]


class _Server(HTTPServer):
    def thread_target(self) -> None:
        self.server.serve_forever(poll_interval=0.02)


def tone_pcm(seconds: float, hz: float = 220.0) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * math.pi * hz * t) * 8000).astype("<i2").tobytes()


def speech_seconds(text: str) -> float:
    return max(0.3, len(text) * SECONDS_PER_CHAR)


class AudioDouble:
    def __init__(self) -> None:
        self.transcript = "How many games did I play this week?"
        self.hold: tuple[int, threading.Event] | None = None
        self.requests: list[AudioRequest] = []
        self.violations: list[str] = []
        self.server = _Server(host="127.0.0.1", port=0, threaded=True)
        self._steps: dict[str, deque[Step]] = {"transcription": deque(), "speech": deque()}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        for path, kind in ((TRANSCRIBE_PATH, "transcription"), (SPEECH_PATH, "speech")):
            self.server.expect_request(path, method="POST").respond_with_handler(
                lambda request, kind=kind: self._handle(kind, request)
            )

    def __enter__(self) -> AudioDouble:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server.is_running():
            self.server.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def of(self, kind: str) -> list[AudioRequest]:
        return [r for r in self.requests if r.kind == kind]

    # -- faults, one per request of `on` ("transcription" or "speech") ----------------------

    def fail(self, status: int, message: str, code: str | None = None, *, on: str) -> AudioDouble:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                          "code": code}}  # fmt: skip
        return self._push(on, lambda r: self._json(r, body, status))

    def close_connection(self, *, on: str) -> AudioDouble:
        return self._push(on, self._hang_up)

    def delay(self, seconds: float, *, on: str) -> AudioDouble:
        def later(rec: AudioRequest) -> Response:
            time.sleep(seconds)
            return self._serve(rec)

        return self._push(on, later)

    def reply_not_audio(self) -> AudioDouble:
        """A 200 with an HTML page, as a misconfigured proxy sends."""
        page = "<html><body>Welcome to nginx!</body></html>"
        return self._push("speech", lambda r: self._done(r, Response(page, mimetype="text/html")))

    def break_off(self, after_chunks: int = 2) -> AudioDouble:
        """Speech that stops midway: some audio, then the connection is cut."""

        def serve(rec: AudioRequest) -> Response:
            pcm = tone_pcm(speech_seconds(rec.json["input"]))

            def body() -> Iterator[bytes]:
                yield from _chunks(pcm)[:after_chunks]
                rec.connection.shutdown(socket.SHUT_RDWR)

            return self._done(rec, Response(body(), mimetype="audio/pcm"))

        return self._push("speech", serve)

    def _push(self, on: str, step: Step) -> AudioDouble:
        with self._lock:
            self._steps[on].append(step)
        return self

    # -- serving ------------------------------------------------------------------------------

    def _handle(self, kind: str, request: Request) -> Response:
        rec = AudioRequest(
            kind, request.path, request.args.to_dict(),
            {k.lower(): v for k, v in request.headers.items()},
            connection=request.environ.get("werkzeug.socket"),
        )  # fmt: skip
        if kind == "transcription":
            rec.form = request.form.to_dict()
            rec.files = {name: part.read() for name, part in request.files.items()}
            errors = transcription_request_errors(rec.form, rec.files)
        else:
            try:
                rec.json = json.loads(request.get_data())
            except ValueError:
                rec.json = None
            errors = speech_request_errors(rec.json)
        with self._lock:
            self.requests.append(rec)
        errors += self._access_errors(rec)
        if errors:
            with self._lock:
                self.violations += [f"{kind}: {error}" for error in errors]
            body = {"error": {"message": "; ".join(errors), "type": "invalid_request_error"}}
            return self._json(rec, body, 401 if "credentials" in errors[-1] else 400)
        with self._lock:
            step = self._steps[kind].popleft() if self._steps[kind] else None
        return step(rec) if step else self._serve(rec)

    @staticmethod
    def _access_errors(rec: AudioRequest) -> list[str]:
        if rec.path.startswith("/openai/"):
            if "api-version" not in rec.query:
                return ["an Azure request without api-version"]
            if "api-key" not in rec.headers and "authorization" not in rec.headers:
                return ["no credentials"]
        elif not rec.headers.get("authorization", "").startswith("Bearer "):
            return ["no credentials"]
        return []

    def _serve(self, rec: AudioRequest) -> Response:
        if rec.kind == "transcription":
            heard = max(1, len(rec.files.get("file", b"")) // 3200)  # ~10 tokens a second
            said = len(self.transcript.split())
            usage = {"type": "tokens", "input_tokens": heard, "output_tokens": said,
                     "total_tokens": heard + said,
                     "input_token_details": {"audio_tokens": heard, "text_tokens": 0}}  # fmt: skip
            body = {"text": self.transcript, "usage": usage}
            errors = transcription_response_errors(body)
            assert not errors, errors
            return self._json(rec, body, 200)
        pcm = tone_pcm(speech_seconds(rec.json["input"]))
        with self._lock:
            hold, self.hold = self.hold, None
        return self._done(rec, Response(self._paced(rec, pcm, hold), mimetype="audio/pcm"))

    @staticmethod
    def _paced(
        rec: AudioRequest, pcm: bytes, hold: tuple[int, threading.Event] | None
    ) -> Iterator[bytes]:
        for n, chunk in enumerate(_chunks(pcm)):
            if hold is not None and n == hold[0]:
                rec.held = hold[1].wait(HOLD_S)
            yield chunk

    def _json(self, rec: AudioRequest, body: Any, status: int) -> Response:
        return self._done(rec, Response(json.dumps(body), status, mimetype="application/json"))

    def _done(self, rec: AudioRequest, response: Response) -> Response:
        rec.status = response.status_code
        response.headers["x-request-id"] = f"req_{next(self._ids)}"
        return response

    @staticmethod
    def _hang_up(rec: AudioRequest) -> Response:
        rec.status = 0
        rec.connection.shutdown(socket.SHUT_RDWR)
        return Response("", 500)


def _chunks(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]
