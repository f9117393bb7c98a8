"""The cascade mode: hearing, thinking with a text model that calls tools (streamed) and speaking
sentence by sentence, through the real `openai` SDK against the Chat Completions double (the text
model) and the audio double (speech-to-text and text-to-speech), both checking every request
against OpenAI's published schemas. Streaming is proven by order, never by time."""

from __future__ import annotations

import threading

import pytest

from assistant.history import Conversation
from assistant.models import ANSWER_SAMPLE_RATE
from tests.doubles.chat_double import ChatDouble
from tests.doubles.speech import tone_wav
from tests.modes import cascade_support
from tests.modes.cascade_support import Sink, cascade_engine, wait_for_names
from tests.modes.test_audio_chat import frames
from tests.support import isolate_env

audio_double = cascade_support.audio_double  # the fixture
ANSWER = "Maria played twelve games this week. She won most of them at chess. Well done to her!"


@pytest.fixture
def text_double():
    with ChatDouble(policy="auto") as double:
        yield double
    assert double.violations == [], "\n".join(double.violations)


@pytest.fixture
def cascade(text_double, audio_double, tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    return lambda **overrides: cascade_engine(tmp_path, text_double, audio_double, **overrides)


def test_a_spoken_question_is_heard_answered_with_a_tool_and_spoken(cascade, text_double,
                                                                    audio_double):  # fmt: skip
    engine = cascade()
    wait_for_names(engine)
    sink = Sink()
    conversation = Conversation(customer="maria")
    reply = engine.ask(conversation, audio=tone_wav(1.5), on_event=sink)

    (heard,) = audio_double.of("transcription")
    assert heard.form["model"] == "gpt-4o-mini-transcribe"
    assert heard.form["prompt"].startswith("Players: ") and "maria" in heard.form["prompt"]
    assert [c.name for c in reply.tool_calls][:1] == ["get_player_summary"] and reply.tool_calls[0].ok
    first = text_double.chat_requests[0].json
    assert first["stream"] is True and "modalities" not in first and "audio" not in first
    assert first["messages"][-1] == {"role": "user", "content": audio_double.transcript}
    assert reply.input_transcript == audio_double.transcript == sink.of("heard")[0].data
    assert conversation.exchanges[-1].user_text == audio_double.transcript
    summary = " ".join(call.summary for call in reply.tool_calls)  # what the double answers
    assert reply.transcript == summary, "the answer is grounded on the tools' results"
    spoken = [r.json["input"] for r in audio_double.of("speech")]
    assert " ".join(spoken) == summary.strip() and all(r.json["response_format"] == "pcm"
                                                       for r in audio_double.of("speech"))
    rate, pcm = frames(reply.audio_wav)
    assert rate == ANSWER_SAMPLE_RATE and pcm == b"".join(e.data for e in sink.of("audio_chunk"))
    assert reply.provider == "openai" and reply.model == "gpt-4o-mini"


def test_a_typed_question_skips_hearing(cascade, text_double, audio_double):
    text_double.reply_without_audio(ANSWER)
    reply = cascade().ask(Conversation(), text="How did Maria do?")
    assert audio_double.of("transcription") == [] and reply.input_transcript == "How did Maria do?"
    assert [s.name for s in reply.stages] == ["think", "speak"]
    assert [r.json["input"] for r in audio_double.of("speech")] == [
        "Maria played twelve games this week.", "She won most of them at chess.",
        "Well done to her!"]  # fmt: skip


def test_tool_calls_streamed_in_pieces_are_assembled_by_index(cascade, text_double):
    text_double.reply_tool_calls([("get_player_summary", {"user_name": "maria"}),
                                  ("search_help_center", {"query": "two-step verification"})])
    text_double.reply_without_audio("Done.")  # fmt: skip
    reply = cascade().ask(Conversation(customer="maria"), text="Games, and 2FA?")
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("get_player_summary", {"user_name": "maria"}),
        ("search_help_center", {"query": "two-step verification"}),
    ]
    second = text_double.chat_requests[1].json
    assert [c["id"] for c in second["messages"][-3]["tool_calls"]] == ["call_1", "call_2"]
    assert [m["tool_call_id"] for m in second["messages"][-2:]] == ["call_1", "call_2"]
    assert reply.usage.model_calls == 2


def test_the_first_sentence_is_heard_while_the_model_is_still_writing(cascade, text_double):
    """The text model's stream is held after the second sentence's first word until the page
    has been handed the first sentence's sound: only a cascade that speaks as it reads ends."""
    played = threading.Event()
    text_double.reply_without_audio(ANSWER)
    text_double.hold = (8, played)  # chunk 0 is the role, 1-6 the first sentence's words
    sink = Sink(on_first_audio=played.set)
    reply = cascade().ask(Conversation(), text="How did Maria do?", on_event=sink)

    assert ("released" in [what for _, what in text_double.chat_requests[0].generated]), (
        "the model's stream was released by the first sound")
    kinds = sink.kinds()
    last_text = len(kinds) - 1 - kinds[::-1].index("text_delta")
    assert kinds.index("audio_chunk") < last_text, "sound before the last words were written"
    assert reply.transcript == ANSWER


def test_talking_over_the_answer_stops_it_at_once(cascade, text_double, audio_double):
    text_double.reply_without_audio(ANSWER)
    sink = Sink()
    go_on = threading.Event()
    text_double.hold = (8, go_on)

    def talk() -> None:  # the person speaks when the first sound plays
        sink.cancel.set()
        go_on.set()

    sink.on_first_audio = talk
    conversation = Conversation()
    reply = cascade().ask(conversation, text="How did Maria do?", on_event=sink)

    assert reply.extra["warning"].startswith("Stopped when you spoke")
    assert reply.transcript.endswith("…") and "Well done" not in reply.transcript
    assert len(audio_double.of("speech")) == 1, "no later sentence was spoken"
    assert frames(reply.audio_wav)[1] == b"".join(e.data for e in sink.of("audio_chunk"))
    assert len(conversation.exchanges) == 1, "what was said is kept"


def test_the_trace_names_each_part_its_time_and_cost_beside_the_audio_models(cascade,
                                                                             text_double):  # fmt: skip
    reply = cascade().ask(Conversation(customer="maria"), audio=tone_wav(2.0))
    labels = {s.name: s.label for s in reply.stages}
    assert labels["hear"] == "Hearing the question (gpt-4o-mini-transcribe)"
    assert labels["think"].endswith("(gpt-4o-mini)") and labels["speak"].endswith("(gpt-4o-mini-tts)")
    parts = {p["part"]: p for p in reply.extra["parts"]}
    assert [parts[n]["model"] for n in ("hear", "think", "speak")] == [
        "gpt-4o-mini-transcribe", "gpt-4o-mini", "gpt-4o-mini-tts"]  # fmt: skip
    assert all(parts[n]["cost_usd"] > 0 for n in parts)
    total = sum(p["cost_usd"] for p in parts.values())
    assert reply.usage.cost_usd == pytest.approx(total, abs=1e-5)
    assert 0 < reply.usage.cost_usd < reply.extra["audio_model_cost_usd"]
    assert reply.extra["audio_model"] == "gpt-4o-audio-preview"


def test_a_model_that_keeps_asking_for_tools_is_told_no_then_stopped(cascade, text_double):
    from assistant.errors import TurnError

    for n in range(4):  # the last one disobeys tool_choice "none", as a careless server may
        text_double.reply_tool_calls([("get_player_summary", {"user_name": "maria"})],
                                     offered_only=n < 3)  # fmt: skip
    conversation = Conversation(customer="maria")
    with pytest.raises(TurnError) as caught:
        cascade().ask(conversation, text="Games?")
    assert caught.value.code == "tool_loop" and conversation.exchanges == []
    assert [r.json["tool_choice"] for r in text_double.chat_requests] == ["auto"] * 3 + ["none"]


def test_a_server_that_ignores_stream_and_answers_whole_is_still_spoken(cascade, text_double,
                                                                        audio_double):  # fmt: skip
    text_double.reply_json({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "llama3.2",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": ANSWER, "refusal": None}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    })  # fmt: skip
    reply = cascade().ask(Conversation(), text="How did Maria do?")
    assert reply.transcript == ANSWER and len(audio_double.of("speech")) == 3
    assert reply.usage.completion_tokens == 20


def test_the_voice_chosen_for_the_question_speaks_unless_the_settings_fix_it(cascade,
                                                                             text_double,
                                                                             audio_double):  # fmt: skip
    text_double.reply_without_audio("Hello.").reply_without_audio("Hello.")
    cascade().ask(Conversation(), text="Hi?", voice="coral")
    cascade(voicedesk_tts_voice="sage").ask(Conversation(), text="Hi?", voice="coral")
    assert [r.json["voice"] for r in audio_double.of("speech")] == ["coral", "sage"]


def test_talking_over_the_rest_of_the_answer_stops_the_voice_at_once(cascade, text_double,
                                                                     audio_double):  # fmt: skip
    """The model has written every sentence; the voice is on the first when the person talks."""
    text_double.reply_without_audio(ANSWER)
    go_on = threading.Event()
    audio_double.hold = (1, go_on)  # the first sentence's sound waits after its first chunk
    sink = Sink()

    def talk() -> None:
        sink.cancel.set()
        go_on.set()

    sink.on_first_audio = talk
    reply = cascade().ask(Conversation(), text="How did Maria do?", on_event=sink)
    assert reply.extra["warning"].startswith("Stopped when you spoke")
    assert [r.json["input"] for r in audio_double.of("speech")] == [
        "Maria played twelve games this week."], "no later sentence was spoken"
