"""Realtime conversation items and the Chat Completions messages the engine reads from them.

The engine answers Chat Completions (localspeech.engine): a realtime conversation is turned
into the same messages (instructions as the system message, user turns as text, function calls
and their outputs as `tool_calls` and `tool` messages), so routing, the customer line, asking
back and composing an answer from tool results behave exactly as in the other voice modes.
"""

from __future__ import annotations

import json
from typing import Any

from localspeech import protocol

MAX_HISTORY_MESSAGES = 64  # what the engine reads of a long session (it needs the last turns)
Item = dict[str, Any]


def user_text(text: str, item_id: str) -> Item:
    content = [{"type": "input_text", "text": text}]
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": content,
    }


def user_audio(item_id: str, transcript: str | None = None) -> Item:
    part: dict[str, Any] = {"type": "input_audio"}
    if transcript is not None:
        part["transcript"] = transcript
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [part],
    }


def assistant(item_id: str, status: str, transcript: str | None, audio: bool) -> Item:
    content = []
    if transcript is not None:
        part = (
            {"type": "output_audio", "transcript": transcript}
            if audio
            else {"type": "output_text", "text": transcript}
        )
        content.append(part)
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def function_call(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Item:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def text_of(item: Item) -> str:
    """What a message item says, typed or heard."""
    words = []
    for part in item.get("content") or []:
        if isinstance(part, dict):
            words.append(str(part.get("text") or part.get("transcript") or ""))
    return " ".join(w for w in words if w).strip()


def chat_messages(instructions: str, items: list[Item]) -> list[dict[str, Any]]:
    """The conversation as Chat Completions messages, from a user turn near the end back."""
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            role = item.get("role")
            messages.append({"role": role, "content": text_of(item)})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id") or item.get("id"),
                "type": "function",
                "function": {"name": item.get("name", ""), "arguments": item.get("arguments", "")},
            }
            if messages and messages[-1]["role"] == "assistant" and messages[-1].get("tool_calls"):
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
            )
    messages = _recent(messages)
    system = [{"role": "system", "content": instructions}] if instructions.strip() else []
    return system + messages


def _recent(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last MAX_HISTORY_MESSAGES, starting at a user message (a tool message must follow
    the call it answers)."""
    if len(messages) <= MAX_HISTORY_MESSAGES:
        return messages
    tail = messages[-MAX_HISTORY_MESSAGES:]
    first_user = next((i for i, m in enumerate(tail) if m["role"] == "user"), 0)
    return tail[first_user:]


def chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Realtime function tools (flat) as Chat Completions tools (nested under `function`)."""
    out = []
    for tool in tools:
        function = {"name": tool.get("name", "")}
        for key in ("description", "parameters"):
            if key in tool:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    return choice


def usage(messages: list[dict[str, Any]], heard_s: float, said: str, spoken_s: float) -> dict:
    """Realtime `usage`: text counted as about four characters a token, audio as ten tokens a
    second (what OpenAI bills), nothing cached."""
    text_in = sum(protocol.text_tokens(json.dumps(m.get("content") or "")) for m in messages)
    audio_in = protocol.audio_tokens(heard_s)
    text_out, audio_out = protocol.text_tokens(said), protocol.audio_tokens(spoken_s)
    return {
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out,
        "input_token_details": {
            "cached_tokens": 0,
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "image_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }
