"""Open a live session with the provider the settings choose: OpenAI or Azure OpenAI through the
`openai` SDK, Azure AI Voice Live through its adapter, or the local engine's realtime server.

    session = await open_live_session(engine, conversation, customer="maria")
    async for event in session.events(): ...

A session that cannot connect still comes back: its events say why (an `error`, then `closed`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from assistant.binding import valid_customer
from assistant.config import ConfigError, Settings
from assistant.history import Conversation
from assistant.live import faults
from assistant.live.base import LiveSession, Upstream, UpstreamClosed
from assistant.live.session import Connect, LiveOptions, RealtimeSession
from assistant.pricing import price_for
from assistant.turn import TurnEngine

log = logging.getLogger(__name__)
OFFLINE_LIVE_MODEL = "voicedesk-offline"
NO_LOCAL_REALTIME = (
    "Live mode on this machine needs the local engine's realtime server, which is not "
    "installed; set OPENAI_API_KEY or AZURE_OPENAI_ENDPOINT to talk live with a cloud model."
)


def live_provider(settings: Settings) -> str:
    """VOICEDESK_LIVE_PROVIDER, else the provider VOICEDESK_PROVIDER (or the keys) choose."""
    return settings.voicedesk_live_provider or settings.provider


async def open_live_session(
    engine: TurnEngine,
    conversation: Conversation,
    *,
    customer: str | None = None,
    agent: str | None = None,
    voice: str | None = None,
) -> LiveSession:
    settings = engine.settings
    provider = live_provider(settings)
    model = OFFLINE_LIVE_MODEL if provider == "offline" else settings.voicedesk_live_model
    refusal = None
    try:  # it goes into the model's instructions: a user name, never free text
        customer = valid_customer(customer if customer is not None else conversation.customer)
    except ValueError as exc:
        customer, refusal = None, str(exc)
    voice = voice or settings.voicedesk_voice
    try:
        if provider in ("openai", "azure"):
            settings.check_voice(voice, model)
    except ConfigError as exc:
        refusal = refusal or str(exc)
    options = LiveOptions(
        provider=provider,
        model=model,
        price_model=_price_model(settings, provider, model),
        voice=voice,
        transcribe_model=settings.voicedesk_transcribe_model or None,
        idle_s=settings.voicedesk_live_idle_s,
        max_s=settings.voicedesk_live_max_s,
        customer=customer,
        agent=agent,
    )
    try:
        connect = _refuse(refusal) if refusal else connector(settings, provider, model)
    except ConfigError as exc:
        connect = _refuse(str(exc))
    session = RealtimeSession(engine, conversation, connect, options)
    await session.start()
    return session


def connector(settings: Settings, provider: str, model: str) -> Connect:
    """How to (re)connect to `provider`; ConfigError when it is not set up."""
    words = faults.words_for(provider, model)
    if provider == "openai":
        from assistant.live import openai_upstream

        client = openai_upstream.openai_client(settings)
        return lambda: openai_upstream.connect(client, model, words)
    if provider == "azure":
        from assistant.live import openai_upstream

        client = openai_upstream.azure_client(settings)
        return lambda: openai_upstream.connect(client, model, words)
    if provider == "voicelive":
        try:
            from assistant.live.voicelive_upstream import connect as voicelive_connect
        except ImportError as exc:
            raise ConfigError("Live mode on Azure AI Voice Live is not installed in this "
                              "version; choose another VOICEDESK_LIVE_PROVIDER.") from exc  # fmt: skip
        return lambda: voicelive_connect(settings)
    if provider == "offline":
        return _local(settings, words)
    raise ConfigError(f"VOICEDESK_LIVE_PROVIDER '{provider}' is not one of openai, azure, "
                      "voicelive, offline.")  # fmt: skip


def _local(settings: Settings, words: faults.Words) -> Connect:
    """The local engine's realtime server on loopback, started once per process on first use,
    reached with the very same OpenAI upstream."""
    try:
        from localspeech.realtime_server import start_loopback
    except ImportError as exc:
        raise ConfigError(NO_LOCAL_REALTIME) from exc
    from assistant.live import openai_upstream

    def server_url() -> str:
        with _LOCAL_LOCK:
            if "ws_url" not in _LOCAL:
                from localspeech.client import shared_engine  # the models the process has

                _LOCAL["ws_url"], _LOCAL["close"] = start_loopback(shared_engine(settings))
            return str(_LOCAL["ws_url"])

    async def connect() -> Upstream:
        # Starting it may load the speech models: never on the caller's event loop.
        ws_url = await asyncio.to_thread(server_url)
        base = "http" + ws_url.removeprefix("ws")  # the SDK turns it back into ws://
        client = openai_upstream.local_client(settings, base)
        return await openai_upstream.connect(client, OFFLINE_LIVE_MODEL, words)

    return connect


_LOCAL: dict[str, Any] = {}  # the local realtime server of this process, once started
_LOCAL_LOCK = threading.Lock()


def _refuse(sentence: str) -> Callable[[], Awaitable[Upstream]]:
    async def connect() -> Upstream:
        raise UpstreamClosed(sentence, retryable=False)

    return connect


def _price_model(settings: Settings, provider: str, model: str) -> str:
    """Azure deployments may be named anything: priced as gpt-realtime unless the name says."""
    if provider == "offline":
        return "voicedesk-offline"
    if price_for(model, settings.voicedesk_prices) is None:
        return "gpt-realtime"
    return model
