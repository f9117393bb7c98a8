"""The session against a scripted in-memory upstream: event orders the double does not produce."""

from __future__ import annotations

import asyncio
import base64

from assistant.history import Conversation
from assistant.live import faults
from assistant.live.base import UpstreamClosed
from assistant.live.session import LiveOptions, RealtimeSession
from tests.live.realtime_double import tone
from tests.live.support import Listener


class ScriptedUpstream:
    def __init__(self, events):
        self.events: asyncio.Queue = asyncio.Queue()
        for event in events:
            self.events.put_nowait(event)
        self.sent = []

    async def send(self, event):
        self.sent.append(event)

    async def recv(self):
        event = await self.events.get()
        if event is None:
            raise UpstreamClosed("gone", retryable=False)
        return event

    async def close(self):
        pass


def _audio(response_id, item_id, ms):
    return {"type": "response.output_audio.delta", "response_id": response_id,
            "item_id": item_id, "delta": base64.b64encode(tone(ms)).decode()}  # fmt: skip


def _words(response_id, item_id, text):
    return {"type": "response.output_audio_transcript.delta", "response_id": response_id,
            "item_id": item_id, "delta": text}  # fmt: skip


def _done(response_id, status):
    return {"type": "response.done", "response": {"id": response_id, "status": status}}


def test_late_events_of_a_cancelled_response_do_not_leak_into_the_next_answer(
    live_engine, realtime_double
):
    engine = live_engine()
    upstream = ScriptedUpstream([
        {"type": "input_audio_buffer.speech_started", "item_id": "in1"},
        {"type": "response.created", "response": {"id": "r1"}},
        _audio("r1", "a1", 100), _words("r1", "a1", "First"),
        {"type": "input_audio_buffer.speech_started", "item_id": "in2"},  # barge-in
        {"type": "response.created", "response": {"id": "r2"}},
        _audio("r1", "a1", 100), _words("r1", "a1", " late words"),  # after the cancel
        _audio("r2", "a2", 200), _words("r2", "a2", "Second answer."),
        _done("r1", "cancelled"), _done("r2", "completed"),
    ])  # fmt: skip

    async def connect():
        return upstream

    options = LiveOptions(provider="openai", model="gpt-realtime", price_model="gpt-realtime",
                          voice="alloy", transcribe_model=None, idle_s=60, max_s=600,
                          words=faults.words_for("openai", "gpt-realtime"))  # fmt: skip

    async def scenario():
        session = RealtimeSession(engine, Conversation(), connect, options)
        await session.start()
        heard = Listener(session)
        done = await heard.count("answer_done", 2)
        await session.close()
        return [e.reply for e in done]

    stopped, answered = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert stopped.transcript == "First …"
    assert answered.transcript == "Second answer."
    assert len(answered.audio_wav) - 44 == 200 * 48
    assert upstream.sent[1] == {"type": "response.cancel", "response_id": "r1"}
    assert upstream.sent[2]["type"] == "conversation.item.truncate" and len(upstream.sent) == 3
