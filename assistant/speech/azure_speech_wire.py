"""Where Azure AI Speech's REST endpoints are, how a request signs in, and what each failure
means in one sentence. The parts themselves are in azure_speech.py.

Addresses (Microsoft's REST references for short audio, fast transcription and text to speech):
a region gives `https://REGION.stt.speech.microsoft.com/speech/recognition/...`,
`https://REGION.tts.speech.microsoft.com/cognitiveservices/v1` and
`https://REGION.api.cognitive.microsoft.com/speechtotext/...`; a resource's custom domain
(needed for Entra ID) serves the same under `/stt/...`, `/tts/...` and `/speechtotext/...`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import httpx2 as httpx

from assistant.config import ConfigError, Settings, safe_url
from assistant.errors import TurnError

log = logging.getLogger(__name__)

SPEAKER = "Azure AI Speech"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
FAST_API_VERSION = "2024-11-15"
SHORT_PATH = "/speech/recognition/conversation/cognitiveservices/v1"
FAST_PATH = "/speechtotext/transcriptions:transcribe"
LOCALES_PATH = "/speechtotext/transcriptions/locales"
TTS_PATH = "/cognitiveservices/v1"
VOICES_PATH = "/cognitiveservices/voices/list"
USER_AGENT = "VoiceDesk"

TokenProvider = Callable[[], str]


@dataclass
class Connection:
    """One signed-in way to the resource, shared by the parts (one pool of kept-alive sockets)."""

    stt_base: str  # + SHORT_PATH
    tts_base: str  # + TTS_PATH, VOICES_PATH
    api_base: str  # + FAST_PATH, LOCALES_PATH
    key: str | None
    token_provider: TokenProvider | None
    http: httpx.Client

    @property
    def entra(self) -> bool:
        return self.key is None

    @property
    def where(self) -> str:
        """The host, for the doctor and logs; never a secret."""
        return safe_url(self.tts_base) or "-"

    def auth_headers(self) -> dict[str, str]:
        if self.key is not None:
            return {"Ocp-Apim-Subscription-Key": self.key}
        assert self.token_provider is not None
        try:
            token = self.token_provider()
        except Exception as exc:  # azure-identity raises its own kinds; none may reach the user
            log.warning("Entra ID token for Azure AI Speech failed: %s", type(exc).__name__)
            raise TurnError(
                "VoiceDesk could not sign in to Azure AI Speech with Entra ID; sign in "
                "(az login or a managed identity) or set AZURE_SPEECH_KEY.",
                code="auth",
            ) from None
        return {"Authorization": f"Bearer {token}"}


def connect(settings: Settings, token_provider: TokenProvider | None = None) -> Connection:
    """The connection the settings describe; ConfigError (one sentence) when they cannot."""
    key = settings.azure_speech_key.get_secret_value() if settings.azure_speech_key else None
    endpoint, region = settings.azure_speech_endpoint, settings.azure_speech_region
    if not key and not endpoint:
        raise ConfigError(
            "Azure AI Speech needs AZURE_SPEECH_KEY with AZURE_SPEECH_REGION, or "
            "AZURE_SPEECH_ENDPOINT (the resource's custom domain) to sign in with Entra ID."
        )
    if endpoint:
        stt, tts, api = f"{endpoint}/stt", f"{endpoint}/tts", endpoint
    elif region:
        stt = f"https://{region}.stt.speech.microsoft.com"
        tts = f"https://{region}.tts.speech.microsoft.com"
        api = f"https://{region}.api.cognitive.microsoft.com"
    else:
        raise ConfigError(
            "Azure AI Speech needs AZURE_SPEECH_REGION (like westeurope) beside AZURE_SPEECH_KEY."
        )
    if not key and token_provider is None:
        token_provider = entra_token_provider()
    timeout = httpx.Timeout(settings.voicedesk_request_timeout, connect=5.0)
    return Connection(
        stt, tts, api, key or None, token_provider, httpx.Client(timeout=timeout)
    )


def entra_token_provider() -> TokenProvider:
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as exc:
        raise ConfigError(
            "Entra ID sign-in needs the azure-identity package; pip install azure-identity."
        ) from exc
    return get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)


# -- what went wrong, in one sentence -------------------------------------------------------------


def status_fault(response: httpx.Response, connection: Connection, part: str) -> TurnError:
    """A non-200 answer. `part`: "hear" or "speak". The body is never logged: an error body may
    quote the request, and so the customer's words."""
    status = response.status_code
    request_id = response.headers.get("X-RequestId") or response.headers.get("apim-request-id")
    log.warning("Azure AI Speech (%s) answered %s request_id=%s", part, status, _code(request_id))
    if status in (401, 403):
        if connection.entra:
            return TurnError(
                "Azure AI Speech refused the Entra ID sign-in; give this identity the "
                "Cognitive Services Speech User role on the resource at AZURE_SPEECH_ENDPOINT.",
                code="auth",
            )
        return TurnError(
            "Azure AI Speech refused the key; check AZURE_SPEECH_KEY and that "
            "AZURE_SPEECH_REGION is the key's own region.",
            code="auth",
        )
    if status == 404:
        return TurnError(
            "Azure AI Speech has no such address; check AZURE_SPEECH_REGION or "
            "AZURE_SPEECH_ENDPOINT.",
            code="not_found",
        )
    if status == 429:
        wait = _retry_after(response.headers.get("Retry-After"))
        when = f"wait {wait} seconds" if wait else "wait a few seconds"
        return TurnError(
            f"Azure AI Speech is busy (rate limit); {when} and try again.", code="rate_limit"
        )
    if status in (400, 413, 415, 422):
        if part == "speak":
            return TurnError(
                "Azure AI Speech could not speak this answer; check VOICEDESK_AZURE_VOICE and "
                "VOICEDESK_SPEECH_RATE.",
                code="bad_request",
            )
        return TurnError(
            "Azure AI Speech could not take this recording in this language; check "
            "VOICEDESK_SPEECH_LANGUAGE, or record again.",
            code="bad_request",
        )
    return TurnError(
        "Azure AI Speech had a problem on its side; try again in a moment.", code="server_error"
    )


def transport_fault(exc: Exception, *, midway: bool = False) -> TurnError:
    """No answer, or half of one: timed out, refused, cut off (`midway`: after some audio)."""
    log.warning("Azure AI Speech could not be reached: %s", type(exc).__name__)
    if midway:
        return TurnError(
            "Azure AI Speech stopped partway through the answer; try again.", code="cut_off"
        )
    if isinstance(exc, httpx.TimeoutException):
        return TurnError(
            "Azure AI Speech took too long to answer; try again.", code="timeout", unreachable=True
        )
    return TurnError(
        "Azure AI Speech cannot be reached; check AZURE_SPEECH_REGION or AZURE_SPEECH_ENDPOINT "
        "and the network connection.",
        code="unreachable",
        unreachable=True,
    )


def unreadable() -> TurnError:
    return TurnError(
        "Azure AI Speech sent an answer VoiceDesk could not read; try again.", code="bad_response"
    )


def _retry_after(value: str | None) -> int | None:
    try:
        seconds = float(value) if value else None
    except ValueError:  # an HTTP date: not worth parsing for a sentence
        return None
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    return min(math.ceil(seconds), 3600)


def _code(value: str | None) -> str:
    return value if value and len(value) <= 64 and value.replace("-", "").isalnum() else "-"
