"""What can go wrong in a live session, as one plain sentence each, in the provider's words.

An upstream adapter raises `UpstreamClosed` with one of these when it cannot connect; the
session reads a server's `error` events with `from_error_event`.
"""

from __future__ import annotations

from dataclasses import dataclass

LIVE_MODEL_SETTING = "VOICEDESK_LIVE_MODEL"


@dataclass(frozen=True)
class Words:
    """How a provider is named in sentences."""

    speaker: str  # "OpenAI", "Azure OpenAI", "Azure AI Voice Live", "The local engine"
    key_setting: str  # "OPENAI_API_KEY"
    model: str  # the model or deployment asked for
    model_noun: str = "model"  # "deployment" on Azure


WORDS = {
    "openai": ("OpenAI", "OPENAI_API_KEY", "model"),
    "azure": ("Azure OpenAI", "AZURE_OPENAI_API_KEY", "deployment"),
    "offline": ("The local engine", "VOICEDESK_OFFLINE_API_KEY", "model"),
}


def words_for(provider: str, model: str) -> Words:
    speaker, key, noun = WORDS.get(provider, (provider, "the API key setting", "model"))
    return Words(speaker, key, model, noun)


def key_refused(w: Words) -> str:
    return f"{w.speaker} refused the API key; check {w.key_setting} and start Live again."


def forbidden(w: Words) -> str:
    return f"{w.speaker} says this key may not use {w.model}; check the key's project or role."


def not_found(w: Words) -> str:
    return f"{w.speaker} has no {w.model_noun} called '{w.model}'; check {LIVE_MODEL_SETTING}."


def rate_limited(w: Words) -> str:
    return f"{w.speaker} is busy (rate limit); wait a few seconds and speak again."


def session_limit(w: Words) -> str:
    return f"{w.speaker} will not hold more live sessions now; close another one or try later."


def session_expired(w: Words) -> str:
    return f"{w.speaker} ended the live session at its time limit; press Live to start again."


def unreachable(w: Words) -> str:
    return f"{w.speaker} cannot be reached; check the network connection and start Live again."


def server_problem(w: Words) -> str:
    return f"{w.speaker} had a problem on its side; try again in a moment."


def dropped(w: Words) -> str:
    return f"The connection to {w.speaker} dropped; reconnecting, and the conversation is kept."


def not_understood(w: Words) -> str:
    return f"{w.speaker} could not handle that; please say it again."


def from_status(w: Words, status: int, body: str = "") -> tuple[str, bool]:
    """The sentence for a refused connection (HTTP status of the handshake), and whether
    trying again later may work."""
    if status == 401:
        return key_refused(w), False
    if status == 403:
        return forbidden(w), False
    if status == 404:
        return not_found(w), False
    if status == 429:
        limit = "session" in body.lower()
        return (session_limit(w) if limit else rate_limited(w)), True
    if status >= 500:
        return server_problem(w), True
    return unreachable(w), True


# Error event codes: the session goes on after these, or ends (closed) after them.
# A cancel that raced the response's end; a response.create after tools that raced a response
# the service had already begun for the person's next words.
IGNORED_CODES = {"response_cancel_not_active", "conversation_already_has_active_response"}


def from_error_event(w: Words, kind: str, code: str) -> tuple[str | None, bool]:
    """(the sentence, whether the session must end) for a server `error` event; no sentence
    for an error nobody needs to hear about."""
    code, kind = code.lower(), kind.lower()
    if code in IGNORED_CODES:
        return None, False
    if code in {"invalid_api_key", "unauthorized"} or kind == "authentication_error":
        return key_refused(w), True
    if "session" in code and ("expired" in code or "max_duration" in code):
        return session_expired(w), True
    if "session" in code and ("limit" in code or "too_many" in code or "concurrent" in code):
        return session_limit(w), True
    if "rate_limit" in code or kind == "rate_limit_error":
        return rate_limited(w), False
    if code in {"model_not_found", "deployment_not_found", "deploymentnotfound"}:
        return not_found(w), True
    if kind == "server_error":
        return server_problem(w), False
    return not_understood(w), False
