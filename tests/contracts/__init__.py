"""OpenAI's published schemas, and validators built on them (see README.md)."""

from tests.contracts.openai_chat import (
    ContractError,
    request_errors,
    response_errors,
    validate_request,
    validate_response,
    validate_transcription,
)

__all__ = [
    "ContractError",
    "request_errors",
    "response_errors",
    "validate_request",
    "validate_response",
    "validate_transcription",
]
