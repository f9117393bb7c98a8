"""Reading a streamed Chat Completions answer (assistant/chatcmpl.py), chunk by chunk."""

from __future__ import annotations

import base64

import pytest

from assistant.chatcmpl import DamagedAudio, NoChoices, StreamReader, sse_data
from assistant.model_reply import MAX_TEXT_CHARS


def chunk(**delta):
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


def reader():
    text, audio = [], []
    return StreamReader(on_text=text.append, on_audio=audio.append), text, audio


def test_padded_base64_chunks_decode_each_on_its_own():
    read, _, audio = reader()
    pieces = [bytes(range(10)), bytes(range(20, 24)), bytes(range(40, 48))]  # 10, 4, 8 bytes
    encoded = [base64.b64encode(p).decode() for p in pieces]
    assert all(e.endswith("=") for e in encoded)
    for data in encoded:
        read.feed(chunk(audio={"data": data}))
    assert b"".join(audio) == b"".join(pieces)
    assert read.message().audio.pcm == b"".join(pieces)


def test_a_sample_split_across_chunks_waits_for_its_other_byte():
    read, _, audio = reader()
    read.feed(chunk(audio={"data": base64.b64encode(b"\x01\x02\x03").decode()}))
    read.feed(chunk(audio={"data": base64.b64encode(b"\x04").decode()}))
    assert audio == [b"\x01\x02", b"\x03\x04"], "every piece a whole number of samples"


def test_tool_call_deltas_assemble_by_index_whatever_their_order():
    read, _, _ = reader()
    read.feed(
        chunk(tool_calls=[{"index": 1, "id": "b", "function": {"name": "two", "arguments": ""}}])
    )
    read.feed(
        chunk(tool_calls=[{"index": 0, "id": "a", "function": {"name": "one", "arguments": '{"x'}}])
    )
    read.feed(chunk(tool_calls=[{"index": 1, "function": {"arguments": '{"y": 2}'}}]))
    read.feed(chunk(tool_calls=[{"index": 0, "function": {"arguments": '": 1}'}}]))
    calls = read.message().tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("a", "one", '{"x": 1}'), ("b", "two", '{"y": 2}'),
    ]  # fmt: skip


def test_text_is_handed_on_as_it_arrives_and_bounded():
    read, text, _ = reader()
    read.feed(chunk(audio={"transcript": "Hello "}))
    read.feed(chunk(audio={"transcript": "x" * (2 * MAX_TEXT_CHARS)}))
    assert text[0] == "Hello " and sum(map(len, text)) == MAX_TEXT_CHARS + 1
    read.feed(chunk(audio={"data": base64.b64encode(b"\0\0").decode()}))
    message = read.message()
    assert message.cut and len(message.audio.transcript) <= MAX_TEXT_CHARS + 2


def test_bad_base64_is_damaged_audio():
    read, _, _ = reader()
    with pytest.raises(DamagedAudio):
        read.feed(chunk(audio={"data": "AAA!"}))


def test_a_stream_without_a_readable_choice_has_no_choices():
    read, _, _ = reader()
    read.feed({"choices": [None]})
    read.feed({"choices": [], "usage": {"prompt_tokens": 1}})
    with pytest.raises(NoChoices):
        read.message()
    assert read.usage == {"prompt_tokens": 1}


def test_server_sent_events_end_at_done():
    lines = ["data: {\"a\": 1}", "", ": a comment", "data: {\"b\":", "data: 2}", "", "data: [DONE]",
             "", "data: {\"never\": 1}", ""]  # fmt: skip
    assert list(sse_data(lines)) == [{"a": 1}, {"b": 2}]
