"""Streamed answers from the offline engine: server-sent events in the Chat Completions chunk
shape, each sentence sent as soon as it is voiced, in process and over loopback HTTP.

Ordering is proved without timing the CPU: the voice cannot say the last sentence until the
client has received the first one's audio (it waits for that, up to a generous limit, and
records whether it had to give up)."""

from __future__ import annotations

import base64
import threading
import time

import openai
import pytest

from localspeech.engine import OfflineEngine
from localspeech.server import make_server
from localspeech.tts import TextToSpeech
from tests.localspeech.cases import tool_schemas
from tests.localspeech.doubles import ScriptedHearing, tone_wav
from tests.localspeech.helpers import checked_client, messages

SUMMARIES = ["Maria Lopez played 12 chess games.", "Two are still open.", "Nothing else is due."]
STREAMED = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}
WAIT_S = 30.0  # far longer than any machine needs: a timeout means the order was wrong


class WaitingSpeaker:
    """Says each sentence as a tone; the last only once `heard` is set (the client has the
    first audio), noting when each sentence was voiced."""

    engine = "tone"

    def __init__(self, sentences: int):
        self.sentences = sentences
        self.heard = threading.Event()
        self.gave_up = False
        self.voiced: list[float] = []

    def wav(self, text: str) -> bytes:
        if len(self.voiced) == self.sentences - 1 and not self.heard.wait(WAIT_S):
            self.gave_up = True
        self.voiced.append(time.monotonic())
        return tone_wav(0.5, rate=22_050)


def engine_with(speaker) -> OfflineEngine:
    return OfflineEngine(stt=ScriptedHearing(), tts=TextToSpeech(loader=lambda: speaker))


def answer_messages() -> list[dict]:
    """A question and its tool results: the engine answers with the results' summaries."""
    msgs = messages("How many games did I play?", customer="maria")
    calls = [{"id": f"call_{n}", "type": "function",
              "function": {"name": "get_player_summary", "arguments": '{"user_name": "maria"}'}}
             for n in range(len(SUMMARIES))]  # fmt: skip
    msgs.append({"role": "assistant", "content": None, "tool_calls": calls})
    for call, summary in zip(calls, SUMMARIES, strict=True):
        content = f'{{"ok": true, "summary": "{summary}", "data": {{}}}}'
        msgs.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    return msgs


def listen(client: openai.OpenAI, speaker: WaitingSpeaker) -> dict:
    """Read one streamed answer as a player would, releasing the voice at the first audio."""
    first_audio, pcm, transcript, usage = None, b"", "", None
    stream = client.chat.completions.create(
        model="voicedesk-offline", messages=answer_messages(), stream=True,
        stream_options={"include_usage": True}, **STREAMED,
    )  # fmt: skip
    for chunk in stream:
        usage = chunk.usage or usage
        audio = chunk.choices[0].delta.audio if chunk.choices else None
        if audio is None:
            continue
        audio = audio if isinstance(audio, dict) else audio.model_dump()
        transcript += audio.get("transcript") or ""
        if audio.get("data"):
            if first_audio is None:
                first_audio = time.monotonic()
                speaker.heard.set()
            pcm += base64.b64decode(audio["data"])
    return {"first_audio": first_audio, "pcm": pcm, "transcript": transcript, "usage": usage}


def check_streamed(heard: dict, speaker: WaitingSpeaker) -> None:
    assert not speaker.gave_up, "the last sentence was voiced before the first was received"
    assert heard["first_audio"] < speaker.voiced[-1]
    assert heard["transcript"] == " ".join(SUMMARIES)
    seconds = len(heard["pcm"]) / 2 / 24_000  # PCM16 at 24 kHz: three 0.5 s tones, resampled
    assert seconds == pytest.approx(1.5, abs=0.01)
    assert heard["usage"].completion_tokens_details.audio_tokens > 0


def test_in_process_the_first_sentence_is_sent_before_the_last_is_voiced():
    speaker = WaitingSpeaker(len(SUMMARIES))
    client, _ = checked_client(engine_with(speaker))  # every chunk checked against the contract
    check_streamed(listen(client, speaker), speaker)


def test_over_loopback_the_first_sentence_is_sent_before_the_last_is_voiced():
    speaker = WaitingSpeaker(len(SUMMARIES))
    server = make_server(engine_with(speaker), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        client = openai.OpenAI(api_key="unused", base_url=f"http://{host}:{port}/v1", max_retries=0)
        check_streamed(listen(client, speaker), speaker)
    finally:
        server.shutdown()
        server.server_close()


def test_streamed_tool_calls_and_text_keep_the_chunk_shape():
    client, _ = checked_client(engine_with(WaitingSpeaker(99)))
    chunks = list(client.chat.completions.create(
        model="voicedesk-offline", stream=True, tools=tool_schemas(),
        messages=messages("How many games did I play?", customer="maria"), **STREAMED,
    ))  # fmt: skip
    (call,) = chunks[0].choices[0].delta.tool_calls
    assert (call.index, call.function.name) == (0, "get_player_summary")
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    text = list(client.chat.completions.create(
        model="voicedesk-offline", stream=True, messages=messages("Hello!", customer="maria"),
    ))  # fmt: skip
    assert text[0].choices[0].delta.content.startswith("Hello")


def test_a_whole_answer_is_still_a_wav():
    client, _ = checked_client(engine_with(WaitingSpeaker(99)))
    reply = client.chat.completions.create(
        model="voicedesk-offline", messages=answer_messages(),
        modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
    )  # fmt: skip
    assert base64.b64decode(reply.choices[0].message.audio.data)[:4] == b"RIFF"
