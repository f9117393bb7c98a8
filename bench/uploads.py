"""How much audio a conversation uploads: ours, and the naive design that re-sends everything.

A scripted 10-turn spoken conversation with tool calls runs through the product's TurnEngine
against the instant responder; every request the openai client sends (chat and transcription)
is kept and its audio counted: the decoded `input_audio` parts of chat requests and the file
part of transcription uploads. The ratio divides that by the bytes of the normalised
recordings, each counted once.

The naive design keeps each recording in the history and re-sends the whole history, audio
included, with every model call, and needs no transcription. Its requests are built here, for
the same turns and the same number of model calls per turn as the real run made, and counted
by the same function.
"""

from __future__ import annotations

import base64
import json
import tempfile
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

from assistant.audio import normalise
from assistant.history import CUSTOMER_LINE, Conversation
from assistant.turn import load_prompt
from bench.measure import rounded
from bench.metered import MeteredTransport, RoundTrip, engine_against
from bench.responder import ResponderProcess
from tests.audio_factory import pcm16, speech_like, wav

CUSTOMER = "maria"


def conversation_recordings(turns: int = 10) -> list[bytes]:
    """Questions of 2 to 6.5 seconds, as the browser records them."""
    return [
        wav(pcm16(speech_like(2.0 + 0.5 * (i % 10), 16000, seed=100 + i))) for i in range(turns)
    ]


def audio_bytes(trip: RoundTrip) -> int:
    """Bytes of audio one request carried (decoded from base64 or read from its upload)."""
    return audio_bytes_of(trip.body or b"", trip.content_type)


def audio_bytes_of(body: bytes, content_type: str) -> int:
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        return sum(
            len(part.get_payload(decode=True) or b"")
            for part in message.iter_parts()
            if part.get_filename()
        )
    if content_type.startswith("application/json"):
        request = json.loads(body)
        return sum(
            len(base64.b64decode(part["input_audio"]["data"]))
            for message in request.get("messages", [])
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "input_audio"
        )
    return 0


def run(turns: int = 10) -> dict[str, Any]:
    recordings = conversation_recordings(turns)
    normalised = [normalise(r).wav for r in recordings]
    with ResponderProcess() as responder, tempfile.TemporaryDirectory() as tmp:
        transport = MeteredTransport(keep_bodies=True)
        engine = engine_against(responder.base_url, Path(tmp), transport)
        conversation = Conversation(customer=CUSTOMER)
        per_turn: list[list[RoundTrip]] = []
        replies = []
        for recording in recordings:
            transport.take()
            replies.append(engine.ask(conversation, audio=recording))
            per_turn.append(transport.take())
    if not all(reply.tool_calls for reply in replies):
        raise RuntimeError("a turn of the scripted conversation made no tool call")
    heard = sum(len(n) for n in normalised)
    sent = sum(audio_bytes(trip) for trips in per_turn for trip in trips)
    chat_calls = [sum(1 for trip in trips if trip.is_chat) for trips in per_turn]
    naive = naive_audio_bytes(normalised, replies, chat_calls)
    return {
        "audio_upload_ratio_10_turns": rounded(sent / heard),
        "naive_upload_ratio_10_turns": rounded(naive / heard),
        "details": {
            "turns": turns,
            "recordings_bytes": heard,
            "audio_bytes_sent": sent,
            "naive_audio_bytes_sent": naive,
            "chat_calls_per_turn": chat_calls,
            "transcription_uploads": sum(
                1 for trips in per_turn for trip in trips if not trip.is_chat
            ),
        },
    }


def naive_audio_bytes(recordings: list[bytes], replies: list[Any], chat_calls: list[int]) -> int:
    """Audio bytes the naive design sends: every call re-sends every recording so far."""
    system = load_prompt("system")
    total = 0
    history: list[dict[str, Any]] = []
    for recording, reply, calls in zip(recordings, replies, chat_calls, strict=True):
        question = _audio_message(recording)
        messages = [
            {"role": "system", "content": system},
            {"role": "system", "content": CUSTOMER_LINE.format(user_name=CUSTOMER)},
            *history,
            question,
        ]
        for call in range(calls):
            body = json.dumps({"model": "gpt-4o-audio-preview", "messages": messages}).encode()
            total += audio_bytes_of(body, "application/json")
            if call < calls - 1:  # the tool round that came between this call and the next
                messages = [*messages, *_tool_round(reply, call)]
        history += [question, {"role": "assistant", "content": reply.transcript}]
    return total


def _audio_message(recording: bytes) -> dict[str, Any]:
    data = base64.b64encode(recording).decode("ascii")
    return {
        "role": "user",
        "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}],
    }


def _tool_round(reply: Any, round_no: int) -> list[dict[str, Any]]:
    calls = [c for c in reply.tool_calls if c.round == round_no]
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in calls
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": c.id, "content": json.dumps(c.result)} for c in calls
    ]
    return [assistant, *results]
