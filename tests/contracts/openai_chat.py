"""Check Chat Completions bodies against OpenAI's published schema, and the rules its server adds.

Requests are checked strictly, the way api.openai.com checks them:
* every object that lists its properties is closed: an unknown key is an error (the server
  answers "Unrecognized request argument supplied" / "Additional properties are not allowed");
* rules the server enforces that the schema cannot express (`REQUEST_RULES` at the end).
Responses are checked against the schema as published (open objects): clients must tolerate
fields the schema does not list yet (Azure's filter results). A stream chunk is also checked
against the schema derived from the SDK's own chunk type (chunk_schema.py), which has the
`delta.audio` the published one lacks, and each `delta.audio.data` must be base64 on its own.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

SCHEMA_FILE = Path(__file__).with_name("openai_chat.schema.json")
CHUNK_SCHEMA_FILE = Path(__file__).with_name("openai_chat_chunk.schema.json")
REQUEST = "CreateChatCompletionRequest"
RESPONSE = "CreateChatCompletionResponse"
STREAM_CHUNK = "CreateChatCompletionStreamResponse"
TRANSCRIPTION = "CreateTranscriptionResponseJson"
LONG = 256
FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ContractError(ValueError):
    """A body breaks the contract. `errors` lists every violation, one plain line each."""

    def __init__(self, what: str, errors: list[str]):
        self.errors = errors
        lines = "\n".join(f"  - {error}" for error in errors)
        super().__init__(f"{len(errors)} contract violation(s) in {what}:\n{lines}")


def validate_request(body: dict[str, Any]) -> None:
    """Raise ContractError unless `body` is a Chat Completions request OpenAI would accept."""
    _raise(REQUEST, request_errors(body))


def validate_response(body: dict[str, Any]) -> None:
    """Raise ContractError unless `body` is a valid completion (or stream chunk, by `object`)."""
    _raise("response", response_errors(body))


def validate_transcription(body: dict[str, Any]) -> None:
    """Raise ContractError unless `body` is a JSON transcription (`response_format="json"`)."""
    _raise(TRANSCRIPTION, schema_errors(TRANSCRIPTION, body))


def request_errors(body: Any) -> list[str]:
    errors = schema_errors(REQUEST, body, closed=True)
    if errors:  # the rules below assume the shape is right
        return errors
    return [error for rule in REQUEST_RULES for error in rule(body)]


def response_errors(body: Any) -> list[str]:
    chunk = isinstance(body, dict) and body.get("object") == "chat.completion.chunk"
    errors = schema_errors(STREAM_CHUNK if chunk else RESPONSE, body)
    if chunk:
        return errors or _chunk_errors(body)
    return errors or _audio_data_errors(body)


def _chunk_errors(body: dict[str, Any]) -> list[str]:
    """What the published schema cannot see in a chunk: `delta.audio` (SDK-derived schema), and
    each audio delta's data decoding on its own (a client decodes chunk by chunk)."""
    found = sorted(
        _chunk_validator().iter_errors(_shorten(body)), key=lambda e: _sort_key(e.absolute_path)
    )
    errors = [line for error in found for line in _explain(error)]
    for i, choice in enumerate(body["choices"]):
        data = ((choice.get("delta") or {}).get("audio") or {}).get("data")
        if isinstance(data, str) and _b64(data) is None:
            errors.append(f"body.choices[{i}].delta.audio.data: not valid base64 on its own")
    return errors


@cache
def _chunk_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(CHUNK_SCHEMA_FILE.read_text(encoding="utf-8")))


def schema_errors(
    name: str, body: Any, *, closed: bool = False, schema_file: Path = SCHEMA_FILE
) -> list[str]:
    """Every schema violation of `body` against `$defs[name]` of `schema_file` (one of the
    extracted files beside this one), in document order."""
    validator = _validator(name, closed, schema_file)
    found = sorted(validator.iter_errors(_shorten(body)), key=lambda e: _sort_key(e.absolute_path))
    return [line for error in found for line in _explain(error)]


def _shorten(value: Any) -> Any:
    """`value` with long strings (base64 audio) cut to LONG characters, for speed and legible
    errors: jsonschema puts the repr of every mismatching value into its errors, and a oneOf
    makes many. Safe while no schema limits a string's length to more than LONG."""
    if isinstance(value, str):
        return value[:LONG]
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    return value


def _sort_key(path: Any) -> list[tuple[int, Any]]:
    return [(0, part) if isinstance(part, int) else (1, part) for part in path]


@cache
def _document(schema_file: Path = SCHEMA_FILE) -> dict[str, Any]:
    return json.loads(schema_file.read_text(encoding="utf-8"))


@cache
def _validator(name: str, closed: bool, schema_file: Path = SCHEMA_FILE) -> Draft202012Validator:
    defs = copy.deepcopy(_document(schema_file)["$defs"])
    if closed:
        _close(defs)
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": defs})


def _close(defs: dict[str, Any]) -> None:
    """Forbid unknown keys in every object that lists its properties.

    Parts of an `allOf` stay open (each sees only its own properties); the schema that combines
    them gets `propertyNames` limited to the union of its parts' properties. (Not
    `unevaluatedProperties`: it counts the keys of a failing part as unknown, which buries the
    real error under noise.)
    """
    parts = {
        branch["$ref"].rsplit("/", 1)[-1]
        for node in _nodes(defs)
        for branch in node.get("allOf", [])
        if "$ref" in branch
    }

    def declared(node: dict[str, Any]) -> set[str]:
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        names = set(node.get("properties", {}))
        for part in node.get("allOf", []):
            names |= declared(part)
        return names

    def visit(node: Any, is_part: bool) -> None:
        if not isinstance(node, dict):
            return
        if not is_part and "additionalProperties" not in node:
            if "allOf" in node:
                node["propertyNames"] = {"enum": sorted(declared(node))}
            elif "properties" in node:
                node["additionalProperties"] = False
        for key, value in node.items():
            if key in ("properties", "patternProperties"):
                for sub in value.values():
                    visit(sub, False)
            elif isinstance(value, list):
                for sub in value:
                    visit(sub, key == "allOf")
            elif isinstance(value, dict):
                visit(value, False)

    for name, schema in defs.items():
        visit(schema, name in parts)


def _nodes(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def _explain(error: ValidationError) -> list[str]:
    """Plain lines for one error; a failed oneOf/anyOf names the branch the body was aiming at.

    A branch is ruled out when the body's type differs from it, or its discriminating constant
    (`role`, `type`) does not match. If one branch is left, its own errors are the story; if none
    is, the discriminating value itself is wrong.
    """
    where = _where(error.absolute_path)
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [f"{where}: {_message(error)}"]
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.schema_path[0]].append(sub)
    plausible = [subs for subs in branches.values() if not any(map(_rules_out, subs))]
    if len(plausible) == 1:
        return [line for sub in plausible[0] for line in _explain(sub)]
    if not plausible:
        reasons = [sub for subs in branches.values() for sub in subs if _rules_out(sub)]
        keys = {tuple(sub.relative_path) for sub in reasons}
        if len(keys) == 1 and all(sub.validator == "enum" for sub in reasons):
            (key,) = keys
            allowed = ", ".join(str(sub.validator_value[0]) for sub in reasons)
            value = reasons[0].instance
            return [f"{_where([*error.absolute_path, *key])}: {value!r} is not one of {allowed}"]
        if all(sub.validator == "type" for sub in reasons):
            types = dict.fromkeys(str(sub.validator_value) for sub in reasons)
            return [f"{where}: {_short(error.instance)} is not of type {' or '.join(types)}"]
    return [f"{where}: {_message(error)}"]


def _rules_out(sub: ValidationError) -> bool:
    if sub.validator == "type" and not sub.relative_path:
        return True
    const = sub.validator == "enum" and len(sub.validator_value) == 1
    return const and len(sub.relative_path) == 1


def _message(error: ValidationError) -> str:
    if "propertyNames" in error.schema_path:  # OpenAI's own wording for an unknown argument
        return f"Unrecognized request argument supplied: {error.instance}"
    if error.validator in ("oneOf", "anyOf"):
        return f"{_short(error.instance)} matches none of the allowed shapes"
    return error.message


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _where(path: Any) -> str:
    out = "body"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _raise(what: str, errors: list[str]) -> None:
    if errors:
        raise ContractError(what, errors)


# --- Rules the server enforces beyond the schema (each returns its error lines) ---------------


def _audio_requires_audio_params(body: dict[str, Any]) -> list[str]:
    if "audio" in (body.get("modalities") or []) and not body.get("audio"):
        return ['body.audio: required when "modalities" includes "audio"']
    return []


def _tool_choice_requires_tools(body: dict[str, Any]) -> list[str]:
    if body.get("tool_choice") is not None and not body.get("tools"):
        return ["body.tool_choice: only allowed when tools are specified"]
    return []


def _function_names(body: dict[str, Any]) -> list[str]:
    errors = []
    for i, tool in enumerate(body.get("tools") or []):
        name = tool.get("function", {}).get("name", "")
        if tool.get("type") == "function" and not FUNCTION_NAME.match(name):
            errors.append(
                f"body.tools[{i}].function.name: {name!r} must match {FUNCTION_NAME.pattern}"
            )
    return errors


def _tool_messages_answer_tool_calls(body: dict[str, Any]) -> list[str]:
    """Each tool message answers a call of the assistant message just before; each call is answered."""
    errors: list[str] = []
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that made it
    for i, message in enumerate(body["messages"]):
        if message["role"] == "tool":
            if pending.pop(message["tool_call_id"], None) is None:
                errors.append(
                    f"body.messages[{i}]: a 'tool' message must answer a tool_call_id of the "
                    f"preceding assistant message's tool_calls (got {message['tool_call_id']!r})"
                )
            continue
        if pending:
            errors.append(_unanswered(pending))
        calls = message.get("tool_calls") if message["role"] == "assistant" else None
        pending = {call["id"]: i for call in calls or []}
    if pending:
        errors.append(_unanswered(pending))
    return errors


def _unanswered(open_calls: dict[str, int]) -> str:
    index = next(iter(open_calls.values()))
    return (
        f"body.messages[{index}]: an assistant message with tool_calls must be followed by tool "
        f"messages answering each call; unanswered: {', '.join(open_calls)}"
    )


def _input_audio_decodes(body: dict[str, Any]) -> list[str]:
    errors = []
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            if part.get("type") != "input_audio":
                continue
            where = f"body.messages[{i}].content[{j}].input_audio.data"
            audio = _b64(part["input_audio"]["data"])
            if audio is None:
                errors.append(f"{where}: not valid base64 (send the bare base64, no data: URL)")
            elif part["input_audio"]["format"] == "wav" and audio[8:12] != b"WAVE":
                errors.append(f"{where}: format is 'wav' but the data is not a RIFF/WAVE file")
    return errors


def _streamed_audio_is_pcm16(body: dict[str, Any]) -> list[str]:
    """OpenAI streams audio as PCM16 only; its words for anything else."""
    fmt = (body.get("audio") or {}).get("format")
    if body.get("stream") and "audio" in (body.get("modalities") or []) and fmt != "pcm16":
        return [
            f"body.audio.format: Unsupported value: 'audio.format' does not support '{fmt}' "
            "when stream=true. Supported values are: 'pcm16'."
        ]
    return []


def _audio_data_errors(body: dict[str, Any]) -> list[str]:
    errors = []
    for i, choice in enumerate(body["choices"]):
        audio = choice["message"].get("audio")
        if audio and _b64(audio["data"]) is None:
            errors.append(f"body.choices[{i}].message.audio.data: not valid base64")
    return errors


def _b64(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


REQUEST_RULES = (
    _audio_requires_audio_params,
    _tool_choice_requires_tools,
    _function_names,
    _tool_messages_answer_tool_calls,
    _input_audio_decodes,
    _streamed_audio_is_pcm16,
)
