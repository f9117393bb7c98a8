"""The realtime upstream through the `openai` SDK's realtime client (GA event names), for OpenAI,
Azure OpenAI (a key, or Entra ID through azure-identity) and any server that speaks the same
protocol on loopback (the local engine).

Keys stay here, on the server: the browser only ever talks to the page's relay.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from assistant.config import ConfigError, Settings
from assistant.live import faults
from assistant.live.base import UpstreamClosed

log = logging.getLogger(__name__)
AZURE_REALTIME_API_VERSION = "2025-04-01-preview"  # the first that serves realtime deployments
BODY_PREVIEW = 300  # of a refused handshake's body, read for "session" (never logged)


class OpenAIUpstream:
    """One connection of `AsyncOpenAI().realtime.connect(...)`, as the session's Upstream."""

    def __init__(self, connection: Any, words: faults.Words) -> None:
        self._connection = connection
        self._words = words

    async def send(self, event: dict[str, Any]) -> None:
        try:
            if event.get("type") == "input_audio_buffer.append":
                # Audio is most of the traffic and already in wire shape: skip the SDK's
                # per-event type transform (it costs more than the send itself).
                await self._connection.send_raw(json.dumps(event))
            else:
                await self._connection.send(event)
        except (ConnectionClosed, openai.WebSocketConnectionClosedError, OSError) as exc:
            raise UpstreamClosed(faults.dropped(self._words)) from exc

    async def recv(self) -> dict[str, Any]:
        while True:
            try:
                raw = await self._connection.recv_bytes()
            except (ConnectionClosed, OSError) as exc:
                raise UpstreamClosed(faults.dropped(self._words)) from exc
            try:
                event = json.loads(raw)
            except (ValueError, RecursionError):
                log.warning("a realtime message was not JSON; skipped")
                continue
            if isinstance(event, dict):
                return event
            log.warning("a realtime message was not an object; skipped")

    async def close(self) -> None:
        await self._connection.close()


async def connect(client: openai.AsyncOpenAI, model: str, words: faults.Words) -> OpenAIUpstream:
    """Open one realtime connection; UpstreamClosed with one sentence when it is refused."""
    try:
        connection = await client.realtime.connect(model=model).enter()
    except InvalidStatus as exc:
        status = exc.response.status_code
        body = bytes(exc.response.body or b"")[:BODY_PREVIEW].decode("utf-8", "replace")
        log.warning("realtime connection refused: status=%s", status)
        sentence, retryable = faults.from_status(words, status, body)
        raise UpstreamClosed(sentence, retryable=retryable) from None
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        log.warning("realtime connection failed: %s", type(exc).__name__)
        raise UpstreamClosed(faults.unreachable(words)) from None
    except openai.OpenAIError as exc:  # an Entra ID token that could not be had, say
        log.warning("realtime connection not made: %s", type(exc).__name__)
        raise UpstreamClosed(faults.unreachable(words), retryable=False) from None
    return OpenAIUpstream(connection, words)


def openai_client(settings: Settings) -> openai.AsyncOpenAI:
    """OpenAI, or a gateway speaking its protocol at OPENAI_BASE_URL."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    base_url = settings.openai_base_url
    if not key and not base_url:
        raise ConfigError("Live mode on OpenAI needs OPENAI_API_KEY; set it, or choose "
                          "another VOICEDESK_LIVE_PROVIDER.")  # fmt: skip
    # A gateway, double or the local engine may need no key, but the SDK insists on one.
    return openai.AsyncOpenAI(api_key=key or "no-key", base_url=base_url or None, max_retries=0)


def azure_client(settings: Settings) -> openai.AsyncAzureOpenAI:
    endpoint = settings.azure_openai_endpoint
    if not endpoint:
        raise ConfigError("Live mode on Azure OpenAI needs AZURE_OPENAI_ENDPOINT; set it, or "
                          "choose another VOICEDESK_LIVE_PROVIDER.")  # fmt: skip
    credentials: dict[str, Any] = {}
    if settings.azure_openai_api_key:
        credentials["api_key"] = settings.azure_openai_api_key.get_secret_value()
    else:
        from assistant.providers.azure import _entra_token_provider

        credentials["azure_ad_token_provider"] = _entra_token_provider()
    version = max(settings.azure_openai_api_version, AZURE_REALTIME_API_VERSION)
    return openai.AsyncAzureOpenAI(
        azure_endpoint=endpoint, api_version=version, max_retries=0,
        websocket_base_url=_plain_ws_base(endpoint), **credentials,
    )  # fmt: skip


def _plain_ws_base(endpoint: str) -> str | None:
    """An http:// endpoint (a gateway or double on this machine) is reached with ws://; the SDK
    would otherwise always use wss:// for Azure."""
    parts = urlsplit(endpoint)
    if parts.scheme != "http":
        return None
    return urlunsplit(("ws", parts.netloc, parts.path.rstrip("/") + "/openai", "", ""))


def local_client(settings: Settings, base_url: str) -> openai.AsyncOpenAI:
    """The local engine's realtime server on loopback, with its own key if it asks for one
    (never the cloud's key)."""
    secret = settings.voicedesk_offline_api_key
    key = secret.get_secret_value() if secret else None
    return openai.AsyncOpenAI(api_key=key or "no-key", base_url=base_url, max_retries=0)
