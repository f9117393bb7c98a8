"""An instant Chat Completions responder on 127.0.0.1, to measure the app's own time.

tests/doubles/chat_double.py is the faithful double (it validates every request against
OpenAI's schema and speaks its answers with espeak-ng); this one answers in about a millisecond
from a prepared reply, and runs in its own process (`python -m bench.responder`), so that its
work never competes with the app's for the interpreter. Its answers have OpenAI's shapes:

* a chat request whose last message is the user's, with tools offered: two parallel calls,
  `get_player_summary` for the customer line's player and `search_help_center` for a help
  question (the next of QUESTIONS, since it cannot hear the recording);
* any other chat request: a spoken answer (`message.audio`, a WAV of ANSWER_SECONDS at 24 kHz
  like OpenAI's) whose transcript joins the tool results' summaries;
* a transcription: a fixed sentence.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_SECONDS = 6.0
ANSWER_RATE = 24000
TRANSCRIPT = "How many games did I play, and how do I turn on two-step verification?"
QUESTIONS = (
    "turn on two-step verification",
    "withdrawal still pending after three days",
    "reward points expired",
    "game freezes on the loading screen",
    "report a player for cheating",
    "set a deposit limit",
)
CUSTOMER = re.compile(r"Customer being helped:\s*([\w.@-]*\w)")


def answer_wav(seconds: float = ANSWER_SECONDS, rate: int = ANSWER_RATE) -> bytes:
    """A quiet gliding tone as 16-bit mono WAV: the size of a real spoken answer."""
    count = int(seconds * rate)
    samples = (
        int(3000 * math.sin(2 * math.pi * (180 + 40 * math.sin(i / rate)) * i / rate))
        for i in range(count)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(struct.pack(f"<{count}h", *samples))
    return out.getvalue()


class Responder:
    """The answers, as pure functions of the request, plus counters for ids."""

    def __init__(self, answer_seconds: float = ANSWER_SECONDS):
        self.answer = answer_wav(answer_seconds)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = request.get("messages") or []
        offered = {
            t["function"]["name"] for t in request.get("tools") or [] if t.get("type") == "function"
        }
        wants_tools = request.get("tool_choice") != "none" and offered
        if messages and messages[-1].get("role") == "user" and wants_tools:
            message, finish = self._tool_calls(messages, offered), "tool_calls"
        else:
            message, finish = (
                self._spoken(messages, "audio" in (request.get("modalities") or [])),
                "stop",
            )
        number = self._next_id()
        return {
            "id": f"chatcmpl-bench-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "gpt-4o-audio-preview"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": 900,
                "completion_tokens": 150,
                "total_tokens": 1050,
                "prompt_tokens_details": {
                    "audio_tokens": 40,
                    "cached_tokens": 0,
                    "text_tokens": 860,
                },
                "completion_tokens_details": {
                    "audio_tokens": 120 if finish == "stop" else 0,
                    "reasoning_tokens": 0,
                    "text_tokens": 30,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_bench_responder",
        }

    def _tool_calls(self, messages: list[dict[str, Any]], offered: set[str]) -> dict[str, Any]:
        number = self._next_id()
        calls = []
        customer = _customer(messages)
        if customer and "get_player_summary" in offered:
            calls.append(("get_player_summary", {"user_name": customer}))
        if "search_help_center" in offered:
            calls.append(("search_help_center", {"query": QUESTIONS[number % len(QUESTIONS)]}))
        return {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "id": f"call_{number}_{index}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for index, (name, args) in enumerate(calls)
            ],
        }

    def _answer_b64(self, number: int) -> str:
        """The answer WAV with its first samples made unique: no model sends the same bytes
        twice, and a page may rightly rely on that."""
        data = bytearray(self.answer)
        data[44:52] = number.to_bytes(8, "little")
        return base64.b64encode(bytes(data)).decode("ascii")

    def _spoken(self, messages: list[dict[str, Any]], audio: bool) -> dict[str, Any]:
        number = self._next_id()
        summaries = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            try:
                summaries.append(str(json.loads(message["content"])["summary"]))
            except (ValueError, KeyError, TypeError):
                summaries.append("a tool answered")
        transcript = " ".join(reversed(summaries)) or "Hello, how can I help?"
        if not audio:
            return {"role": "assistant", "content": transcript, "refusal": None, "annotations": []}
        return {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "audio": {
                "id": f"audio_bench_{number}",
                "data": self._answer_b64(number),
                "transcript": transcript,
                "expires_at": int(time.time()) + 3600,
            },
        }

    @staticmethod
    def transcription() -> dict[str, Any]:
        return {"text": TRANSCRIPT}


def _customer(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            found = CUSTOMER.search(message["content"])
            if found:
                return found.group(1)
    return None


def make_handler(responder: Responder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path.endswith("/chat/completions"):
                try:
                    payload = responder.chat(json.loads(body))
                except ValueError:
                    return self._send(
                        400, {"error": {"message": "bad JSON", "type": "invalid_request_error"}}
                    )
                return self._send(200, payload)
            if self.path.endswith("/audio/transcriptions"):
                return self._send(200, responder.transcription())
            return self._send(
                404, {"error": {"message": "no such path", "type": "invalid_request_error"}}
            )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            head = (
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(data)}\r\n"
                "x-request-id: req_bench\r\n\r\n"
            ).encode()
            self.wfile.write(head + data)  # one write: no Nagle stall between head and body

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve(port: int = 0, answer_seconds: float = ANSWER_SECONDS) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(Responder(answer_seconds)))
    server.daemon_threads = True
    return server


class ResponderProcess:
    """`python -m bench.responder` in a child process, for a `with` block; `.base_url`."""

    def __init__(self, answer_seconds: float = ANSWER_SECONDS):
        self.answer_seconds = answer_seconds
        self.process: subprocess.Popen[str] | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ResponderProcess:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.responder", "--answer-seconds", str(self.answer_seconds)],
            cwd=root, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("READY "):
            self.__exit__()
            raise RuntimeError("the benchmark's Chat Completions responder did not start")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the instant Chat Completions responder.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--answer-seconds", type=float, default=ANSWER_SECONDS)
    args = parser.parse_args(argv)
    server = serve(args.port, args.answer_seconds)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
