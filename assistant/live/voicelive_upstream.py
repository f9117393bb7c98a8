"""Azure AI Voice Live as the upstream of a live session, through the `azure-ai-voicelive` SDK.

The session logic speaks OpenAI's GA Realtime events; `voicelive_events` translates them both
ways. Here: signing in (a key, else Entra ID), connecting, and turning every way the connection
can fail into `UpstreamClosed` with one plain sentence (no traceback, no key, in logs or out).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from assistant.config import Settings
from assistant.live.base import UpstreamClosed
from assistant.live.voicelive_events import ToGA, to_voicelive

log = logging.getLogger(__name__)
# The SDK logs every frame at DEBUG: the customer's words and audio. Never let them through.
logging.getLogger("azure.ai.voicelive").setLevel(logging.WARNING)

SERVICE = "Azure AI Voice Live"
DEFAULT_MODEL = "gpt-realtime"
NO_ENDPOINT = f"{SERVICE} needs its endpoint; set AZURE_VOICELIVE_ENDPOINT."
BAD_ENDPOINT = f"AZURE_VOICELIVE_ENDPOINT is not a valid address for {SERVICE} (https://...)."
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a long answer's audio arrives in big frames
HEARTBEAT_S = 20.0  # pings keep idle NAT paths open and notice a dead connection


def live_model(settings: Settings) -> str:
    own = settings.voicedesk_voicelive_model
    return own or getattr(settings, "voicedesk_live_model", None) or DEFAULT_MODEL


async def connect(settings: Settings) -> VoiceLiveUpstream:
    """An open Voice Live session; UpstreamClosed (one sentence) when it cannot be had."""
    endpoint = (settings.azure_voicelive_endpoint or "").strip()
    if not endpoint:
        log.warning("%s: no session (no endpoint)", SERVICE)
        raise UpstreamClosed(NO_ENDPOINT, retryable=False)
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http", "wss", "ws") or not parts.hostname:
        log.warning("%s: no session (bad URL)", SERVICE)
        raise UpstreamClosed(BAD_ENDPOINT, retryable=False)
    try:
        from azure.ai.voicelive.aio import connect as sdk_connect
    except ImportError:  # the SDK's async client needs aiohttp
        raise UpstreamClosed(
            f"{SERVICE} needs the aiohttp package; install requirements.txt.", retryable=False
        ) from None
    model = live_model(settings)
    credential = _credential(settings)
    manager = sdk_connect(
        credential=credential,
        endpoint=endpoint,
        model=model,
        connection_options={"max_msg_size": MAX_MESSAGE_BYTES, "heartbeat": HEARTBEAT_S},
    )
    try:
        connection = await asyncio.wait_for(
            manager.__aenter__(), timeout=settings.voicedesk_request_timeout
        )
    except Exception as exc:  # every failure becomes one sentence
        await _close_credential(credential)
        sentence, retryable, reason = _connect_fault(exc, model)
        log.warning("%s: no session (%s)", SERVICE, reason)
        raise UpstreamClosed(sentence, retryable=retryable) from None
    log.info("%s: session open (model %s)", SERVICE, model)
    return VoiceLiveUpstream(connection, settings.voicedesk_voicelive_voice, credential)


def _credential(settings: Settings) -> Any:
    from azure.core.credentials import AzureKeyCredential

    key = settings.azure_voicelive_api_key
    if key and key.get_secret_value().strip():
        return AzureKeyCredential(key.get_secret_value().strip())
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


async def _close_credential(credential: Any) -> None:
    close = getattr(credential, "close", None)
    if close is not None:
        try:
            await close()
        except Exception as exc:  # closing is best effort
            log.info("%s: closing the Entra ID credential failed (%s)", SERVICE, type(exc).__name__)


def _connect_fault(exc: BaseException, model: str) -> tuple[str, bool, str]:
    """(sentence, retryable, what to log) for a failed connection."""
    import aiohttp
    from azure.core.exceptions import ClientAuthenticationError

    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"{SERVICE} did not answer in time; try again.", True, "timeout"
    if isinstance(exc, ClientAuthenticationError):  # Entra ID found no identity, or was refused
        return (
            f"No Entra ID sign-in was found for {SERVICE}; set AZURE_VOICELIVE_API_KEY or sign in "
            "with az login.",
            False,
            type(exc).__name__,
        )
    cause = exc.__cause__ or exc
    status = getattr(cause, "status", None)
    if isinstance(cause, aiohttp.WSServerHandshakeError) and status:
        return (*_status_fault(status, model), f"HTTP {status}")
    if isinstance(cause, aiohttp.InvalidURL) or isinstance(exc, ValueError):
        return BAD_ENDPOINT, False, "bad URL"
    if isinstance(cause, (aiohttp.ClientError, OSError)):
        return (
            f"{SERVICE} could not be reached; check AZURE_VOICELIVE_ENDPOINT and the network.",
            True,
            type(cause).__name__,
        )
    return f"{SERVICE} could not start a session (see the log).", True, type(cause).__name__


def _status_fault(status: int, model: str) -> tuple[str, bool]:
    if status in (401, 403):
        return (
            f"{SERVICE} refused the key or sign-in; check AZURE_VOICELIVE_API_KEY or the Entra ID "
            "role on the resource.",
            False,
        )
    if status == 404:
        return (
            f"{SERVICE} has no model {model} at this endpoint; check VOICEDESK_VOICELIVE_MODEL "
            "and AZURE_VOICELIVE_ENDPOINT.",
            False,
        )
    if status == 429:
        return (
            f"{SERVICE} is limiting this resource (too many sessions or requests); try again in "
            "a minute.",
            True,
        )
    if status >= 500:
        return f"{SERVICE} is unavailable right now; try again shortly.", True
    return f"{SERVICE} refused the session (HTTP {status}); check its settings.", False


class VoiceLiveUpstream:
    """One Voice Live session, in GA Realtime events both ways (see `assistant.live.base`)."""

    def __init__(self, connection: Any, voice: str, credential: Any):
        self._connection = connection
        self._voice = voice
        self._credential = credential
        self._to_ga = ToGA()
        self._closed = False

    async def send(self, event: dict[str, Any]) -> None:
        if self._closed:
            raise UpstreamClosed(f"The {SERVICE} session is closed.", retryable=False)
        from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError

        try:
            await self._connection.send(to_voicelive(event, self._voice))
        except VoiceLiveConnectionError as exc:
            raise self._ended(exc) from None

    async def recv(self) -> dict[str, Any]:
        from azure.ai.voicelive.aio import ConnectionClosed
        from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError

        while True:
            if self._closed:
                raise UpstreamClosed(f"The {SERVICE} session is closed.", retryable=False)
            try:
                event = await self._connection.recv()
            except ConnectionClosed as exc:
                raise self._ended(exc) from None
            except VoiceLiveConnectionError:  # a frame that is not an event: skip it
                log.warning("%s sent a message that is not an event; skipped.", SERVICE)
                continue
            translated = self._to_ga(event.as_dict())
            if translated is not None:
                return translated

    def _ended(self, exc: Exception) -> UpstreamClosed:
        if self._closed:
            return UpstreamClosed(f"The {SERVICE} session is closed.", retryable=False)
        # The SDK reports 1000 for a dropped connection and aiohttp 1006 for the service's own
        # close, so the code cannot tell them apart: either way a new session may be tried.
        # (A session that reached its time limit says so first in an `error` event.)
        log.warning("%s: connection ended (%s)", SERVICE, type(exc).__name__)
        return UpstreamClosed(f"The connection to {SERVICE} was lost.")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._connection.close()
        finally:
            await _close_credential(self._credential)
