"""Check audio API bodies (transcription and speech) against OpenAI's published schema.

Requests are checked strictly, as the service does (an unknown field is an error): a
transcription's multipart fields (the form's text values converted to the types the schema
names, the `file` part present) and a speech request's JSON body. Responses are checked as
published (open objects).

    from tests.contracts.openai_audio import speech_request_errors, transcription_request_errors
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from tests.contracts.openai_chat import ContractError, schema_errors

SCHEMA_FILE = Path(__file__).with_name("openai_audio.schema.json")
TRANSCRIPTION_REQUEST = "CreateTranscriptionRequest"
TRANSCRIPTION_RESPONSE = "CreateTranscriptionResponseJson"
SPEECH_REQUEST = "CreateSpeechRequest"
FILE_PLACEHOLDER = "<binary>"


def transcription_request_errors(fields: dict[str, str], files: dict[str, bytes]) -> list[str]:
    """Every way a multipart transcription upload breaks the schema. Form values are text: each
    is read as the type its property names (a number, a boolean, a JSON array)."""
    body: dict[str, Any] = {name: _typed(name, value) for name, value in fields.items()}
    errors = [f"body.{name}: a file part, not a form field" for name in files if name != "file"]
    if files.get("file"):
        body["file"] = FILE_PLACEHOLDER
    return errors + schema_errors(TRANSCRIPTION_REQUEST, body, closed=True, schema_file=SCHEMA_FILE)


def transcription_response_errors(body: Any) -> list[str]:
    return schema_errors(TRANSCRIPTION_RESPONSE, body, schema_file=SCHEMA_FILE)


def speech_request_errors(body: Any) -> list[str]:
    """Every way a speech request's JSON body breaks the schema."""
    return schema_errors(SPEECH_REQUEST, body, closed=True, schema_file=SCHEMA_FILE)


def validate_speech_request(body: Any) -> None:
    errors = speech_request_errors(body)
    if errors:
        raise ContractError(SPEECH_REQUEST, errors)


def _typed(name: str, value: str) -> Any:
    kind = _property_types().get(name)
    try:
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}.get(value, value)
        if kind == "array":
            return json.loads(value)
    except ValueError:
        return value
    return value


@cache
def _property_types() -> dict[str, str]:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["$defs"][TRANSCRIPTION_REQUEST]
    found = {}
    for name, prop in schema["properties"].items():
        kinds = [prop.get("type")] + [b.get("type") for b in prop.get("anyOf", [])]
        found[name] = next((k for k in kinds if k and k != "null"), "string")
    return found
