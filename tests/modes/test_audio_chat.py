"""The audio_chat mode against the Chat Completions double, through the real openai SDK: answers
stream as they are generated, and a provider that refuses streamed audio is asked whole, once."""

from __future__ import annotations

import io
import threading
import time
import wave

import pytest

from assistant.errors import TurnError
from assistant.history import Conversation
from assistant.models import ANSWER_SAMPLE_RATE
from assistant.service import build_engine
from tests.doubles.chat_double import Pace
from tests.doubles.speech import tone_wav
from tests.support import isolate_env, make_settings


class Heard:
    """The events of one turn, with when each arrived."""

    def __init__(self):
        self.events = []
        self.threads = set()

    def __call__(self, event):
        self.events.append((time.monotonic(), event))
        self.threads.add(threading.get_ident())

    def of(self, kind):
        return [(at, e) for at, e in self.events if e.kind == kind]


def frames(wav_bytes: bytes) -> tuple[int, bytes]:
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        return reader.getframerate(), reader.readframes(reader.getnframes())


def test_a_streamed_answer_is_heard_while_it_is_still_being_generated(chat_double, engine_for):
    chat_double.pace = Pace(first_chunk_s=0.1, realtime=3.0)
    chat_double.reply_audio("Maria played twelve games this week.", tone_wav(2.0))
    heard = Heard()
    reply = engine_for().ask(Conversation(), text="How many games?", on_event=heard)

    audio = heard.of("audio_chunk")
    generated = [at for at, what in chat_double.chat_requests[0].generated if what == "audio"]
    assert len(audio) > 10
    assert audio[0][0] < generated[-1], "the first chunk was heard before the last was generated"
    kinds = [e.kind for _, e in heard.events]
    first, last = kinds.index("audio_chunk"), len(kinds) - 1 - kinds[::-1].index("audio_chunk")
    assert kinds[0] == "stage_start" and kinds.index("stage_end") > last, "inside the stage"
    assert kinds.index("text_delta") < first, "the words start before the sound"
    rate, pcm = frames(reply.audio_wav)
    assert rate == ANSWER_SAMPLE_RATE
    assert pcm == b"".join(e.data for _, e in audio), "the WAV is what was played"
    assert reply.transcript == "".join(e.data for _, e in heard.of("text_delta"))
    assert reply.transcript == "Maria played twelve games this week."
    assert reply.extra["delivery"] == "streamed" and reply.as_json()["delivery"] == "streamed"
    assert reply.usage.audio_completion_tokens > 0 and reply.usage.model_calls == 1


def test_tool_call_deltas_split_across_chunks_assemble_by_index(chat_double, engine_for):
    chat_double.reply_tool_calls(
        [
            ("get_player_summary", {"user_name": "maria"}),
            ("search_help_center", {"query": "two-step verification"}),
        ]
    )
    chat_double.reply_audio("Done.", tone_wav(0.5))
    reply = engine_for().ask(Conversation(customer="maria"), text="Games, and 2FA?")
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("get_player_summary", {"user_name": "maria"}),
        ("search_help_center", {"query": "two-step verification"}),
    ]
    assert all(c.ok for c in reply.tool_calls)
    second = chat_double.chat_requests[1].json
    assert second["stream"] is True
    assert [c["id"] for c in second["messages"][-3]["tool_calls"]] == ["call_1", "call_2"]


def test_a_refusal_of_streamed_audio_falls_back_once_and_is_remembered(chat_double, engine_for):
    chat_double.refuse_streamed_audio = True
    chat_double.reply_audio("First, whole.", tone_wav(0.5)).reply_audio("Second, whole.")
    engine = engine_for()
    conversation = Conversation()
    heard = Heard()
    first = engine.ask(conversation, text="One?", on_event=heard)
    second = engine.ask(conversation, text="Two?")
    asked = [(r.json.get("stream", False), r.json["audio"]["format"], r.status)
             for r in chat_double.chat_requests]  # fmt: skip
    assert asked == [(True, "pcm16", 400), (False, "wav", 200), (False, "wav", 200)]
    assert first.transcript == "First, whole." and second.transcript == "Second, whole."
    assert first.extra["delivery"] == second.extra["delivery"] == "whole"
    assert heard.of("audio_chunk") == [], "nothing streamed: the page plays the whole answer"
    assert frames(first.audio_wav)[1], "the whole answer's audio"


def test_a_refusal_for_one_server_is_not_held_against_another(chat_double, engine_for):
    from tests.doubles.chat_double import ChatDouble

    chat_double.refuse_streamed_audio = True
    chat_double.reply_audio("Whole.", tone_wav(0.3))
    engine_for().ask(Conversation(), text="One?")
    with ChatDouble() as other:
        other.reply_audio("Streamed.", tone_wav(0.3))
        settings = make_settings(
            engine_for().settings.voicedesk_data_dir.parent,
            openai_base_url=other.base_url, openai_api_key="sk-test", voicedesk_max_retries=0,
        )  # fmt: skip
        reply = build_engine(settings).ask(Conversation(), text="Two?")
        assert reply.extra["delivery"] == "streamed" and other.violations == []


def test_a_server_that_ignores_stream_and_answers_whole_is_still_heard(chat_double, engine_for):
    body = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": {
            "role": "assistant", "content": "Twelve games.", "refusal": None}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }  # fmt: skip
    chat_double.reply_json(body)
    reply = engine_for().ask(Conversation(), text="How many?")
    assert reply.transcript == "Twelve games." and reply.extra["delivery"] == "whole"
    assert reply.usage.prompt_tokens == 3


def test_a_damaged_audio_chunk_ends_the_turn_in_one_sentence(chat_double, engine_for):
    delta = {"role": "assistant", "content": None, "audio": {"id": "a", "data": "AAAA!bad"}}
    chat_double.reply_unchecked(delta)
    conversation = Conversation()
    with pytest.raises(TurnError, match="arrived damaged"):
        engine_for().ask(conversation, text="How many?")
    assert conversation.exchanges == []


def test_the_offline_engine_streams_a_turn_with_tools_through_the_same_mode(tmp_path, monkeypatch):
    from assistant.client import ModelClient
    from assistant.service import build_tools
    from assistant.turn import TurnEngine
    from localspeech.client import make_offline_client
    from tests.localspeech.doubles import scripted_engine

    isolate_env(monkeypatch)
    settings = make_settings(tmp_path)
    api = make_offline_client(settings, engine=scripted_engine())
    client = ModelClient("offline", "voicedesk-offline", None, api, "voicedesk-offline")
    engine = TurnEngine(settings, client, build_tools(settings)[1])
    heard = Heard()
    reply = engine.ask(Conversation(customer="maria"), text="How many games did I play?",
                       on_event=heard)  # fmt: skip
    assert [c.name for c in reply.tool_calls] == ["get_player_summary"]
    assert reply.extra["delivery"] == "streamed"
    rate, pcm = frames(reply.audio_wav)
    assert rate == ANSWER_SAMPLE_RATE and pcm == b"".join(
        e.data for _, e in heard.of("audio_chunk")
    )
    assert reply.transcript == "".join(e.data for _, e in heard.of("text_delta"))


def test_a_stream_that_stops_partway_ends_in_one_sentence_and_keeps_the_conversation(
    chat_double, engine_for
):
    chat_double.cut_after = 8
    chat_double.reply_audio("This answer will not arrive whole.", tone_wav(2.0))
    conversation = Conversation()
    heard = Heard()
    with pytest.raises(TurnError, match="stopped partway"):
        engine_for().ask(conversation, text="How many?", on_event=heard)
    assert heard.of("audio_chunk"), "some of it was already playing"
    assert conversation.exchanges == []


def test_the_question_is_reported_heard_as_soon_as_it_is_transcribed(chat_double, engine_for):
    from tests.test_turn import question_wav

    chat_double.transcribe_as("How many games did I play?")
    chat_double.delay(0.5).reply_audio("Twelve.", tone_wav(0.3))
    heard = Heard()
    engine_for(voicedesk_transcribe_model="gpt-4o-mini-transcribe").ask(
        Conversation(), audio=question_wav(), on_event=heard
    )
    ((at, event),) = heard.of("heard")
    assert event.data == "How many games did I play?"
    assert at < heard.of("audio_chunk")[0][0], "heard before the answer starts"
    assert heard.threads == {threading.get_ident()}, "the sink is called on the asking thread"


def test_talking_over_the_answer_stops_it_and_keeps_what_was_said(chat_double, engine_for):
    """The page's sink carries a threading.Event; once set, the engine stops reading (which closes
    the stream, so the model stops generating) and the answer is what was heard so far."""
    chat_double.pace = Pace(first_chunk_s=0.1, realtime=1.0)  # 6 s of answer, in real time
    chat_double.reply_audio("Maria played twelve games this week.", tone_wav(6.0))

    class BargeIn(Heard):
        def __init__(self):
            super().__init__()
            self.cancel = threading.Event()

        def __call__(self, event):
            super().__call__(event)
            if len(self.of("audio_chunk")) == 3:
                self.cancel.set()

    sink = BargeIn()
    started = time.monotonic()
    reply = engine_for().ask(Conversation(), text="How many games?", on_event=sink)

    assert time.monotonic() - started < 5.0, "it did not wait for the rest of the answer"
    assert len(sink.of("audio_chunk")) == 3
    _, pcm = frames(reply.audio_wav)
    assert pcm == b"".join(e.data for _, e in sink.of("audio_chunk")), "the WAV is what played"
    assert reply.extra["warning"].startswith("Stopped when you spoke")
    generated = [w for _, w in chat_double.chat_requests[0].generated if w == "audio"]
    assert len(generated) < 25, "the double stopped generating once the stream was closed"
