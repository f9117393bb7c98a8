"""`make_offline_client(settings)`: an `openai.OpenAI` whose requests the offline engine answers."""

from __future__ import annotations

import threading
from typing import Any

import httpx2
import openai

from localspeech.engine import OfflineEngine
from localspeech.transport import OfflineTransport

BASE_URL = "http://offline.voicedesk.invalid/v1"  # never resolved: the transport answers
_ENGINE: OfflineEngine | None = None
_LOCK = threading.Lock()


def shared_engine(settings: Any = None) -> OfflineEngine:
    """One engine per process: the models load once, whoever asks first."""
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            _ENGINE = OfflineEngine(settings)
        return _ENGINE


def make_offline_client(settings: Any = None, engine: OfflineEngine | None = None) -> openai.OpenAI:
    """An SDK client for the offline engine; its models start loading in the background now."""
    engine = engine or shared_engine(settings)
    engine.warm_up(background=True)
    timeout = getattr(settings, "voicedesk_request_timeout", 60.0)
    return openai.OpenAI(
        api_key="offline",
        base_url=BASE_URL,
        timeout=timeout,
        max_retries=0,  # a local engine that failed will fail again
        http_client=httpx2.Client(transport=OfflineTransport(engine), timeout=timeout),
    )


def offline_engine_of(client: openai.OpenAI) -> OfflineEngine | None:
    """The engine behind a client made here (for a status display), or None."""
    transport = getattr(getattr(client, "_client", None), "_transport", None)
    return transport.engine if isinstance(transport, OfflineTransport) else None
