"""The model's message, read once where it arrives and made plain and bounded.

The openai SDK builds its response objects without validating them, so a broken or hostile reply
(from a model, a proxy or a "compatible" server) arrives as odd attribute values: `content` a
list, `tool_calls` holding nulls or strings, a name that is a number, a 5 MB transcript, five
thousand calls. `read_message` turns any of these into the shape the turn relies on: strings
where strings belong, at most so many calls and characters. What it had to drop or cut is logged
as counts and types, never as the model's words.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from tools.registry import MAX_ARGUMENT_CHARS, MAX_NAME_CHARS

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 8_000  # an answer's text or transcript (a spoken answer is a few sentences)
MAX_CALLS = 12  # calls kept from one message: twice those run, so the model sees some skipped
MAX_ID_CHARS = 64
MAX_AUDIO_CHARS = 64_000_000  # base64: about 16 minutes of 24 kHz speech


@dataclass(frozen=True)
class Function:
    name: str
    arguments: str  # as sent, cut one character past MAX_ARGUMENT_CHARS (the registry refuses it)


@dataclass(frozen=True)
class ToolRequest:
    """One tool call, in the SDK's own shape (`call.id`, `call.function.name`, `.arguments`),
    so the code that runs tools reads it unchanged."""

    id: str
    function: Function


@dataclass(frozen=True)
class Audio:
    id: str | None
    data: str  # base64 of a whole answer's WAV, still to be decoded ("" when streamed)
    transcript: str
    expires_at: int | None
    pcm: bytes | None = None  # a streamed answer's audio: PCM16 mono 24 kHz, already decoded


@dataclass(frozen=True)
class ModelMessage:
    content: str | None
    tool_calls: list[ToolRequest] = field(default_factory=list)
    audio: Audio | None = None
    unreadable: bool = False  # some part could not be read (so an empty answer is not "empty")
    cut: bool = False  # the answer's text was longer than MAX_TEXT_CHARS and was cut

    def echo(self) -> dict[str, Any]:
        """The assistant message to send back with the tool results: bounded, always valid."""
        return {
            "role": "assistant",
            "content": self.content,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.function.name,
                        "arguments": _echoed_arguments(call.function.arguments),
                    },
                }
                for call in self.tool_calls
            ],
        }


@dataclass
class _Notes:
    """What reading a message had to drop (unreadable parts) or cut (too long), for the log."""

    dropped: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)


def read_message(message: Any) -> ModelMessage:
    """A plain, bounded ModelMessage from whatever the SDK built; never raises."""
    notes = _Notes()
    audio = _audio(field_of(message, "audio"), notes)
    return _message(field_of(message, "content"), field_of(message, "tool_calls"), audio, notes)


def read_streamed(
    content: Any, tool_calls: Any, audio: Audio | None, dropped: list[str], cut: list[str]
) -> ModelMessage:
    """The same, for a message assembled from stream deltas (assistant/chatcmpl.py), where
    `content` and `tool_calls` are as assembled (odd values kept as sent) and `dropped`/`cut`
    say what assembling had to leave out."""
    notes = _Notes(list(dropped), list(cut))
    if audio is not None:
        transcript = _text(audio.transcript, "audio transcript", notes) or ""
        audio = Audio(audio.id, "", transcript, audio.expires_at, audio.pcm)
    return _message(content, tool_calls, audio, notes)


def _message(content: Any, tool_calls: Any, audio: Audio | None, notes: _Notes) -> ModelMessage:
    content = _text(content, "content", notes)
    calls = _calls(tool_calls, notes)
    if notes.dropped or notes.cut:
        log.warning("model reply not used as sent: %s", "; ".join(notes.dropped + notes.cut))
    return ModelMessage(
        content=content,
        tool_calls=calls,
        audio=audio,
        unreadable=bool(notes.dropped),
        cut=bool(notes.cut),
    )


def field_of(value: Any, name: str) -> Any:
    """`value.name` of an SDK object, or `value[name]` of a plain dict (as a nested part of a
    reply may stay when the SDK could not build it), else None."""
    if isinstance(value, dict):
        return value.get(name)
    try:
        return getattr(value, name, None)
    except Exception:  # an odd object's property may raise
        return None


def _kind(value: Any) -> str:
    """The type of a value with its article ("a list", "an int"): logged, never the value."""
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _text(value: Any, what: str, notes: _Notes) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        notes.dropped.append(f"{what} was {_kind(value)}")
        return None
    if len(value) > MAX_TEXT_CHARS:
        notes.cut.append(f"{what} cut from {len(value):,} characters")
        return value[:MAX_TEXT_CHARS].rstrip() + " …"
    return value


def _audio(value: Any, notes: _Notes) -> Audio | None:
    if value is None:
        return None
    data = field_of(value, "data")
    if not isinstance(data, str) or not data or len(data) > MAX_AUDIO_CHARS:
        size = f"{len(data):,} characters" if isinstance(data, str) else _kind(data)
        notes.dropped.append(f"audio ({_kind(value)}) with data of {size}")
        return None
    transcript = _text(field_of(value, "transcript"), "audio transcript", notes)
    audio_id, expires_at = audio_labels(field_of(value, "id"), field_of(value, "expires_at"))
    return Audio(id=audio_id, data=data, transcript=transcript or "", expires_at=expires_at)


def audio_labels(audio_id: Any, expires_at: Any) -> tuple[str | None, int | None]:
    """An answer's audio id and expiry, or None for each that is not a sane value."""
    return (
        audio_id if isinstance(audio_id, str) and len(audio_id) <= MAX_ID_CHARS else None,
        expires_at if type(expires_at) is int else None,
    )


def _calls(value: Any, notes: _Notes) -> list[ToolRequest]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        notes.dropped.append(f"tool_calls was {_kind(value)}")
        return []
    calls: list[ToolRequest] = []
    ids: set[str] = set()
    dropped: dict[str, int] = {}
    for index, entry in enumerate(value):
        if len(calls) == MAX_CALLS:
            dropped[f"over the limit of {MAX_CALLS}"] = len(value) - index
            break
        function = None if isinstance(entry, str) else field_of(entry, "function")
        name = None if isinstance(function, str) else field_of(function, "name")
        if not isinstance(name, str) or not name:
            why = f"with no name ({_kind(entry)}, function {_kind(function)})"
            dropped[why] = dropped.get(why, 0) + 1
            continue
        call_id = field_of(entry, "id")
        if not isinstance(call_id, str) or not call_id or len(call_id) > MAX_ID_CHARS:
            call_id = f"call_vd_{index + 1}"
        while call_id in ids:  # each tool result must answer exactly one call
            call_id = f"{call_id[: MAX_ID_CHARS - 8]}_vd_{index + 1}"
        ids.add(call_id)
        arguments = _arguments(field_of(function, "arguments"))
        calls.append(ToolRequest(call_id, Function(name[:MAX_NAME_CHARS], arguments)))
    if dropped:
        notes.dropped.append(
            "tool calls dropped: " + ", ".join(f"{n:,} {why}" for why, n in dropped.items())
        )
    return calls


def _arguments(value: Any) -> str:
    """The arguments as text, at most one character over MAX_ARGUMENT_CHARS (so the registry
    still sees, and says, that they were too long). Some servers send an object rather than a
    JSON string: it is written as JSON, to be validated like any other."""
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            return ""
    return value[: MAX_ARGUMENT_CHARS + 1]


def _echoed_arguments(arguments: str) -> str:
    """What is sent back to the model as the call's arguments: the text it sent, unless too long
    (the registry refuses those, and says so in the call's result)."""
    return arguments if len(arguments) <= MAX_ARGUMENT_CHARS else "{}"
