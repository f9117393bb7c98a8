"""The validators accept what OpenAI accepts and refuse the mistakes OpenAI refuses."""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.contracts import (
    ContractError,
    request_errors,
    response_errors,
    validate_request,
    validate_response,
    validate_transcription,
)
from tests.contracts.extract import DEFAULT_SPEC, SOURCE_COMMIT, convert, extract, referenced
from tests.contracts.openai_chat import LONG, SCHEMA_FILE
from tests.doubles.speech import tone_wav

WAV_B64 = base64.b64encode(tone_wav(0.2)).decode("ascii")
TOOL = {
    "type": "function",
    "function": {
        "name": "get_player_summary",
        "description": "Games, wins and wallet of one player.",
        "parameters": {
            "type": "object",
            "properties": {"user_name": {"type": "string"}},
            "required": ["user_name"],
        },
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_player_summary", "arguments": '{"user_name": "maria"}'},
}


def turn_request() -> dict[str, Any]:
    """A second call of a voice turn: history as text, a recording, a tool round done."""
    return {
        "model": "gpt-4o-audio-preview",
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "wav"},
        "tools": [TOOL],
        "tool_choice": "auto",
        "messages": [
            {"role": "system", "content": "You help.\nCustomer being helped: maria"},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi, how can I help?"},
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}}
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": '{"ok": true, "summary": "12 games"}',
            },
        ],
    }


def audio_response() -> dict[str, Any]:
    audio = {"id": "audio_1", "data": WAV_B64, "transcript": "12 games.", "expires_at": 1700003600}
    message = {"role": "assistant", "content": None, "refusal": None, "audio": audio}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-audio-preview-2025-06-03",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 20,
            "total_tokens": 50,
            "prompt_tokens_details": {"audio_tokens": 10, "cached_tokens": 0},
            "completion_tokens_details": {"audio_tokens": 15, "reasoning_tokens": 0},
        },
    }


def tool_call_response() -> dict[str, Any]:
    body = audio_response()
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [CALL]}
    body["choices"][0].update(message=message, finish_reason="tool_calls")
    return body


def changed(make, edit):
    body = copy.deepcopy(make())
    edit(body)
    return body


def msgs(body):
    return body["messages"]


def test_a_full_turn_request_is_accepted():
    validate_request(turn_request())


def test_nulls_the_api_accepts_are_accepted():
    # The spec says these with OpenAPI's `nullable`; the extraction must keep them legal.
    nulls = {"stop": None, "n": None, "seed": None, "max_tokens": None, "temperature": None}
    validate_request({**turn_request(), **nulls, "stream_options": None, "prediction": None})


def test_a_minimal_text_request_is_accepted():
    validate_request({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


BAD_REQUESTS = {
    "unknown role": (
        lambda b: msgs(b).append({"role": "moderator", "content": "x"}),
        "messages[6].role: 'moderator' is not one of developer, system, user, assistant, tool",
    ),
    "tool message without tool_call_id": (
        lambda b: msgs(b)[5].pop("tool_call_id"),
        "messages[5]: 'tool_call_id' is a required property",
    ),
    "tool message answering no call": (
        lambda b: msgs(b)[5].update(tool_call_id="call_9"),
        "messages[5]: a 'tool' message must answer a tool_call_id",
    ),
    "tool call left unanswered": (
        lambda b: msgs(b).pop(),
        "messages[4]: an assistant message with tool_calls must be followed by tool messages",
    ),
    "tool call without id": (
        lambda b: msgs(b)[4]["tool_calls"][0].pop("id"),
        "messages[4].tool_calls[0]: 'id' is a required property",
    ),
    "input_audio format not wav or mp3": (
        lambda b: msgs(b)[3]["content"][0]["input_audio"].update(format="ogg"),
        "messages[3].content[0].input_audio.format: 'ogg' is not one of ['wav', 'mp3']",
    ),
    "input_audio sent as a data URL": (
        lambda b: msgs(b)[3]["content"][0]["input_audio"].update(data="data:audio/wav;base64,AA=="),
        "input_audio.data: not valid base64",
    ),
    "input_audio said wav but is not": (
        lambda b: msgs(b)[3]["content"][0]["input_audio"].update(data="SUQzBAAAAAAAAA=="),
        "format is 'wav' but the data is not a RIFF/WAVE file",
    ),
    "content part of an unknown type": (
        lambda b: msgs(b)[3]["content"][0].update(type="audio"),
        "messages[3].content[0].type: 'audio' is not one of text, image_url, input_audio, file",
    ),
    "user message with a tool_call_id": (
        lambda b: msgs(b)[1].update(tool_call_id="call_1"),
        "messages[1]: Additional properties are not allowed ('tool_call_id' was unexpected)",
    ),
    "unknown top-level argument": (
        lambda b: b.update(voice="alloy"),
        "body: Unrecognized request argument supplied: voice",
    ),
    "audio modality without audio parameters": (
        lambda b: b.pop("audio"),
        'body.audio: required when "modalities" includes "audio"',
    ),
    "output audio format unknown": (
        lambda b: b["audio"].update(format="ogg"),
        "body.audio.format: 'ogg' is not one of",
    ),
    "system content null": (
        lambda b: msgs(b)[0].update(content=None),
        "messages[0].content: null is not of type string or array",
    ),
    "tool_choice without tools": (
        lambda b: b.pop("tools"),
        "body.tool_choice: only allowed when tools are specified",
    ),
    "function name with a space": (
        lambda b: b["tools"][0]["function"].update(name="get player"),
        "body.tools[0].function.name: 'get player' must match",
    ),
    "tool arguments as an object": (
        lambda b: msgs(b)[4]["tool_calls"][0]["function"].update(arguments={"user_name": "m"}),
        "messages[4].tool_calls[0].function.arguments: {'user_name': 'm'} is not of type 'string'",
    ),
    "no messages": (lambda b: b.update(messages=[]), "body.messages: [] should be non-empty"),
    "no model": (lambda b: b.pop("model"), "body: 'model' is a required property"),
}


@pytest.mark.parametrize("edit, expected", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_a_known_bad_request_is_refused_with_a_clear_reason(edit, expected):
    errors = request_errors(changed(turn_request, edit))
    assert any(expected in error for error in errors), errors


def test_the_error_lists_every_violation():
    def two_mistakes(body):
        msgs(body)[5].pop("tool_call_id")
        body["audio"]["format"] = "ogg"

    with pytest.raises(ContractError) as raised:
        validate_request(changed(turn_request, two_mistakes))
    assert len(raised.value.errors) == 2
    assert "2 contract violation(s)" in str(raised.value)
    assert all(error in str(raised.value) for error in raised.value.errors)


@pytest.mark.parametrize("make", [audio_response, tool_call_response])
def test_good_responses_are_accepted(make):
    validate_response(make())


BAD_RESPONSES = {
    "missing choices": (
        audio_response,
        lambda b: b.pop("choices"),
        "body: 'choices' is a required",
    ),
    "audio without data": (
        audio_response,
        lambda b: b["choices"][0]["message"]["audio"].pop("data"),
        "body.choices[0].message.audio: 'data' is a required property",
    ),
    "audio data not base64": (
        audio_response,
        lambda b: b["choices"][0]["message"]["audio"].update(data="not base64!"),
        "message.audio.data: not valid base64",
    ),
    "tool call without id": (
        tool_call_response,
        lambda b: b["choices"][0]["message"]["tool_calls"][0].pop("id"),
        "body.choices[0].message.tool_calls[0]: 'id' is a required property",
    ),
    "message without content key": (
        audio_response,
        lambda b: b["choices"][0]["message"].pop("content"),
        "'content' is a required property",
    ),
    "unknown finish_reason": (
        audio_response,
        lambda b: b["choices"][0].update(finish_reason="done"),
        "finish_reason: 'done' is not one of",
    ),
    "wrong object": (
        audio_response,
        lambda b: b.update(object="completion"),
        "body.object: 'completion' is not one of ['chat.completion']",
    ),
}


@pytest.mark.parametrize("make, edit, expected", BAD_RESPONSES.values(), ids=BAD_RESPONSES.keys())
def test_a_known_bad_response_is_refused(make, edit, expected):
    errors = response_errors(changed(make, edit))
    assert any(expected in error for error in errors), errors
    with pytest.raises(ContractError):
        validate_response(changed(make, edit))


def test_stream_chunks_are_checked_against_the_stream_schema():
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
    }
    validate_response(chunk)
    chunk["choices"][0]["delta"]["role"] = "robot"
    assert any("delta.role: 'robot'" in error for error in response_errors(chunk))


def test_transcriptions_are_checked():
    validate_transcription({"text": "hello", "usage": {"type": "duration", "seconds": 1.5}})
    with pytest.raises(ContractError, match="'text' is a required property"):
        validate_transcription({"transcript": "hello"})


# --- the extraction -------------------------------------------------------------------------------


def test_nullable_becomes_json_schema():
    assert convert({"type": "integer", "nullable": True}) == {"type": ["integer", "null"]}
    assert convert({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    ref = {"$ref": "#/components/schemas/X", "nullable": True}
    assert convert(ref) == {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}]}


def test_documentation_keys_go_but_properties_named_like_them_stay():
    schema = {
        "type": "object",
        "description": "dropped",
        "x-oaiTypeLabel": "map",
        "properties": {"description": {"type": "string", "example": "dropped"}},
    }
    assert convert(schema) == {"type": "object", "properties": {"description": {"type": "string"}}}


def test_references_are_followed_transitively():
    spec = {"components": {"schemas": {
        "A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}},
        "B": {"items": {"$ref": "#/components/schemas/C"}},
        "C": {"type": "string"},
        "Unused": {"type": "string"},
    }}}  # fmt: skip
    assert referenced(spec["components"]["schemas"], ("A",)) == ["A", "B", "C"]
    assert set(extract(spec, ("A",))["$defs"]) == {"A", "B", "C"}


def test_the_committed_schema_is_valid_draft_2020_12_with_local_refs_only():
    document = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    assert "#/components/" not in text and '"nullable"' not in text
    assert SOURCE_COMMIT in document["$comment"]
    assert len(document["$defs"]) == 75


def test_no_schema_limits_strings_beyond_what_the_validator_keeps():
    # The validator cuts long strings (base64 audio) to LONG characters before checking them.
    limits = re.findall(r'"maxLength": (\d+)', SCHEMA_FILE.read_text(encoding="utf-8"))
    assert limits and max(map(int, limits)) <= LONG
    too_long = {**turn_request(), "safety_identifier": "x" * 65}
    assert any("safety_identifier" in error for error in request_errors(too_long))


def test_the_committed_schemas_match_the_spec():
    from tests.contracts.extract import SETS, load_spec, render

    spec = load_spec(DEFAULT_SPEC)
    assert SCHEMA_FILE in SETS
    for out_path, roots in SETS.items():
        assert render(extract(spec, roots)) == out_path.read_text(encoding="utf-8"), out_path.name


def test_the_committed_spec_is_the_shared_one():
    """The copy a fresh clone checks against is the vendor's file, byte for byte, when the shared
    workspace is there to compare with; its digest is recorded either way."""
    import gzip
    import hashlib

    from tests.contracts.extract import COMMITTED_SPEC, SHARED_SPEC

    digest = hashlib.sha256(gzip.decompress(COMMITTED_SPEC.read_bytes())).hexdigest()
    assert digest == SPEC_SHA256
    if SHARED_SPEC.is_file():
        assert hashlib.sha256(SHARED_SPEC.read_bytes()).hexdigest() == SPEC_SHA256


SPEC_SHA256 = "db5d7478feae10b4d331834c60d9765a8aa042e38419f9b1694288c11aa8ebc8"


def test_the_licence_and_source_are_recorded():
    here = SCHEMA_FILE.parent
    assert "MIT License" in (here / "LICENSE").read_text(encoding="utf-8")
    assert SOURCE_COMMIT in (here / "README.md").read_text(encoding="utf-8")
