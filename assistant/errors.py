"""Everything that can go wrong in a turn, as one plain sentence for the user."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx2
import openai

from assistant import providers

log = logging.getLogger(__name__)

_CODE_LIKE = re.compile(r"[\w.\-\[\]]{1,64}")  # an error type, code or parameter; never prose


class TurnError(Exception):
    """A turn could not finish. `str(exc)` is the sentence for the user.

    `retryable`: the same recording may succeed if sent again (rate limit, outage).
    `unreachable`: the model could not be reached at all, so answering offline may help.
    """

    def __init__(
        self, sentence: str, *, code: str, retryable: bool = True, unreachable: bool = False
    ):
        super().__init__(sentence)
        self.sentence = sentence
        self.code = code
        self.retryable = retryable
        self.unreachable = unreachable


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    return str(error.get("code") or error.get("message") or "") if isinstance(error, dict) else ""


def log_summary(exc: Exception) -> tuple[str, bool]:
    """What the log may keep of a failed model call, and whether its traceback may go too.

    An error body (and so the exception's message) can quote the request, the customer's words
    included: a 400 repeating the question, say. So a reply's error is logged by its kind,
    status, type, code and request id; only a connection failure, which carries no body, keeps
    its traceback.
    """
    parts = [type(exc).__name__]
    status = getattr(exc, "status_code", None)
    if status is not None:
        parts.append(f"status={status}")
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict):
        for key in ("type", "code", "param"):
            value = error.get(key)
            if isinstance(value, str | int) and _CODE_LIKE.fullmatch(str(value)):
                parts.append(f"{key}={value}")
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str) and _CODE_LIKE.fullmatch(request_id):
        parts.append(f"request_id={request_id}")
    return " ".join(parts), isinstance(exc, openai.APIConnectionError)


@dataclass(frozen=True)
class Words:
    """How error sentences name a service: what a provider says (assistant/providers), or a
    part of the cascade ("OpenAI speech-to-text", its key and model settings)."""

    speaker: str
    key_setting: str = "OPENAI_API_KEY"
    model_noun: str = "model"
    model_setting: str = "VOICEDESK_MODEL"


def from_openai(exc: Exception, provider: str | Words, model: str) -> TurnError:
    """Map an openai SDK exception to a TurnError with a sentence that says what to do, in the
    provider's words (its name, the setting that holds its key, what it calls a model)."""
    words: Any = providers.get(provider) if isinstance(provider, str) else provider
    where, key_var = words.speaker, words.key_setting
    if isinstance(exc, openai.AuthenticationError):
        return TurnError(
            f"{where} refused the API key; check {key_var} and try again.",
            code="auth", retryable=True,
        )  # fmt: skip
    if isinstance(exc, openai.PermissionDeniedError):
        return TurnError(
            f"{where} says this key may not use {model}; check the key's project or role.",
            code="forbidden",
        )
    if isinstance(exc, openai.NotFoundError):
        thing, setting = words.model_noun, words.model_setting
        return TurnError(
            f"{where} has no {thing} called '{model}'; check {setting}.", code="not_found"
        )
    if isinstance(exc, openai.RateLimitError):
        if "insufficient_quota" in _api_message(exc):
            return TurnError(
                f"{where} says the account is out of credit; add credit or use another key.",
                code="quota",
            )
        return TurnError(
            f"{where} is busy (rate limit); wait a few seconds and try again.", code="rate_limit"
        )
    if isinstance(exc, openai.BadRequestError):
        if "content_filter" in _api_message(exc) or "content management policy" in str(exc):
            return TurnError(
                "The question was blocked by the content filter; please rephrase it.",
                code="content_filter",
            )
        return TurnError(
            f"{where} could not handle the request; try again, or ask it another way.",
            code="bad_request",
        )
    if isinstance(exc, openai.APITimeoutError):
        return TurnError(
            f"{where} took too long to answer; try again.", code="timeout", unreachable=True
        )
    if isinstance(exc, openai.APIConnectionError):
        return TurnError(
            f"{where} cannot be reached; check the network connection and try again.",
            code="unreachable", unreachable=True,
        )  # fmt: skip
    if isinstance(exc, openai.InternalServerError | openai.APIStatusError):
        return TurnError(
            f"{where} had a problem on its side; try again in a moment.", code="server_error"
        )
    if isinstance(exc, openai.APIResponseValidationError | ValueError | RecursionError):
        return TurnError(
            f"{where} sent an answer VoiceDesk could not read; try again.", code="bad_response"
        )
    return TurnError("Something went wrong while answering; try again.", code="internal")


def call_failure(exc: BaseException, words: str | Words, model: str, base_url: Any) -> TurnError | None:
    """The TurnError for whatever an SDK call (or reading its streamed body) raised, logged
    without the body (it may quote the customer); None for what is not a call's failure."""
    if isinstance(exc, openai.OpenAIError):
        summary, with_traceback = log_summary(exc)
        log.warning("model call failed: %s", summary, exc_info=with_traceback)
        return from_openai(exc, words, model)
    if isinstance(exc, httpx2.TransportError):  # mid-stream: the SDK no longer wraps it
        log.warning("model stream broke off: %s", type(exc).__name__)
        request = httpx2.Request("POST", str(base_url or ""))
        if isinstance(exc, httpx2.TimeoutException):
            return from_openai(openai.APITimeoutError(request=request), words, model)
        return from_openai(openai.APIConnectionError(request=request), words, model)
    if isinstance(exc, ValueError | RecursionError):  # a body that could not be parsed
        log.warning("model reply could not be parsed: %s", type(exc).__name__)
        return from_openai(ValueError(type(exc).__name__), words, model)
    return None
