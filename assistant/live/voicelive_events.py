"""Azure AI Voice Live's dialect of the Realtime protocol, translated to and from OpenAI's GA one.

Voice Live keeps the beta's flat session (`input_audio_format`, `turn_detection`, `voice` at the
top) and event names (`response.audio.delta`), and adds its own: semantic VAD, deep noise
suppression, server echo cancellation, Azure voices. The session logic speaks GA only, so every
difference is settled here, in two tables: CLIENT_EVENTS (GA -> Voice Live, by GA type) and
SERVER_EVENTS (Voice Live -> GA, by every type of the SDK's `ServerEventType`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.ai.voicelive.models import OpenAIVoiceName
from azure.ai.voicelive.models import ServerEventType as S

log = logging.getLogger(__name__)

Event = dict[str, Any]

# GA audio formats <-> Voice Live's names (pcm16 is 24 kHz mono there as in GA)
GA_TO_VL_FORMAT = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
VL_TO_GA_FORMAT = {vl: ga for ga, vl in GA_TO_VL_FORMAT.items()}
SAMPLE_RATE = 24_000
# The Voice Live features VoiceDesk always asks for when it configures audio.
NOISE_SUPPRESSION = {"type": "azure_deep_noise_suppression"}
ECHO_CANCELLATION = {"type": "server_echo_cancellation"}
SEMANTIC_VAD = "azure_semantic_vad"
VAD_KEYS = ("threshold", "prefix_padding_ms", "silence_duration_ms", "create_response",
            "interrupt_response")  # fmt: skip
GA_ITEM_TYPES = {"message", "function_call", "function_call_output", "mcp_approval_response",
                 "mcp_list_tools", "mcp_call", "mcp_approval_request"}  # fmt: skip
GA_REASONS = {"turn_detected", "client_cancelled", "max_output_tokens", "content_filter"}
TOOL_CHOICES = {"auto", "none", "required"}


def voice_config(name: str) -> Event:
    """A voice setting as Voice Live takes it: an OpenAI voice by its name, else an Azure one."""
    if name.lower() in {v.value for v in OpenAIVoiceName}:
        return {"type": "openai", "name": name.lower()}
    return {"type": "azure-standard", "name": name}


# -- client events: GA -> Voice Live ---------------------------------------------------------


def _session_update(event: Event, voice: str) -> Event:
    return {**event, "session": session_to_voicelive(event.get("session") or {}, voice)}


def session_to_voicelive(session: Event, voice: str) -> Event:
    """A GA session (partial, as updates are) in Voice Live's flat shape. Whenever audio is
    configured, Voice Live's own voice, noise suppression and echo cancellation come with it;
    any server or semantic VAD becomes its semantic VAD (it hears when a sentence is done)."""
    out: Event = {}
    for key in ("instructions", "tool_choice", "parallel_tool_calls", "include"):
        if key in session:
            out[key] = session[key]
    if "tool_choice" in out:
        out["tool_choice"] = _tool_choice(out["tool_choice"])
    if "tools" in session:
        out["tools"] = _tools(session["tools"])
    if "max_output_tokens" in session:
        out["max_response_output_tokens"] = session["max_output_tokens"]
    if "output_modalities" in session:
        out["modalities"] = _modalities(session["output_modalities"])
    if (session.get("reasoning") or {}).get("effort"):
        out["reasoning_effort"] = session["reasoning"]["effort"]
    audio = session.get("audio")
    if audio is None:
        return out  # type, model, tracing, truncation, prompt: no Voice Live counterpart
    heard, spoken = audio.get("input") or {}, audio.get("output") or {}
    if heard.get("format"):
        out["input_audio_format"] = _format(heard["format"])
        out["input_audio_sampling_rate"] = heard["format"].get("rate", SAMPLE_RATE)
    if "transcription" in heard:
        out["input_audio_transcription"] = _transcription(heard["transcription"])
    if "turn_detection" in heard:
        out["turn_detection"] = _vad(heard["turn_detection"])
    # GA's null turns noise reduction off; its near/far field become Azure's deep suppression
    noise_off = "noise_reduction" in heard and heard["noise_reduction"] is None
    out["input_audio_noise_reduction"] = None if noise_off else NOISE_SUPPRESSION
    out["input_audio_echo_cancellation"] = ECHO_CANCELLATION
    if spoken.get("format"):
        out["output_audio_format"] = _format(spoken["format"])
    out["voice"] = voice_config(voice)  # VOICEDESK_VOICELIVE_VOICE, not the GA (OpenAI) voice
    return out


def _format(ga_format: Event) -> str:
    return GA_TO_VL_FORMAT.get(ga_format.get("type", "audio/pcm"), "pcm16")


def _transcription(ga: Event | None) -> Event | None:
    if ga is None:
        return None
    out = {"model": ga.get("model") or "azure-speech"}
    if ga.get("language"):
        out["language"] = ga["language"]
    return out


def _vad(ga: Event | None) -> Event | None:
    if ga is None:
        return None  # no turn detection: the client commits turns itself
    return {"type": SEMANTIC_VAD, **{k: ga[k] for k in VAD_KEYS if k in ga}}


def _tools(tools: list[Event]) -> list[Event]:
    keys = ("type", "name", "description", "parameters")
    return [{k: t[k] for k in keys if k in t} if t.get("type") == "function" else t for t in tools]


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") != "function":
        return "auto"  # an MCP choice has no Voice Live counterpart
    return choice


def _modalities(ga: list[str]) -> list[str]:
    return ["text", "audio"] if "audio" in ga else ["text"]  # audio comes with its transcript


def _response_create(event: Event, voice: str) -> Event:
    ga = event.get("response")
    if ga is None:
        return event
    out: Event = {k: ga[k] for k in ("instructions", "metadata", "max_output_tokens") if k in ga}
    if "tools" in ga:
        out["tools"] = _tools(ga["tools"])
    if isinstance(ga.get("tool_choice"), str):
        out["tool_choice"] = ga["tool_choice"]
    if "output_modalities" in ga:
        out["modalities"] = _modalities(ga["output_modalities"])
    spoken = (ga.get("audio") or {}).get("output") or {}
    if spoken.get("format"):
        out["output_audio_format"] = _format(spoken["format"])
    if "input" in ga:
        out["input_items"] = [item_to_voicelive(item) for item in ga["input"]]
    # `conversation` ("none": an answer kept out of the conversation) and a per-response voice
    # have no Voice Live counterpart: the session's voice speaks every answer.
    return {**event, "response": out}


def _item_create(event: Event, voice: str) -> Event:
    return {**event, "item": item_to_voicelive(event.get("item") or {})}


def item_to_voicelive(item: Event) -> Event:
    out = {k: v for k, v in item.items() if k != "object"}
    if out.get("status") == "in_progress":
        del out["status"]  # an item sent is complete; Voice Live knows no other status there
    if item.get("type") == "message":
        out["content"] = [_part_to_voicelive(part) for part in item.get("content") or []]
    return out


def _part_to_voicelive(part: Event) -> Event:
    if part.get("type") == "output_text":
        return {"type": "text", "text": part.get("text", "")}
    if part.get("type") == "output_audio":  # an earlier answer: its words stand for its sound
        return {"type": "text", "text": part.get("transcript", "")}
    return part


# GA client event type -> how it becomes a Voice Live one (None: the same event, unchanged)
CLIENT_EVENTS: dict[str, Callable[[Event, str], Event] | None] = {
    "session.update": _session_update,
    "response.create": _response_create,
    "conversation.item.create": _item_create,
    "input_audio_buffer.append": None,
    "input_audio_buffer.commit": None,
    "input_audio_buffer.clear": None,
    "output_audio_buffer.clear": None,
    "response.cancel": None,
    "conversation.item.truncate": None,
    "conversation.item.delete": None,
    "conversation.item.retrieve": None,
}


def to_voicelive(event: Event, voice: str) -> Event:
    """A GA client event as Voice Live takes it; ValueError for a type GA does not define."""
    kind = event.get("type")
    if kind not in CLIENT_EVENTS:
        raise ValueError(f"{kind!r} is not a Realtime client event")
    translate = CLIENT_EVENTS[kind]
    return translate(event, voice) if translate else event


# -- server events: Voice Live -> GA ---------------------------------------------------------


class ToGA:
    """Turns Voice Live server events (dicts as on the wire) into GA ones; None for an event the
    GA protocol has no place for. Remembers when each utterance started and stopped, so a
    transcription carries the duration GA's `usage` asks for."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._speech: dict[str, list[int]] = {}  # item_id -> [start_ms, end_ms]

    def __call__(self, event: Event) -> Event | None:
        kind = event.get("type")
        if kind not in SERVER_EVENTS:  # newer than this SDK: nothing in GA to map it to
            log.info("Voice Live sent an event VoiceDesk does not know (%s); ignored.", kind)
            return None
        name, reshape = SERVER_EVENTS[kind]
        out: Event | None = {**event, "type": name}
        if reshape is not None:
            out = reshape(self, out)
        if name is None or out is None:
            return None
        if not out.get("event_id"):
            out["event_id"] = f"event_voicelive_{next(self._ids)}"  # GA events always carry one
        return out

    def _speech_started(self, event: Event) -> Event:
        self._speech[event.get("item_id", "")] = [event.get("audio_start_ms", 0)] * 2
        return event

    def _speech_stopped(self, event: Event) -> Event:
        span = self._speech.setdefault(event.get("item_id", ""), [0, 0])
        span[1] = max(span[0], event.get("audio_end_ms", span[0]))
        return event

    def _transcribed(self, event: Event) -> Event:
        start, end = self._speech.pop(event.get("item_id", ""), [0, 0])
        return {**event, "usage": {"type": "duration", "seconds": (end - start) / 1000}}

    def _session(self, event: Event) -> Event:
        return {**event, "session": session_to_ga(event.get("session") or {})}

    def _response(self, event: Event) -> Event:
        return {**event, "response": response_to_ga(event.get("response") or {})}

    def _item(self, event: Event) -> Event | None:
        item = item_to_ga(event.get("item") or {})
        return None if item is None else {**event, "item": item}

    def _part(self, event: Event) -> Event:
        return {**event, "part": _without_nulls(event.get("part") or {})}

    def _error(self, event: Event) -> Event:
        error = _without_nulls(event.get("error") or {})
        error.setdefault("type", "error")
        error.setdefault("message", "")
        return {**event, "error": error}

    def _warning(self, event: Event) -> None:
        warning = event.get("warning") or {}
        log.info("Voice Live warned: %s", warning.get("code") or "no code")
        return None


def session_to_ga(session: Event) -> Event:
    """Voice Live's session as GA's `realtime.session` describes it. Its semantic VAD reads as
    GA's semantic VAD; its deep noise suppression and echo cancellation have no GA words."""
    out: Event = {"type": "realtime", "object": "realtime.session", "id": session.get("id") or ""}
    for key in ("model", "instructions"):
        if session.get(key) is not None:
            out[key] = session[key]
    if session.get("modalities"):
        out["output_modalities"] = ["audio"] if "audio" in session["modalities"] else ["text"]
    if session.get("max_response_output_tokens") is not None:
        out["max_output_tokens"] = session["max_response_output_tokens"]
    if session.get("tools") is not None:
        out["tools"] = [t for t in session["tools"] if t.get("type") == "function"]
    choice = session.get("tool_choice")
    if choice in TOOL_CHOICES or (isinstance(choice, dict) and choice.get("type") == "function"):
        out["tool_choice"] = choice
    expires = _unix_time(session.get("expires_at"))
    if expires is not None:
        out["expires_at"] = expires
    heard: Event = {}
    if session.get("input_audio_format"):
        heard["format"] = _ga_format(session["input_audio_format"])
    if session.get("input_audio_transcription"):
        heard["transcription"] = _without_nulls(
            {k: session["input_audio_transcription"].get(k) for k in ("model", "language")}
        )
    if "turn_detection" in session:
        heard["turn_detection"] = _vad_to_ga(session["turn_detection"])
    spoken: Event = {}
    if session.get("output_audio_format"):
        spoken["format"] = _ga_format(session["output_audio_format"])
    if session.get("voice"):
        spoken["voice"] = _voice_name(session["voice"])
    if heard or spoken:
        out["audio"] = {"input": heard, "output": spoken}
    return out


def _ga_format(vl_format: str) -> Event:
    ga = VL_TO_GA_FORMAT.get(vl_format, "audio/pcm")
    return {"type": ga, "rate": SAMPLE_RATE} if ga == "audio/pcm" else {"type": ga}


def _vad_to_ga(vad: Event | None) -> Event | None:
    if vad is None:
        return None
    if vad.get("type") == "server_vad":
        return {"type": "server_vad", **{k: vad[k] for k in VAD_KEYS if vad.get(k) is not None}}
    flags = ("create_response", "interrupt_response")
    return {"type": "semantic_vad", **{k: vad[k] for k in flags if vad.get(k) is not None}}


def _voice_name(voice: Any) -> str:
    return voice.get("name", "") if isinstance(voice, dict) else str(voice)


def _unix_time(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


def response_to_ga(response: Event) -> Event:
    out: Event = {"object": "realtime.response"}
    for key in ("id", "status", "conversation_id", "metadata", "usage"):
        if response.get(key) is not None:
            out[key] = response[key]
    if response.get("max_output_tokens") is not None:
        out["max_output_tokens"] = response["max_output_tokens"]
    if response.get("status_details"):
        out["status_details"] = _status_details(response["status_details"])
    if response.get("output") is not None:
        items = (item_to_ga(item) for item in response["output"])
        out["output"] = [item for item in items if item is not None]
    if response.get("modalities"):
        out["output_modalities"] = ["audio"] if "audio" in response["modalities"] else ["text"]
    spoken: Event = {}
    if response.get("output_audio_format"):
        spoken["format"] = _ga_format(response["output_audio_format"])
    if response.get("voice"):
        spoken["voice"] = _voice_name(response["voice"])
    if spoken:
        out["audio"] = {"output": spoken}
    return out


def _status_details(details: Event) -> Event:
    out: Event = {"type": details.get("type")}
    if details.get("reason") in GA_REASONS:
        out["reason"] = details["reason"]
    error = details.get("error")
    if isinstance(error, dict):
        out["error"] = {k: str(error[k]) for k in ("type", "code") if error.get(k) is not None}
    return out


def item_to_ga(item: Event) -> Event | None:
    """A Voice Live conversation item as GA's; None for kinds GA has no item for (web search)."""
    if item.get("type") not in GA_ITEM_TYPES:
        return None
    out = _without_nulls(item)
    out.setdefault("object", "realtime.item")
    if item.get("type") == "message":
        assistant = item.get("role") == "assistant"
        out["content"] = [_part_to_ga(part, assistant) for part in item.get("content") or []]
    return out


def _part_to_ga(part: Event, assistant: bool) -> Event:
    out = _without_nulls(part)
    if assistant and out.get("type") in ("audio", "text"):
        out["type"] = "output_" + out["type"]
    return out


def _without_nulls(obj: Event) -> Event:
    return {k: v for k, v in obj.items() if v is not None}


R = Callable[[ToGA, Event], "Event | None"]


def _same(kind: S, reshape: R | None = None) -> tuple[str, R | None]:
    return kind.value, reshape


IGNORED: tuple[None, None] = (None, None)  # GA has no such event: avatar, animation, search...

# Every server event type of the SDK -> (its GA name, or None to drop it; how its body changes)
_SERVER_EVENTS: dict[S, tuple[str | None, R | None]] = {
    # named otherwise in GA
    S.RESPONSE_AUDIO_DELTA: ("response.output_audio.delta", None),
    S.RESPONSE_AUDIO_DONE: ("response.output_audio.done", None),
    S.RESPONSE_AUDIO_TRANSCRIPT_DELTA: ("response.output_audio_transcript.delta", None),
    S.RESPONSE_AUDIO_TRANSCRIPT_DONE: ("response.output_audio_transcript.done", None),
    S.RESPONSE_TEXT_DELTA: ("response.output_text.delta", None),
    S.RESPONSE_TEXT_DONE: ("response.output_text.done", None),
    S.CONVERSATION_ITEM_CREATED: ("conversation.item.added", ToGA._item),
    # the same name, a GA body
    S.SESSION_CREATED: _same(S.SESSION_CREATED, ToGA._session),
    S.SESSION_UPDATED: _same(S.SESSION_UPDATED, ToGA._session),
    S.RESPONSE_CREATED: _same(S.RESPONSE_CREATED, ToGA._response),
    S.RESPONSE_DONE: _same(S.RESPONSE_DONE, ToGA._response),
    S.RESPONSE_OUTPUT_ITEM_ADDED: _same(S.RESPONSE_OUTPUT_ITEM_ADDED, ToGA._item),
    S.RESPONSE_OUTPUT_ITEM_DONE: _same(S.RESPONSE_OUTPUT_ITEM_DONE, ToGA._item),
    S.CONVERSATION_ITEM_RETRIEVED: _same(S.CONVERSATION_ITEM_RETRIEVED, ToGA._item),
    S.RESPONSE_CONTENT_PART_ADDED: _same(S.RESPONSE_CONTENT_PART_ADDED, ToGA._part),
    S.RESPONSE_CONTENT_PART_DONE: _same(S.RESPONSE_CONTENT_PART_DONE, ToGA._part),
    S.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_COMPLETED: _same(
        S.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_COMPLETED, ToGA._transcribed
    ),
    S.INPUT_AUDIO_BUFFER_SPEECH_STARTED: _same(
        S.INPUT_AUDIO_BUFFER_SPEECH_STARTED, ToGA._speech_started
    ),
    S.INPUT_AUDIO_BUFFER_SPEECH_STOPPED: _same(
        S.INPUT_AUDIO_BUFFER_SPEECH_STOPPED, ToGA._speech_stopped
    ),
    S.ERROR: _same(S.ERROR, ToGA._error),
    # the same name and body
    S.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_DELTA: _same(
        S.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_DELTA
    ),
    S.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_FAILED: _same(
        S.CONVERSATION_ITEM_INPUT_AUDIO_TRANSCRIPTION_FAILED
    ),
    S.CONVERSATION_ITEM_TRUNCATED: _same(S.CONVERSATION_ITEM_TRUNCATED),
    S.CONVERSATION_ITEM_DELETED: _same(S.CONVERSATION_ITEM_DELETED),
    S.INPUT_AUDIO_BUFFER_COMMITTED: _same(S.INPUT_AUDIO_BUFFER_COMMITTED),
    S.INPUT_AUDIO_BUFFER_CLEARED: _same(S.INPUT_AUDIO_BUFFER_CLEARED),
    S.OUTPUT_AUDIO_BUFFER_CLEARED: _same(S.OUTPUT_AUDIO_BUFFER_CLEARED),
    S.RESPONSE_FUNCTION_CALL_ARGUMENTS_DELTA: _same(S.RESPONSE_FUNCTION_CALL_ARGUMENTS_DELTA),
    S.RESPONSE_FUNCTION_CALL_ARGUMENTS_DONE: _same(S.RESPONSE_FUNCTION_CALL_ARGUMENTS_DONE),
    S.MCP_LIST_TOOLS_IN_PROGRESS: _same(S.MCP_LIST_TOOLS_IN_PROGRESS),
    S.MCP_LIST_TOOLS_COMPLETED: _same(S.MCP_LIST_TOOLS_COMPLETED),
    S.MCP_LIST_TOOLS_FAILED: _same(S.MCP_LIST_TOOLS_FAILED),
    S.RESPONSE_MCP_CALL_ARGUMENTS_DELTA: _same(S.RESPONSE_MCP_CALL_ARGUMENTS_DELTA),
    S.RESPONSE_MCP_CALL_ARGUMENTS_DONE: _same(S.RESPONSE_MCP_CALL_ARGUMENTS_DONE),
    S.RESPONSE_MCP_CALL_IN_PROGRESS: _same(S.RESPONSE_MCP_CALL_IN_PROGRESS),
    S.RESPONSE_MCP_CALL_COMPLETED: _same(S.RESPONSE_MCP_CALL_COMPLETED),
    S.RESPONSE_MCP_CALL_FAILED: _same(S.RESPONSE_MCP_CALL_FAILED),
    # no GA counterpart: dropped (a warning is logged by its code)
    S.WARNING: (None, ToGA._warning),
    S.SESSION_AVATAR_CONNECTING: IGNORED,
    S.SESSION_AVATAR_SWITCH_TO_SPEAKING: IGNORED,
    S.SESSION_AVATAR_SWITCH_TO_IDLE: IGNORED,
    S.RESPONSE_ANIMATION_BLENDSHAPES_DELTA: IGNORED,
    S.RESPONSE_ANIMATION_BLENDSHAPES_DONE: IGNORED,
    S.RESPONSE_ANIMATION_VISEME_DELTA: IGNORED,
    S.RESPONSE_ANIMATION_VISEME_DONE: IGNORED,
    S.RESPONSE_AUDIO_TIMESTAMP_DELTA: IGNORED,
    S.RESPONSE_AUDIO_TIMESTAMP_DONE: IGNORED,
    S.RESPONSE_AUDIO_TRANSCRIPT_ANNOTATION_ADDED: IGNORED,
    S.RESPONSE_VIDEO_DELTA: IGNORED,
    S.RESPONSE_INVOCATION_DELTA: IGNORED,
    S.RESPONSE_WEB_SEARCH_CALL_SEARCHING: IGNORED,
    S.RESPONSE_WEB_SEARCH_CALL_IN_PROGRESS: IGNORED,
    S.RESPONSE_WEB_SEARCH_CALL_COMPLETED: IGNORED,
    S.RESPONSE_FILE_SEARCH_CALL_SEARCHING: IGNORED,
    S.RESPONSE_FILE_SEARCH_CALL_IN_PROGRESS: IGNORED,
    S.RESPONSE_FILE_SEARCH_CALL_COMPLETED: IGNORED,
}
# by the types' plain strings (an Enum member hashes by its name, not its value)
SERVER_EVENTS = {kind.value: route for kind, route in _SERVER_EVENTS.items()}
