"""The Chat Completions and transcription wire format, as the offline engine speaks it.

Requests are checked for what the engine can honour; anything it cannot (several choices,
an audio format other than WAV, or than PCM16 when streaming, as OpenAI) is refused with an OpenAI-shaped 400 error, so a
client learns at once instead of getting something half right.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

AUDIO_TOKENS_PER_SECOND = 10  # OpenAI bills ~10 audio tokens per second of speech
AUDIO_TTL_S = 3600
ENGINE_MODELS = ("voicedesk-offline", "whisper-tiny.en", "piper")


class OfflineAPIError(Exception):
    """Becomes `{"error": {...}}` with an HTTP status. The message is one plain sentence."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status, self.param, self.code, self.type = status, param, code, type

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": str(self),
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_choice: Any
    wants_audio: bool
    voice: str | None
    stream: bool = False  # answer as server-sent events of chat.completion.chunk objects
    include_usage: bool = False  # stream_options.include_usage: a last chunk with the usage


_UNSUPPORTED_TRUE = ("logprobs",)
STREAM_FORMAT = "pcm16"  # as OpenAI: streamed audio is PCM16 mono at 24 kHz, nothing else


def parse_chat_request(body: Any) -> ChatRequest:
    from localspeech.checks import check_chat  # it raises this module's error

    check_chat(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise OfflineAPIError("You must provide a model parameter.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OfflineAPIError("messages must be a non-empty array.", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system", "developer", "user", "assistant", "tool",
        ):  # fmt: skip
            raise OfflineAPIError(
                f"messages[{i}] must be an object with a valid role.", param=f"messages[{i}]"
            )
    for name in _UNSUPPORTED_TRUE:
        if body.get(name):
            raise _unsupported(name, f"The offline engine does not support {name}=true.")
    if body.get("n") not in (None, 1):
        raise _unsupported("n", "The offline engine returns one choice; n must be 1.")
    fmt = (body.get("response_format") or {}).get("type", "text")
    if fmt != "text":
        raise _unsupported("response_format", f"The offline engine cannot answer in {fmt}.")
    for name in ("prediction", "web_search_options"):
        if body.get(name):
            raise _unsupported(name, f"The offline engine does not support {name}.")
    modalities = body.get("modalities") or ["text"]
    if not isinstance(modalities, list) or not set(modalities) <= {"text", "audio"}:
        raise OfflineAPIError(
            "modalities must be a list of 'text' and 'audio'.", param="modalities"
        )
    wants_audio = "audio" in modalities
    audio = body.get("audio")
    if wants_audio and not isinstance(audio, dict):
        raise OfflineAPIError(
            "The audio parameter is required when modalities includes 'audio'.", param="audio"
        )
    voice = None
    stream = bool(body.get("stream"))
    if wants_audio and stream:
        if audio.get("format") != STREAM_FORMAT:
            raise _unsupported(
                "audio.format",
                f"Unsupported value: 'audio.format' does not support '{audio.get('format')}' "
                "when stream=true. Supported values are: 'pcm16'.",
                code="unsupported_value",
            )
        voice = audio.get("voice")
    elif wants_audio:
        if audio.get("format") != "wav":
            raise _unsupported(
                "audio.format",
                f"The offline engine speaks WAV only, not '{audio.get('format')}'.",
                code="unsupported_value",
            )
        voice = audio.get("voice")
    tools = body.get("tools") or []
    if not isinstance(tools, list) or any(
        not isinstance(t, dict) or t.get("type") != "function" for t in tools
    ):
        raise _unsupported("tools", "The offline engine supports function tools only.")
    tool_choice = body.get("tool_choice", "auto" if tools else "none")
    if tool_choice not in ("auto", "none", "required") and not (
        isinstance(tool_choice, dict) and (tool_choice.get("function") or {}).get("name")
    ):
        raise OfflineAPIError("tool_choice is not valid.", param="tool_choice")
    options = body.get("stream_options")
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    return ChatRequest(model, messages, tools, tool_choice, wants_audio, voice, stream,
                       include_usage)  # fmt: skip


def _unsupported(param: str, message: str, code: str = "unsupported_parameter") -> OfflineAPIError:
    return OfflineAPIError(message, param=param, code=code)


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


def text_tokens(text: str) -> int:
    """About four characters a token, as for English text."""
    return math.ceil(len(text) / 4) if text else 0


def audio_tokens(seconds: float) -> int:
    return math.ceil(seconds * AUDIO_TOKENS_PER_SECOND) if seconds > 0 else 0


def usage(prompt_text: int, prompt_audio: int, out_text: int, out_audio: int) -> dict[str, Any]:
    prompt, completion = prompt_text + prompt_audio, out_text + out_audio
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "audio_tokens": prompt_audio,
            "cached_tokens": 0,
            "text_tokens": prompt_text,
        },
        "completion_tokens_details": {
            "audio_tokens": out_audio,
            "reasoning_tokens": 0,
            "text_tokens": out_text,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion(model: str, message: dict[str, Any], finish: str, use: dict[str, Any]) -> dict:
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": use,
        "service_tier": "default",
        "system_fingerprint": "voicedesk-offline",
    }


def tool_call_message(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {
                "id": new_id("call_"),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)},
            }
            for name, args in calls
        ],
    }


def audio_message(transcript: str, wav_b64: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "audio": {
            "id": new_id("audio_"),
            "data": wav_b64,
            "transcript": transcript,
            "expires_at": int(time.time()) + AUDIO_TTL_S,
        },
    }


def text_message(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text, "refusal": None}


def chunk(head: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> dict:
    """One `chat.completion.chunk` of a streamed answer; `head` is its completion's id, etc."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {**head, "object": "chat.completion.chunk", "choices": [choice]}


def usage_chunk(head: dict[str, Any], use: dict[str, Any]) -> dict:
    return {**head, "object": "chat.completion.chunk", "choices": [], "usage": use}


def stream_head(model: str) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl-"),
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "voicedesk-offline",
    }


def as_chunks(whole: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A whole completion without audio (tool calls, or text) as the chunks of a stream."""
    head = {k: whole[k] for k in ("id", "created", "model", "service_tier", "system_fingerprint")}
    choice = whole["choices"][0]
    message = choice["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
    chunks = [chunk(head, delta), chunk(head, {}, choice["finish_reason"])]
    return chunks + ([usage_chunk(head, whole["usage"])] if include_usage else [])


def audio_id() -> str:
    return new_id("audio_")


def expires_at() -> int:
    return int(time.time()) + AUDIO_TTL_S
