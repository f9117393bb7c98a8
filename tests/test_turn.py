"""The turn against the Chat Completions double on 127.0.0.1, through the real openai SDK."""

from __future__ import annotations

import base64
import io
import json
import wave

import pytest

from assistant.audio import normalise
from assistant.errors import TurnError
from assistant.history import Conversation
from assistant.service import build_engine
from tests.audio_factory import pcm16 as to_pcm16
from tests.audio_factory import speech_like, wav
from tests.support import isolate_env, make_settings


def question_wav(seconds: float = 1.5, seed: int = 7) -> bytes:
    return wav(to_pcm16(speech_like(seconds, seed=seed)))


def _audio_parts(request) -> list[str]:
    parts = []
    for message in request.json["messages"]:
        if isinstance(message.get("content"), list):
            parts += [
                p["input_audio"]["data"] for p in message["content"] if p["type"] == "input_audio"
            ]
    return parts


def test_direct_spoken_answer(chat_double, engine_for):
    chat_double.transcribe_as("Hello, who are you?").reply_audio("I am VoiceDesk, here to help.")
    conversation = Conversation()
    reply = engine_for().ask(conversation, audio=question_wav())
    assert reply.transcript == "I am VoiceDesk, here to help."
    assert reply.input_transcript == "Hello, who are you?"
    with wave.open(io.BytesIO(reply.audio_wav)) as played:
        assert played.getnframes() > 0
    assert reply.audio_id and reply.expires_at
    assert reply.tool_calls == []
    sent = chat_double.chat_requests[0].json
    assert sent["modalities"] == ["text", "audio"]
    assert sent["audio"] == {"voice": "alloy", "format": "pcm16"}  # streamed
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["tool_choice"] == "auto"
    assert "functions" not in sent and {t["function"]["name"] for t in sent["tools"]} >= {
        "get_player_summary", "search_help_center", "register_grievance",
        "get_grievance_status", "list_grievances",
    }  # fmt: skip
    assert sent["messages"][0]["role"] == "system"
    assert reply.usage.audio_completion_tokens > 0 and reply.usage.cost_usd > 0
    assert set(reply.timings_ms) >= {"audio", "understand"}
    assert len(conversation.exchanges) == 1


def test_the_recording_is_sent_normalised(chat_double, engine_for):
    chat_double.transcribe_as("hi").reply_audio("Hi.")
    engine_for().ask(Conversation(), audio=question_wav())
    (sent,) = _audio_parts(chat_double.chat_requests[0])
    with wave.open(io.BytesIO(base64.b64decode(sent))) as received:
        assert (received.getnchannels(), received.getsampwidth(), received.getframerate()) == (
            1,
            2,
            16000,
        )
    upload = chat_double.transcription_requests[0].files["file"]
    assert upload.data == base64.b64decode(sent)


def test_one_tool_call_then_a_grounded_answer(chat_double, engine_for):
    chat_double.transcribe_as("How many games did I play?")
    chat_double.reply_tool_calls([("get_player_summary", {"user_name": "maria"})])
    chat_double.reply_audio("Maria played many games.")
    events = []
    reply = engine_for().ask(
        Conversation(customer="maria"), audio=question_wav(), on_event=events.append
    )
    (call,) = reply.tool_calls
    assert call.name == "get_player_summary" and call.ok
    assert call.arguments == {"user_name": "maria"}
    assert "chess" in call.summary and call.label == "Looking up maria's games"
    first, second = chat_double.chat_requests
    assert "Customer being helped: maria" in json.dumps(first.json["messages"])
    assistant, tool = second.json["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == tool["tool_call_id"]
    content = json.loads(tool["content"])
    assert content["ok"] is True and content["data"]["user_name"] == "maria"
    kinds = [(e.kind, e.label) for e in events]
    assert ("tool_start", "Looking up maria's games") in kinds
    assert kinds[-1][0] == "stage_end"


def test_two_parallel_tool_calls_are_all_answered(chat_double, engine_for):
    chat_double.transcribe_as("q")
    chat_double.reply_tool_calls(
        [
            ("get_player_summary", {"user_name": "dev"}),
            ("search_help_center", {"query": "two-step verification"}),
        ]
    )
    chat_double.reply_audio("Done.")
    reply = engine_for().ask(Conversation(), audio=question_wav())
    assert [c.name for c in reply.tool_calls] == ["get_player_summary", "search_help_center"]
    assert all(c.ok for c in reply.tool_calls)
    second = chat_double.chat_requests[1].json["messages"]
    asked = {c["id"] for c in second[-3]["tool_calls"]}
    answered = {m["tool_call_id"] for m in second[-2:]}
    assert asked == answered and len(asked) == 2


def test_a_second_round_of_tools(chat_double, engine_for):
    chat_double.transcribe_as("q")
    chat_double.reply_tool_calls([("list_grievances", {"user_name": "maria"})])
    chat_double.reply_tool_calls([("get_grievance_status", {"grievance_id": "GRV-10"})])
    chat_double.reply_audio("It is in progress.")
    reply = engine_for().ask(Conversation(), audio=question_wav())
    assert [(c.name, c.round) for c in reply.tool_calls] == [
        ("list_grievances", 0),
        ("get_grievance_status", 1),
    ]
    assert len(chat_double.chat_requests) == 3


def test_tool_rounds_are_bounded(chat_double, engine_for):
    chat_double.transcribe_as("q")
    for _ in range(3):
        chat_double.reply_tool_calls([("search_help_center", {"query": "points"})])
    chat_double.reply_audio("Here is what I found.")
    reply = engine_for().ask(Conversation(), audio=question_wav())
    requests = chat_double.chat_requests
    assert len(requests) == 4
    assert [r.json["tool_choice"] for r in requests] == ["auto", "auto", "auto", "none"]
    assert reply.transcript == "Here is what I found."


def test_unknown_tool_and_malformed_arguments_become_error_results(chat_double, engine_for):
    chat_double.transcribe_as("q")
    chat_double.reply_tool_calls([("delete_all_players", {})], offered_only=False)
    chat_double.reply_raw_arguments("get_player_summary", '{"user_name": ')
    chat_double.reply_tool_calls([("get_player_summary", {"user_name": "maria' OR '1'='1"})])
    chat_double.reply_audio("Sorry, I could not look that up.")
    reply = engine_for().ask(Conversation(), audio=question_wav())
    errors = [c.result["error"] for c in reply.tool_calls]
    assert errors == ["unknown_tool", "malformed_arguments", "invalid_arguments"]
    last_tool_message = json.loads(chat_double.chat_requests[3].json["messages"][-1]["content"])
    assert last_tool_message["ok"] is False and last_tool_message["summary"]


def test_only_one_grievance_per_turn(chat_double, engine_for, tmp_path):
    chat_double.transcribe_as("q")
    chat_double.reply_tool_calls(
        [("register_grievance", {"category": "wallet", "description": f"Charged twice, case {n}", "user_name": "sam"})
         for n in range(5)]
    )  # fmt: skip
    chat_double.reply_audio("Registered.")
    reply = engine_for().ask(Conversation(), audio=question_wav())
    outcomes = [c.ok for c in reply.tool_calls]
    assert outcomes == [True, False, False, False, False]
    assert {c.result.get("error") for c in reply.tool_calls[1:]} == {"per_question_limit"}


def test_typed_question(chat_double, engine_for):
    chat_double.reply_audio("Open Settings, then Security.")
    reply = engine_for().ask(Conversation(), text="How do I turn on two-step verification?")
    assert reply.input_transcript == "How do I turn on two-step verification?"
    assert chat_double.chat_requests[0].json["messages"][-1] == {
        "role": "user", "content": "How do I turn on two-step verification?"
    }  # fmt: skip
    assert chat_double.transcription_requests == []


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "refused the API key"),
        (403, "may not use"),
        (404, "no model called"),
        (500, "problem on its side"),
    ],
)
def test_model_errors_become_one_sentence_and_keep_the_conversation(
    chat_double, engine_for, status, words
):
    chat_double.transcribe_as("first").reply_audio("First answer.")
    engine = engine_for()
    conversation = Conversation()
    engine.ask(conversation, audio=question_wav())
    chat_double.transcribe_as("second").fail(status, "nope")
    with pytest.raises(TurnError) as caught:
        engine.ask(conversation, audio=question_wav(seed=2))
    assert words in str(caught.value)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)
    assert len(conversation.exchanges) == 1


def test_rate_limit_then_success_is_retried_by_the_sdk(chat_double, engine_for):
    chat_double.transcribe_as("q")
    chat_double.fail(429, "Rate limit reached", headers={"retry-after-ms": "10"})
    chat_double.reply_audio("Here you are.")
    reply = engine_for(voicedesk_max_retries=2).ask(Conversation(), audio=question_wav())
    assert reply.transcript == "Here you are."
    assert [r.status for r in chat_double.chat_requests] == [429, 200]


def test_rate_limit_past_retries_says_wait(chat_double, engine_for):
    chat_double.transcribe_as("q").fail(429, "Rate limit reached")
    with pytest.raises(TurnError, match="rate limit") as caught:
        engine_for().ask(Conversation(), audio=question_wav())
    assert caught.value.retryable


def test_a_timeout_says_so_and_offers_offline(chat_double, engine_for):
    chat_double.transcribe_as("q").delay(2.0).reply_audio("too late")
    with pytest.raises(TurnError, match="took too long") as caught:
        engine_for(voicedesk_request_timeout=0.3).ask(Conversation(), audio=question_wav())
    assert caught.value.unreachable


def test_a_refused_connection_offers_offline(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    settings = make_settings(
        tmp_path, openai_base_url="http://127.0.0.1:9/v1", voicedesk_max_retries=0
    )
    with pytest.raises(TurnError, match="cannot be reached") as caught:
        build_engine(settings).ask(Conversation(), text="hello")
    assert caught.value.unreachable


def test_a_body_that_is_not_json_is_one_sentence(chat_double, engine_for):
    chat_double.reply_not_json()
    with pytest.raises(TurnError) as caught:
        engine_for().ask(Conversation(), text="hello")
    assert "could not read" in str(caught.value)


def test_a_reply_without_audio_still_answers_in_text(chat_double, engine_for):
    chat_double.reply_without_audio("Your points expire after a year.")
    reply = engine_for().ask(Conversation(), text="When do points expire?")
    assert reply.transcript == "Your points expire after a year."
    assert reply.audio_wav == b"" and reply.extra["warning"]


def test_content_filter_is_one_sentence(chat_double, engine_for):
    chat_double.reply_content_filter()
    with pytest.raises(TurnError, match="content filter"):
        engine_for().ask(Conversation(), text="something awful")


def test_a_voice_the_model_does_not_offer_is_refused_before_any_call(chat_double, engine_for):
    with pytest.raises(TurnError, match="not offered"):
        engine_for(voicedesk_voice="marin").ask(Conversation(), text="hi")
    assert chat_double.requests == []


def test_silence_never_reaches_the_model(chat_double, engine_for):
    silent = wav(to_pcm16(speech_like(1.5) * 0.0))
    with pytest.raises(TurnError, match="silent|hear"):
        engine_for().ask(Conversation(), audio=silent)
    assert chat_double.requests == []


def test_each_recording_is_sent_only_in_its_own_turn(chat_double, engine_for):
    engine = engine_for()
    conversation = Conversation(customer="maria")
    recordings = [question_wav(seed=n) for n in range(5)]
    for n, recording in enumerate(recordings):
        chat_double.transcribe_as(f"question {n}").reply_audio(f"answer {n}")
        engine.ask(conversation, audio=recording)
    normalised = [base64.b64encode(normalise(r).wav).decode() for r in recordings]
    for n, request in enumerate(chat_double.chat_requests):
        assert _audio_parts(request) == [normalised[n]]
        history = [
            m["content"] for m in request.json["messages"]
            if m["role"] in ("user", "assistant") and isinstance(m["content"], str)
        ]  # fmt: skip
        assert history == [x for k in range(n) for x in (f"question {k}", f"answer {k}")]


def test_azure_request_shape(chat_double, tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    settings = make_settings(
        tmp_path,
        azure_openai_endpoint=chat_double.azure_endpoint,
        azure_openai_deployment="voice-prod",
        azure_openai_api_key="azure-key",
        azure_openai_transcribe_deployment="transcribe-prod",
        voicedesk_max_retries=0,
    )
    chat_double.transcribe_as("hi").reply_audio("Hello from Azure.")
    reply = build_engine(settings).ask(Conversation(), audio=question_wav())
    assert reply.provider == "azure" and reply.transcript == "Hello from Azure."
    chat = chat_double.chat_requests[0]
    assert chat.path == "/openai/deployments/voice-prod/chat/completions"
    assert chat.query["api-version"] == "2025-01-01-preview"
    assert chat.headers["api-key"] == "azure-key"
    assert (
        chat_double.transcription_requests[0].path
        == "/openai/deployments/transcribe-prod/audio/transcriptions"
    )


def test_audio_is_written_to_disk_only_when_asked(chat_double, engine_for, tmp_path):
    chat_double.transcribe_as("q").reply_audio("First.")
    engine_for().ask(Conversation(), audio=question_wav())
    assert not list(tmp_path.rglob("*.wav"))
    chat_double.transcribe_as("q").reply_audio("Second.")
    engine_for(voicedesk_keep_audio=True).ask(Conversation(), audio=question_wav())
    kept = sorted(p.name.rsplit("-", 1)[-1] for p in (tmp_path / "audio").glob("*.wav"))
    assert kept == ["answer.wav", "question.wav"]


def test_after_the_first_call_the_transcript_stands_in_for_the_audio(chat_double, engine_for):
    chat_double.transcribe_as("How many games did I play?")
    chat_double.delay(0.5)  # the transcription has surely arrived by the time tools have run
    chat_double.reply_tool_calls([("get_player_summary", {"user_name": "maria"})])
    chat_double.reply_audio("Maria played many games.")
    engine_for().ask(Conversation(customer="maria"), audio=question_wav())
    first, second = chat_double.chat_requests
    assert len(_audio_parts(first)) == 1
    assert _audio_parts(second) == []
    user_messages = [m for m in second.json["messages"] if m["role"] == "user"]
    assert user_messages[-1] == {"role": "user", "content": "How many games did I play?"}


def test_without_a_transcript_in_time_the_audio_is_sent_again(chat_double, engine_for):
    chat_double.delay(1.0, on="transcription").transcribe_as("late words")
    chat_double.reply_tool_calls([("get_player_summary", {"user_name": "maria"})])
    chat_double.reply_audio("Maria played many games.")
    reply = engine_for().ask(Conversation(customer="maria"), audio=question_wav())
    first, second = chat_double.chat_requests
    assert _audio_parts(second) == _audio_parts(first)
    assert reply.input_transcript == "late words"
