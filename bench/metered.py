"""Measure what the app sends to the model and how long it waits for it.

`MeteredTransport` wraps the openai client's HTTP transport: it notes each request's round trip
(from handing the request to the socket to having the whole response body), on which thread,
and, when asked, the request's body. `engine_against()` builds the product's TurnEngine exactly
as `assistant.service` does, but with its client's transport metered.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx2
import openai

from assistant.client import build_client
from assistant.config import Settings, load_settings
from assistant.service import build_tools
from assistant.turn import TurnEngine

CHAT = "/chat/completions"
TRANSCRIBE = "/audio/transcriptions"


@dataclass(frozen=True)
class RoundTrip:
    path: str
    thread: int
    start: float  # time.perf_counter()
    end: float
    content_type: str
    body: bytes | None  # the request body, when the transport keeps bodies

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def is_chat(self) -> bool:
        return self.path.endswith(CHAT)


class MeteredTransport(httpx2.BaseTransport):
    def __init__(self, inner: httpx2.BaseTransport | None = None, *, keep_bodies: bool = False):
        self.inner = inner or httpx2.HTTPTransport()
        self.keep_bodies = keep_bodies
        self._trips: list[RoundTrip] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read() if self.keep_bodies else None
        start = time.perf_counter()
        response = self.inner.handle_request(request)
        try:
            response.read()  # the wait includes the whole answer, not just its headers
        except BaseException:
            response.close()
            raise
        end = time.perf_counter()
        trip = RoundTrip(
            request.url.path, threading.get_ident(), start, end,
            request.headers.get("content-type", ""), body,
        )  # fmt: skip
        with self._lock:
            self._trips.append(trip)
        return response

    def take(self) -> list[RoundTrip]:
        """The round trips since the last take, oldest first."""
        with self._lock:
            trips, self._trips = self._trips, []
        return trips

    def close(self) -> None:
        self.inner.close()


def model_wait_seconds(trips: Sequence[RoundTrip], caller: int) -> float:
    """How long the turn's thread (`caller`) waited on the model.

    The turn calls the chat model on its own thread, one call after another; the transcription
    of the user's words runs on a background thread meanwhile and is awaited only after the last
    chat call. So the wait is the sum of the caller's chat round trips, plus however long the
    transcription was still running after the last of them ended.
    """
    chats = [t for t in trips if t.is_chat and t.thread == caller]
    waited = sum(t.seconds for t in chats)
    last_chat_end = max((t.end for t in chats), default=float("-inf"))
    others = [t.end for t in trips if not (t.is_chat and t.thread == caller)]
    if others and chats:
        waited += max(0.0, max(others) - last_chat_end)
    return waited


_SETTING_NAMES = [name.upper() for name in Settings.model_fields] + ["OPENAI_API_VERSION"]


@contextmanager
def _isolated_environment() -> Iterator[None]:
    """No setting from the developer's shell, .env or secrets.toml reaches the benchmark."""
    saved = {name: os.environ.pop(name) for name in _SETTING_NAMES if name in os.environ}
    previous = os.environ.get("VOICEDESK_NO_CONFIG_FILES")
    os.environ["VOICEDESK_NO_CONFIG_FILES"] = "1"
    try:
        yield
    finally:
        os.environ.update(saved)
        if previous is None:
            os.environ.pop("VOICEDESK_NO_CONFIG_FILES", None)
        else:
            os.environ["VOICEDESK_NO_CONFIG_FILES"] = previous


def bench_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings with embedded backends in `data_dir` and nothing from the environment."""
    with _isolated_environment():
        return load_settings(voicedesk_data_dir=data_dir, **overrides)


def engine_against(base_url: str, data_dir: Path, transport: MeteredTransport) -> TurnEngine:
    """The product's engine and embedded tools, its OpenAI client pointed at `base_url`
    through `transport`. Nothing else differs from `assistant.service.build_engine`."""
    settings = bench_settings(
        data_dir, openai_base_url=base_url, openai_api_key="sk-bench", voicedesk_max_retries=0
    )
    registry = build_tools(settings)[1]
    client = build_client(settings, "openai")
    http = openai.DefaultHttpxClient(
        transport=transport, timeout=settings.voicedesk_request_timeout
    )
    metered = replace(client, api=client.api.copy(http_client=http))
    return TurnEngine(settings, metered, registry)
