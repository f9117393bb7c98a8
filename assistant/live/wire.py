"""The Realtime (GA) wire format, in one place: the session's configuration, tools, function
outputs, truncation, and reading usage and errors from server events.

Nothing a server sends is trusted: every value is checked for its type before it is used.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from assistant.history import CUSTOMER_LINE
from assistant.live.base import LIVE_SAMPLE_RATE
from assistant.models import Usage

PCM = {"type": "audio/pcm", "rate": LIVE_SAMPLE_RATE}
# Server VAD: half a second of silence ends a turn (the published default is 500 ms too).
TURN_DETECTION = {"type": "server_vad", "silence_duration_ms": 500, "create_response": True}
CONTEXT_HEADER = "The conversation so far (earlier turns, as text):"
ROLE_WORDS = {"user": "Person", "assistant": "You"}


def instructions(system: str, context: list[dict[str, Any]]) -> str:
    """The system prompt, then the customer line and earlier turns as plain text (a realtime
    session takes its history as instructions, so a reconnect can re-seed it)."""
    lines: list[str] = []
    for message in context:
        content = str(message.get("content") or "")
        role = message.get("role")
        if role == "system":
            lines.append(content)
        elif role in ROLE_WORDS:
            lines.append(f"{ROLE_WORDS[role]}: {content}")
    if not lines:
        return system
    customers = [line for line in lines if line.startswith(CUSTOMER_LINE.split("{")[0])]
    turns = [line for line in lines if line not in customers]
    parts = [system, *customers]
    if turns:
        parts.append(CONTEXT_HEADER + "\n" + "\n".join(turns))
    return "\n\n".join(parts)


def tool_entries(tools: Iterable[Any]) -> list[dict[str, Any]]:
    """Provider-neutral tools (name, description, JSON schema) as realtime function tools."""
    return [
        {"type": "function", "name": t.name, "description": t.description,
         "parameters": t.parameters()}
        for t in tools
    ]  # fmt: skip


def session_update(
    *, instructions: str, tools: list[dict[str, Any]], voice: str, transcribe_model: str | None
) -> dict[str, Any]:
    audio_in: dict[str, Any] = {"format": PCM, "turn_detection": dict(TURN_DETECTION)}
    if transcribe_model:
        audio_in["transcription"] = {"model": transcribe_model}
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["audio"],
            "instructions": instructions,
            "audio": {"input": audio_in, "output": {"format": PCM, "voice": voice}},
            "tools": tools,
            "tool_choice": "auto",
        },
    }


def append_audio(pcm16: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm16).decode("ascii")}


def function_output(call_id: str, output: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def response_create(*, tools_allowed: bool = True) -> dict[str, Any]:
    if tools_allowed:
        return {"type": "response.create"}
    return {"type": "response.create", "response": {"tool_choice": "none"}}


def cancel(response_id: str | None) -> dict[str, Any]:
    """Cancel this response only: a new one may already have begun for the person's words."""
    if response_id is None:
        return {"type": "response.cancel"}
    return {"type": "response.cancel", "response_id": response_id}


def truncate(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": max(0, int(audio_end_ms)),
    }


def audio_of(event: dict[str, Any]) -> bytes | None:
    """The PCM16 of an audio delta, or None when it is not valid base64 (dropped, logged)."""
    delta = event.get("delta")
    if not isinstance(delta, str):
        return None
    try:
        return base64.b64decode(delta, validate=True)
    except (binascii.Error, ValueError):
        return None


def text_of(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    return value if isinstance(value, str) else ""


def add_usage(usage: Usage, response: Any) -> None:
    """Add a `response.done` response's usage (text and audio, cached) to `usage`."""
    raw = response.get("usage") if isinstance(response, dict) else None
    usage.model_calls += 1
    if not isinstance(raw, dict):
        return
    inputs = _dict(raw.get("input_token_details"))
    outputs = _dict(raw.get("output_token_details"))
    cached = _dict(inputs.get("cached_tokens_details"))
    usage.prompt_tokens += _int(raw.get("input_tokens"))
    usage.completion_tokens += _int(raw.get("output_tokens"))
    usage.audio_prompt_tokens += _int(inputs.get("audio_tokens"))
    usage.audio_completion_tokens += _int(outputs.get("audio_tokens"))
    usage.cached_tokens += _int(inputs.get("cached_tokens"))
    usage.cached_audio_tokens += _int(cached.get("audio_tokens"))


def function_calls(response: Any) -> list[dict[str, str]]:
    """The function calls a finished response asked for: call_id, name, arguments."""
    output = response.get("output") if isinstance(response, dict) else None
    calls = []
    for item in output if isinstance(output, list) else []:
        if isinstance(item, dict) and item.get("type") == "function_call":
            call = {k: item.get(k) for k in ("call_id", "name", "arguments")}
            if all(isinstance(v, str) for v in call.values()):
                calls.append(call)
    return calls


def error_fields(event: dict[str, Any]) -> tuple[str, str, str]:
    """An error event's type, code and message (empty strings where absent)."""
    error = _dict(event.get("error"))
    return tuple(str(error.get(k) or "") for k in ("type", "code", "message"))  # type: ignore[return-value]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
