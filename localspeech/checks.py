"""What a request may cost, and the types of the fields the engine reads, checked before any work.

A JSON body is measured before it is parsed (items and depth), because parsing is where a small
body becomes a large amount of memory: `[{},{},...]` costs about twenty times its size. Then
each field the engine or its router reads is checked for its type, so a wrong-typed field is a
400 naming it rather than an exception deep in the router.
"""

from __future__ import annotations

import json
from typing import Any

from localspeech.protocol import OfflineAPIError

MAX_JSON_ITEMS = 200_000  # commas and brackets: far above what the app sends (a few thousand)
MAX_JSON_DEPTH = 64  # a chat body with tool schemas nests about ten deep
MAX_QUESTION_CHARS = 2_000  # the app's own limit on a typed question (assistant.turn)
MAX_MESSAGE_CHARS = 20_000  # an earlier question or answer: a 10-minute question's transcript fits
MAX_MESSAGES = 256
MAX_TOOLS = 128  # OpenAI's own limit


def load_json(body: bytes) -> Any:
    """The parsed body, or a 400 when it is not JSON or would cost too much to parse."""
    # base64 audio holds none of these bytes, so a recording does not count against the limit.
    items = body.count(b",") + body.count(b"[") + body.count(b"{")
    if items > MAX_JSON_ITEMS:
        raise OfflineAPIError(
            f"The request body has more than {MAX_JSON_ITEMS:,} JSON items.", code="too_complex"
        )
    try:
        value = json.loads(body or b"null")
    except RecursionError as exc:
        raise _too_deep() from exc
    except ValueError as exc:  # also bad UTF-8
        raise OfflineAPIError("The request body is not valid JSON.") from exc
    if _depth(value) > MAX_JSON_DEPTH:
        raise _too_deep()
    return value


def _too_deep() -> OfflineAPIError:
    return OfflineAPIError(
        f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", code="too_complex"
    )


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


# ---- field types -----------------------------------------------------------------------------


def check_chat(body: Any) -> None:
    """Raise a 400 naming the first field the engine reads whose type is wrong."""
    if not isinstance(body, dict):
        raise OfflineAPIError("The request body must be a JSON object.")
    _of(body, "model", str, "model")
    messages = body.get("messages")
    if isinstance(messages, list) and len(messages) > MAX_MESSAGES:
        raise OfflineAPIError(f"Send at most {MAX_MESSAGES} messages.", param="messages")
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        if isinstance(message, dict):
            _message(message, f"messages[{i}]")
    for name in ("stream", "logprobs", "parallel_tool_calls"):
        _of(body, name, bool, name)
    _of(body, "n", int, "n")
    _of(body, "response_format", dict, "response_format")
    _of(body, "audio", dict, "audio")
    _of(body.get("audio") or {}, "voice", str, "audio.voice")
    _of(body.get("audio") or {}, "format", str, "audio.format")
    modalities = body.get("modalities")
    if modalities is not None and not _list_of(modalities, str):
        raise OfflineAPIError(
            "modalities must be a list of 'text' and 'audio'.", param="modalities"
        )
    _tools(body.get("tools"))
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        _of(choice, "function", dict, "tool_choice.function")
        _of(choice.get("function") or {}, "name", str, "tool_choice.function.name")


def _message(message: dict[str, Any], where: str) -> None:
    content = message.get("content")
    # the router reads earlier questions (a clarified one) and answers
    too_long = isinstance(content, str) and len(content) > MAX_MESSAGE_CHARS
    if too_long and message.get("role") in ("user", "assistant"):
        raise OfflineAPIError(
            f"{where} is longer than {MAX_MESSAGE_CHARS:,} characters.",
            param=f"{where}.content",
            code="string_above_max_length",
        )
    if isinstance(content, list):
        for j, part in enumerate(content):
            at = f"{where}.content[{j}]"
            if not isinstance(part, dict):
                raise _wrong(at, "an object")
            _of(part, "type", str, f"{at}.type")
            _of(part, "text", str, f"{at}.text")
            if len(part.get("text") or "") > MAX_MESSAGE_CHARS:
                raise _wrong(f"{at}.text", f"at most {MAX_MESSAGE_CHARS:,} characters")
            _of(part, "input_audio", dict, f"{at}.input_audio")
            audio = part.get("input_audio") or {}
            _of(audio, "data", str, f"{at}.input_audio.data")
            _of(audio, "format", str, f"{at}.input_audio.format")
    elif content is not None and not isinstance(content, str):
        raise _wrong(f"{where}.content", "a string or an array of parts")
    _of(message, "tool_call_id", str, f"{where}.tool_call_id")
    _of(message, "audio", dict, f"{where}.audio")
    calls = message.get("tool_calls")
    if calls is not None and not _list_of(calls, dict):
        raise _wrong(f"{where}.tool_calls", "an array of objects")
    for k, call in enumerate(calls or []):
        _of(call, "id", str, f"{where}.tool_calls[{k}].id")
        _of(call, "function", dict, f"{where}.tool_calls[{k}].function")
        for name in ("name", "arguments"):
            _of(call.get("function") or {}, name, str, f"{where}.tool_calls[{k}].function.{name}")


def _tools(tools: Any) -> None:
    if tools is None:
        return
    if not _list_of(tools, dict):
        raise _wrong("tools", "an array of objects")
    if len(tools) > MAX_TOOLS:
        raise OfflineAPIError(f"Offer at most {MAX_TOOLS} tools.", param="tools")
    for i, tool in enumerate(tools):
        at = f"tools[{i}].function"
        _of(tool, "function", dict, at)
        fn = tool.get("function") or {}
        _of(fn, "name", str, f"{at}.name")
        _of(fn, "description", str, f"{at}.description")
        _of(fn, "parameters", dict, f"{at}.parameters")
        _schema(fn.get("parameters") or {}, f"{at}.parameters", top=True)


def _schema(schema: dict[str, Any], at: str, top: bool = False) -> None:
    """The parts of a JSON schema the router reads: properties, $defs, required, and in each
    property its type, description, enum, pattern, maxLength, $ref and anyOf/oneOf/allOf."""
    if top:
        for name in ("properties", "$defs", "definitions"):
            _of(schema, name, dict, f"{at}.{name}")
            for key, prop in (schema.get(name) or {}).items():
                if not isinstance(prop, dict):
                    raise _wrong(f"{at}.{name}.{key}", "an object")
                _schema(prop, f"{at}.{name}.{key}")
        if "required" in schema and not _list_of(schema["required"], str):
            raise _wrong(f"{at}.required", "an array of strings")
        return
    for name, kind in (("description", str), ("pattern", str), ("$ref", str), ("enum", list)):
        _of(schema, name, kind, f"{at}.{name}")
    if "type" in schema and not isinstance(schema["type"], str | list):
        raise _wrong(f"{at}.type", "a string")
    if "maxLength" in schema and (
        not isinstance(schema["maxLength"], int) or isinstance(schema["maxLength"], bool)
    ):
        raise _wrong(f"{at}.maxLength", "an integer")
    for name in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(name)
        if branches is not None and not _list_of(branches, dict):
            raise _wrong(f"{at}.{name}", "an array of objects")
        for branch in branches or []:
            for key, kind in (("description", str), ("$ref", str), ("enum", list)):
                _of(branch, key, kind, f"{at}.{name}.{key}")


def _of(obj: dict[str, Any], name: str, kind: type, param: str) -> None:
    value = obj.get(name)
    if value is None:
        return
    wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if wrong:
        raise _wrong(param, _NAMES[kind])


def _list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in value)


def _wrong(param: str, expected: str) -> OfflineAPIError:
    return OfflineAPIError(f"{param} must be {expected}.", param=param, code="invalid_type")


_NAMES = {
    str: "a string",
    dict: "an object",
    list: "an array",
    bool: "true or false",
    int: "an integer",
}


def check_question(text: str) -> None:
    if len(text) > MAX_QUESTION_CHARS:
        raise OfflineAPIError(
            f"The question is longer than {MAX_QUESTION_CHARS:,} characters.",
            param="messages",
            code="string_above_max_length",
        )
