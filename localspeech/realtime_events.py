"""Reading Realtime client events: the settings of `session.update` and `response.create`, and
the conversation items a client may add. Each check names the field it refuses (`param`), in
one plain sentence; nothing changes when any field is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from localspeech import realtime_items as items
from localspeech.protocol import new_id
from localspeech.vad import IN_RATE, TurnSettings


class RealtimeError(Exception):
    """An `error` event: one plain sentence, what it is about, and the client event it answers."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid_value",
        param: str | None = None,
        type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.code, self.param, self.type = code, param, type


@dataclass
class Config:
    """A session's settings (and a response's, which may override some)."""

    instructions: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    output_modalities: list[str] = field(default_factory=lambda: ["audio"])
    voice: str = "alloy"
    turn: TurnSettings | None = field(default_factory=TurnSettings)
    create_response: bool = True
    interrupt_response: bool = True


def object_of(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RealtimeError(f"{param} must be an object.", param=param)
    return value


def updated(config: Config, session: dict[str, Any]) -> Config:
    """The session's settings after a `session.update`; nothing changes when any is wrong."""
    if session.get("type", "realtime") != "realtime":
        raise RealtimeError(
            "The offline engine holds realtime sessions only.", param="session.type"
        )
    new = Config(**vars(config))
    if "instructions" in session:
        new.instructions = _string(session["instructions"], "session.instructions", 100_000)
    if "tools" in session:
        new.tools = _tools(session["tools"], "session.tools")
    if "tool_choice" in session:
        new.tool_choice = _tool_choice(session["tool_choice"], "session.tool_choice")
    if "output_modalities" in session:
        new.output_modalities = _modalities(
            session["output_modalities"], "session.output_modalities"
        )
    audio = session.get("audio")
    if audio is not None:
        audio = object_of(audio, "session.audio")
        heard = object_of(audio.get("input") or {}, "session.audio.input")
        spoken = object_of(audio.get("output") or {}, "session.audio.output")
        for where, part in (("input", heard), ("output", spoken)):
            if "format" in part:
                _pcm24(part["format"], f"session.audio.{where}.format")
        if "voice" in spoken:  # one local voice: the name is kept, the voice is the same
            new.voice = _string(spoken["voice"], "session.audio.output.voice", 64)
        if "turn_detection" in heard:
            _turn(new, heard["turn_detection"])
    return new


def _turn(config: Config, value: Any) -> None:
    where = "session.audio.input.turn_detection"
    if value is None:
        config.turn = None
        return
    value = object_of(value, where)
    if value.get("type") not in ("server_vad", "semantic_vad"):
        raise RealtimeError(
            "turn_detection.type must be server_vad or semantic_vad.", param=f"{where}.type"
        )
    # Semantic VAD has no local model: silence ends the turn, as with server_vad's defaults.
    base = TurnSettings()
    threshold = value.get("threshold", base.threshold)
    padding = value.get("prefix_padding_ms", base.prefix_padding_ms)
    silence = value.get("silence_duration_ms", base.silence_duration_ms)
    if (
        not isinstance(threshold, (int, float))
        or isinstance(threshold, bool)
        or not (0.0 < threshold < 1.0)
    ):
        raise RealtimeError(
            "threshold must be a number between 0 and 1.", param=f"{where}.threshold"
        )
    for name, ms, top in (
        ("prefix_padding_ms", padding, 5000),
        ("silence_duration_ms", silence, 10_000),
    ):
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= top:
            raise RealtimeError(
                f"{name} must be a whole number of ms from 0 to {top}.", param=f"{where}.{name}"
            )
    config.turn = TurnSettings(float(threshold), padding, max(silence, 64))
    for name in ("create_response", "interrupt_response"):
        if name in value:
            if not isinstance(value[name], bool):
                raise RealtimeError(f"{name} must be true or false.", param=f"{where}.{name}")
            setattr(config, name, value[name])


def _pcm24(value: Any, param: str) -> None:
    value = object_of(value, param)
    if value.get("type") != "audio/pcm" or value.get("rate", IN_RATE) != IN_RATE:
        raise RealtimeError(
            "The offline engine speaks and hears audio/pcm at 24000 Hz only.",
            param=param,
            code="unsupported_audio_format",
        )


def _string(value: Any, param: str, longest: int) -> str:
    if not isinstance(value, str) or len(value) > longest:
        raise RealtimeError(
            f"{param} must be a string of at most {longest:,} characters.", param=param
        )
    return value


def _modalities(value: Any, param: str) -> list[str]:
    if value not in (["audio"], ["text"]):
        raise RealtimeError("output_modalities must be ['audio'] or ['text'].", param=param)
    return list(value)


def _tools(value: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > 128:
        raise RealtimeError("tools must be a list of at most 128 function tools.", param=param)
    for i, tool in enumerate(value):
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(tool.get("name"), str)
        ):
            raise RealtimeError(
                "The offline engine calls function tools with a name only.", param=f"{param}[{i}]"
            )
        if not isinstance(tool.get("parameters", {}), dict):
            raise RealtimeError(
                "A tool's parameters must be a JSON schema object.",
                param=f"{param}[{i}].parameters",
            )
    return [dict(t) for t in value]


def _tool_choice(value: Any, param: str) -> Any:
    if value in ("auto", "none", "required"):
        return value
    if (
        isinstance(value, dict)
        and value.get("type") == "function"
        and isinstance(value.get("name"), str)
    ):
        return {"type": "function", "name": value["name"]}
    raise RealtimeError("tool_choice must be auto, none, required or a function.", param=param)


def response_config(config: Config, params: dict[str, Any]) -> Config:
    new = Config(**vars(config))
    if "instructions" in params:
        new.instructions = _string(params["instructions"], "response.instructions", 100_000)
    if "tools" in params:
        new.tools = _tools(params["tools"], "response.tools")
    if "tool_choice" in params:
        new.tool_choice = _tool_choice(params["tool_choice"], "response.tool_choice")
    if "output_modalities" in params:
        new.output_modalities = _modalities(
            params["output_modalities"], "response.output_modalities"
        )
    if params.get("conversation") == "none" or "input" in params:
        raise RealtimeError(
            "The offline engine answers within the conversation only.",
            param="response.conversation",
            code="unsupported_value",
        )
    return new


def client_item(item: dict[str, Any]) -> dict[str, Any]:
    """A conversation item from the client: a message with text, a function call or its
    output, with an id."""
    item_id = item.get("id") or new_id("item_")
    if not isinstance(item_id, str) or len(item_id) > 64:
        raise RealtimeError("item.id must be a string of at most 64 characters.", param="item.id")
    kind = item.get("type")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "system", "assistant"):
            raise RealtimeError("item.role must be user, system or assistant.", param="item.role")
        content = item.get("content")
        if not isinstance(content, list) or not content:
            raise RealtimeError("item.content must be a non-empty list.", param="item.content")
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in (
                "input_text",
                "text",
                "output_text",
            ):
                raise RealtimeError(
                    "The offline engine reads text content only; send audio "
                    "with input_audio_buffer.append.",
                    param=f"item.content[{i}]",
                )
            parts.append(
                {
                    "type": part["type"],
                    "text": _string(part.get("text", ""), f"item.content[{i}].text", 20_000),
                }
            )
        return {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": role,
            "content": parts,
        }
    if kind == "function_call_output":
        call_id = _string(item.get("call_id"), "item.call_id", 128)
        output = _string(item.get("output"), "item.output", 100_000)
        return {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call_output",
            "status": "completed",
            "call_id": call_id,
            "output": output,
        }
    if kind == "function_call":
        return items.function_call(
            item_id,
            _string(item.get("call_id") or new_id("call_"), "item.call_id", 128),
            _string(item.get("name"), "item.name", 128),
            _string(item.get("arguments", "{}"), "item.arguments", 100_000),
            "completed",
        )
    raise RealtimeError(
        "item.type must be message, function_call or function_call_output.", param="item.type"
    )


def session_body(c: Config, session_id: str, model: str, expires_at: int) -> dict[str, Any]:
    """The `session` of `session.created` and `session.updated`."""
    turn = None
    if c.turn is not None:
        turn = {
            "type": "server_vad",
            "threshold": c.turn.threshold,
            "prefix_padding_ms": c.turn.prefix_padding_ms,
            "silence_duration_ms": c.turn.silence_duration_ms,
            "create_response": c.create_response,
            "interrupt_response": c.interrupt_response,
            "idle_timeout_ms": None,
        }
    pcm = {"type": "audio/pcm", "rate": IN_RATE}
    return {
        "type": "realtime",
        "id": session_id,
        "object": "realtime.session",
        "model": model,
        "expires_at": expires_at,
        "output_modalities": list(c.output_modalities),
        "instructions": c.instructions,
        "audio": {
            "input": {
                "format": pcm,
                "transcription": {"model": "whisper-tiny.en"},
                "turn_detection": turn,
            },
            "output": {"format": pcm, "voice": c.voice, "speed": 1.0},
        },
        "tools": list(c.tools),
        "tool_choice": c.tool_choice,
        "max_output_tokens": "inf",
    }
