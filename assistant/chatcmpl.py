"""The Chat Completions wire format, in one place: messages, `tools[]`, the request, usage, and
reading answers, whole or streamed.

A streamed answer arrives as server-sent events of `chat.completion.chunk` objects. They are
read here as plain JSON (not through the SDK's stream helper, which joins base64 strings and so
breaks on padded chunks): tool-call deltas are assembled by index, each `delta.audio.data` is
decoded on its own, and what a person should hear or read is handed on at once. Like a whole
answer (assistant/model_reply.py), nothing the server sends is trusted: every value is checked
for its type and every accumulation is bounded.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai

from assistant.model_reply import (
    MAX_AUDIO_CHARS,
    MAX_CALLS,
    MAX_TEXT_CHARS,
    Audio,
    ModelMessage,
    audio_labels,
    field_of,
    read_message,
    read_streamed,
)
from assistant.models import Usage
from tools.registry import MAX_ARGUMENT_CHARS, MAX_NAME_CHARS

log = logging.getLogger(__name__)

STREAM_FORMAT = "pcm16"  # the only audio format OpenAI streams
WHOLE_FORMAT = "wav"
MAX_PCM_BYTES = MAX_AUDIO_CHARS // 4 * 3  # the same bound as a whole answer's base64 WAV
MAX_STREAMED_CALLS = 4 * MAX_CALLS  # entries assembled; read_message keeps MAX_CALLS of them


class DamagedAudio(ValueError):
    """A streamed audio chunk was not valid base64."""


class NoChoices(ValueError):
    """The answer held no readable choice."""


# -- building requests --------------------------------------------------------------------------


def tool_entry(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A provider-neutral tool (name, description, JSON schema) as a `tools[]` entry."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def tool_entries(tools: Iterable[Any]) -> list[dict[str, Any]]:
    return [tool_entry(t.name, t.description, t.parameters()) for t in tools]


def system_message(text: str) -> dict[str, Any]:
    return {"role": "system", "content": text}


def user_message(wav: bytes | None, text: str | None) -> dict[str, Any]:
    """The question: a recording as `input_audio` (WAV), else the typed text."""
    if wav is None:
        return {"role": "user", "content": text.strip() if text else ""}
    data = base64.b64encode(wav).decode("ascii")
    return {
        "role": "user",
        "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}],
    }


def tool_message(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def request(
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    tool_choice: str,
    voice: str,
    *,
    stream: bool,
) -> dict[str, Any]:
    """The keyword arguments of `chat.completions.create` for one spoken answer."""
    body: dict[str, Any] = {
        "model": model,
        "modalities": ["text", "audio"],
        "audio": {"voice": voice, "format": STREAM_FORMAT if stream else WHOLE_FORMAT},
        "tools": tools,
        "tool_choice": tool_choice,
        "messages": messages,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def text_request(
    model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: str
) -> dict[str, Any]:
    """The keyword arguments of a streamed answer in text only (the cascade's text model)."""
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": True,
                            "stream_options": {"include_usage": True}}  # fmt: skip
    if tools:  # some servers refuse an empty `tools` list
        body["tools"], body["tool_choice"] = tools, tool_choice
    return body


def refuses_streaming(exc: openai.OpenAIError) -> bool:
    """A refusal of the streamed request itself (OpenAI: "'audio.format' does not support 'wav'
    when stream=true"; a server or model without streamed audio: "stream ... not supported"),
    rather than of the question: worth asking again, whole."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
        return False
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    param = error.get("param") if isinstance(error.get("param"), str) else ""
    message = str(error.get("message") or exc.message or "").lower()
    return param.startswith(("stream", "audio.format")) or "stream" in message or (
        "pcm16" in message
    )  # fmt: skip


# -- usage ---------------------------------------------------------------------------------------


def add_usage(total: Usage, usage: Any) -> None:
    """Add one call's `usage` (an SDK object or a plain dict, possibly odd) to the turn's."""
    total.model_calls += 1
    if usage is None:
        return
    total.prompt_tokens += _count(usage, "prompt_tokens")
    total.completion_tokens += _count(usage, "completion_tokens")
    total.audio_prompt_tokens += _count(field_of(usage, "prompt_tokens_details"), "audio_tokens")
    total.audio_completion_tokens += _count(
        field_of(usage, "completion_tokens_details"), "audio_tokens"
    )


def _count(holder: Any, name: str) -> int:
    """A token count from the reply's usage, or 0 when it is missing or not a count."""
    value = field_of(holder, name)
    return value if type(value) is int and value >= 0 else 0


# -- reading a whole answer ----------------------------------------------------------------------


def whole_message(response: Any) -> tuple[ModelMessage, Any]:
    """The first choice's message, made plain (model_reply), and the usage; NoChoices if none."""
    choices = field_of(response, "choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = field_of(first, "message")
    if message is None:
        raise NoChoices(f"no choices in a {type(response).__name__}")
    return read_message(message), field_of(response, "usage")


# -- reading a streamed answer -------------------------------------------------------------------


def sse_data(lines: Iterable[str]) -> Iterator[Any]:
    """The JSON of each `data:` event of a server-sent event stream, until `[DONE]`.

    json.loads raises ValueError (or RecursionError, for nesting deeper than Python allows) on
    a damaged event: the caller reports the answer as unreadable."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:  # an empty line ends an event
            text, data = "\n".join(data), []
            if text.strip() == "[DONE]":
                return
            yield json.loads(text)
    if data and "\n".join(data).strip() != "[DONE]":
        yield json.loads("\n".join(data))


@dataclass
class _Call:
    """One tool call being assembled from its deltas; odd values kept as sent."""

    id: Any = None
    name: Any = None
    arguments: Any = None
    function: Any = None  # an odd (not an object) `function`, kept to be reported
    seen_function: bool = False

    def add(self, entry: dict[str, Any]) -> None:
        if self.id is None:
            self.id = entry.get("id")
        function = entry.get("function")
        if function is None:
            return
        self.seen_function = True
        if not isinstance(function, dict):
            self.function = self.function or function
            return
        self.name = _join(self.name, function.get("name"), MAX_NAME_CHARS + 1)
        self.arguments = _join(self.arguments, function.get("arguments"), MAX_ARGUMENT_CHARS + 1)

    def as_sent(self) -> dict[str, Any]:
        if self.function is not None:
            function: Any = self.function
        elif not self.seen_function:
            function = None
        else:
            function = {"name": self.name, "arguments": self.arguments}
        return {"id": self.id, "type": "function", "function": function}


def _join(before: Any, piece: Any, limit: int) -> Any:
    """Text pieces joined up to `limit` characters; a piece that is not text is kept as sent
    when nothing came before it (model_reply reports or converts it), else ignored."""
    if piece is None:
        return before
    if isinstance(piece, str):
        if before is None or not isinstance(before, str):
            return piece[:limit] if before is None else before
        return before + piece[: max(0, limit - len(before))]
    return piece if before is None else before


@dataclass
class StreamReader:
    """Assembles one streamed answer, calling `on_text` and `on_audio` as pieces arrive.

    `on_audio` receives PCM16 bytes, always a whole number of samples."""

    on_text: Callable[[str], None]
    on_audio: Callable[[bytes], None]
    usage: Any = None
    chunks: int = 0
    finished: bool = False  # a choice said why it ended (finish_reason): the answer is whole
    _content: Any = None
    _content_chars: int = 0
    _transcript: list[str] = field(default_factory=list)
    _transcript_chars: int = 0
    _audio_seen: bool = False
    _audio_id: Any = None
    _expires_at: Any = None
    _pcm: bytearray = field(default_factory=bytearray)
    _carry: bytes = b""
    _calls: dict[int, _Call] = field(default_factory=dict)
    _odd_calls: list[Any] = field(default_factory=list)  # entries that are not objects
    _calls_value: Any = None  # a `tool_calls` that is not a list, kept to be reported
    _calls_over: int = 0  # call entries beyond MAX_STREAMED_CALLS, not kept
    _choices: int = 0
    _dropped: list[str] = field(default_factory=list)
    _cut: list[str] = field(default_factory=list)

    def feed(self, chunk: Any) -> None:
        self.chunks += 1
        if not isinstance(chunk, dict):
            self._drop(f"a chunk that was {_kind(chunk)}")
            return
        if chunk.get("usage") is not None:
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            if choices is not None:
                self._drop(f"choices that were {_kind(choices)}")
            return
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                self._drop(f"a choice whose delta was {_kind(delta)}")
                continue
            if choice.get("index", 0) != 0:
                continue  # n is 1: another choice is not ours to say
            self._choices += 1
            self._read_delta(delta)
            self.finished = self.finished or choice.get("finish_reason") is not None

    def message(self) -> ModelMessage:
        """The assembled message, plain and bounded; NoChoices if nothing readable came."""
        if not self._choices:
            raise NoChoices(f"no choices in {self.chunks} chunks")
        audio = None
        if self._audio_seen and self._pcm:
            audio_id, expires_at = audio_labels(self._audio_id, self._expires_at)
            transcript = "".join(self._transcript)
            audio = Audio(audio_id, "", transcript, expires_at, bytes(self._pcm))
        elif self._audio_seen and self._transcript:
            self._drop("audio with a transcript but no data")
        if self._calls_over:
            self._drop(f"{self._calls_over:,} tool calls over the limit of {MAX_STREAMED_CALLS}")
        calls: Any = self._calls_value
        if calls is None and (self._calls or self._odd_calls):
            calls = [self._calls[i].as_sent() for i in sorted(self._calls)] + self._odd_calls
        return read_streamed(self._content, calls, audio, self._dropped, self._cut)

    # -- one delta -------------------------------------------------------------------------

    def _read_delta(self, delta: dict[str, Any]) -> None:
        content = delta.get("content")
        if isinstance(content, str):
            self._content_chars += len(content)
            piece = self._bounded(content, self._content if isinstance(self._content, str) else "")
            self._content = (self._content if isinstance(self._content, str) else "") + piece
            if piece:
                self.on_text(piece)
        elif content is not None and self._content is None:
            self._content = content  # reported by model_reply
        audio = delta.get("audio")
        if audio is not None:
            self._read_audio(audio)
        calls = delta.get("tool_calls")
        if calls is not None:
            self._read_calls(calls)

    def _bounded(self, piece: str, before: str) -> str:
        """The part of `piece` that fits after `before` (one character over MAX_TEXT_CHARS, so
        model_reply sees, and says, that the text was cut)."""
        return piece[: max(0, MAX_TEXT_CHARS + 1 - len(before))]

    def _read_audio(self, audio: Any) -> None:
        if not isinstance(audio, dict):
            self._drop(f"audio that was {_kind(audio)}")
            return
        self._audio_seen = True
        if self._audio_id is None and audio.get("id") is not None:
            self._audio_id = audio.get("id")
        if audio.get("expires_at") is not None:
            self._expires_at = audio.get("expires_at")
        transcript = audio.get("transcript")
        if isinstance(transcript, str):
            before = "".join(self._transcript)
            piece = self._bounded(transcript, before)
            if piece:
                self._transcript.append(piece)
                self.on_text(piece)
        elif transcript is not None:
            self._drop(f"an audio transcript that was {_kind(transcript)}")
        data = audio.get("data")
        if isinstance(data, str) and data:
            self._read_pcm(data)
        elif data is not None and not isinstance(data, str):
            self._drop(f"audio data that was {_kind(data)}")

    def _read_pcm(self, data: str) -> None:
        if len(self._pcm) + len(data) // 4 * 3 > MAX_PCM_BYTES:
            raise DamagedAudio("the streamed audio is longer than any spoken answer")
        try:  # each chunk on its own: a chunk may end in padding
            pcm = self._carry + base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise DamagedAudio("a streamed audio chunk is not valid base64") from None
        whole = len(pcm) - len(pcm) % 2  # a sample split across chunks waits for its other byte
        self._carry = pcm[whole:]
        if whole:
            self._pcm += pcm[:whole]
            self.on_audio(pcm[:whole])

    def _read_calls(self, calls: Any) -> None:
        if not isinstance(calls, list | tuple):
            self._calls_value = self._calls_value or calls
            return
        for position, entry in enumerate(calls):
            if not isinstance(entry, dict):
                if len(self._odd_calls) < MAX_STREAMED_CALLS:
                    self._odd_calls.append(entry)
                continue
            index = entry.get("index")
            if type(index) is not int or index < 0:  # some servers send whole calls, unindexed
                index = len(self._calls) if entry.get("id") is not None else position
            if index not in self._calls:
                if len(self._calls) >= MAX_STREAMED_CALLS:
                    self._calls_over += 1
                    continue
                self._calls[index] = _Call()
            self._calls[index].add(entry)

    def _drop(self, what: str) -> None:
        if what not in self._dropped and len(self._dropped) < 8:
            self._dropped.append(what)


def _kind(value: Any) -> str:
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"
