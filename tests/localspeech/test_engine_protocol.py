"""The engine through the real openai SDK and the in-process transport, with stand-in models.

Every request the SDK sends and every response the engine returns is checked against OpenAI's
published schema (tests/contracts).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import wave

import openai
import pytest

from localspeech.protocol import AUDIO_TOKENS_PER_SECOND
from localspeech.stt import CACHE_SIZE
from tests.localspeech.cases import tool_schemas
from tests.localspeech.doubles import scripted_engine, tone_wav
from tests.localspeech.helpers import ask, checked_client, messages, with_results

TOOLS = tool_schemas()
SUMMARY = {
    "ok": True,
    "summary": "Maria Lopez played 12 chess games.",
    "data": {"games_played": 12},
}


@pytest.fixture
def engine():
    return scripted_engine()


@pytest.fixture
def client(engine):
    return checked_client(engine)[0]


def test_a_typed_question_gets_a_tool_call(client):
    reply = ask(client, messages("How many games did I play?", customer="maria"), TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_player_summary",
        {"user_name": "maria"},
    )


def test_a_spoken_question_is_heard_once_though_both_requests_carry_it(engine, client):
    engine.stt.delay_s = 0.3  # both requests arrive while the first is still transcribing
    wav = engine.stt.recording("Do I have any open complaints?")
    results = {}

    def transcribe():
        results["text"] = client.audio.transcriptions.create(
            model="whisper-tiny.en", file=("question.wav", wav, "audio/wav")
        ).text

    thread = threading.Thread(target=transcribe)
    thread.start()
    reply = ask(client, messages(wav, customer="maria"), TOOLS)
    thread.join()
    assert results["text"] == "Do I have any open complaints?"
    assert reply.choices[0].message.tool_calls[0].function.name == "list_grievances"
    assert engine.stt.runs == 1
    assert reply.usage.prompt_tokens_details.audio_tokens == 3 * AUDIO_TOKENS_PER_SECOND


def test_the_transcript_cache_is_bounded(engine):
    for i in range(CACHE_SIZE + 5):
        engine.stt.transcribe(tone_wav(0.1 + i / 1000))
    assert len(engine.stt._cache) == CACHE_SIZE


def test_tool_results_get_a_spoken_answer_not_another_tool_call(client):
    msgs = messages("How many games did I play?", customer="maria")
    first = ask(client, msgs, TOOLS)
    final = ask(client, with_results(msgs, first, [json.dumps(SUMMARY)]), TOOLS)
    choice = final.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None and choice.message.content is None
    audio = choice.message.audio
    assert audio.id.startswith("audio_")
    assert audio.transcript == "Maria Lopez played 12 chess games."
    assert audio.expires_at > time.time()
    with wave.open(io.BytesIO(base64.b64decode(audio.data))) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds > 0.5
    assert final.usage.completion_tokens_details.audio_tokens == pytest.approx(
        seconds * AUDIO_TOKENS_PER_SECOND, abs=1
    )
    assert final.usage.completion_tokens > final.usage.completion_tokens_details.audio_tokens


def test_the_final_call_with_tool_choice_none_also_answers(client):
    msgs = messages("How many games did I play?", customer="maria")
    first = ask(client, msgs, TOOLS)
    final = ask(client, with_results(msgs, first, [json.dumps(SUMMARY)]), TOOLS, tool_choice="none")
    assert final.choices[0].message.audio.transcript == SUMMARY["summary"]


def test_a_question_back_then_the_answer_completes_the_request(client):
    first = ask(client, messages("How many games did I play?"), TOOLS)
    asked = first.choices[0].message.audio.transcript
    assert asked == "Which player is this about?"
    history = [
        {"role": "user", "content": "How many games did I play?"},
        {"role": "assistant", "content": asked},
    ]
    second = ask(client, messages("Maria", history=history), TOOLS)
    call = second.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_player_summary",
        {"user_name": "maria"},
    )


def test_no_tool_needed_is_answered_at_once_with_what_it_can_do(client):
    reply = ask(client, messages("Tell me a joke", customer="maria"), TOOLS)
    transcript = reply.choices[0].message.audio.transcript
    assert reply.choices[0].finish_reason == "stop"
    assert "search the help-centre manuals" in transcript


def test_text_only_modality_answers_in_content(client):
    reply = client.chat.completions.create(
        model="voicedesk-offline", messages=messages("Hello!", customer="maria")
    )
    message = reply.choices[0].message
    assert message.audio is None and message.content.startswith("Hello!")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"stream": True}, "audio.format"),  # as OpenAI: only pcm16 streams
        ({"n": 2}, "n"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio.format"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_unsupported_features_get_an_openai_shaped_400(engine, extra, param):
    client, _ = checked_client(engine)
    body = {
        "model": "voicedesk-offline",
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "wav"},
        "messages": messages("Hello", customer="maria"),
        **extra,
    }
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(**body)
    error = raised.value.body
    assert raised.value.status_code == 400
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"].endswith(".") and "Traceback" not in error["message"]


def test_a_recording_that_is_not_wav_is_refused(client):
    msgs = messages("x")
    msgs[-1]["content"] = [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "mp3"}}
    ]
    with pytest.raises(openai.BadRequestError) as raised:
        ask(client, msgs, TOOLS)
    assert raised.value.body["param"].endswith("input_audio.format")
    msgs[-1]["content"][0]["input_audio"] = {
        "data": base64.b64encode(b"not a wav").decode(),
        "format": "wav",
    }
    with pytest.raises(openai.BadRequestError, match="not a WAV"):
        ask(client, msgs, TOOLS)


def test_transcription_formats(engine, client):
    wav = engine.stt.recording("What is the status of grievance G R V twelve?")
    text = client.audio.transcriptions.create(
        model="whisper-tiny.en", file=("q.wav", wav, "audio/wav"), response_format="text"
    )
    assert text.strip() == "What is the status of grievance GRV-12?"
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.transcriptions.create(
            model="whisper-tiny.en", file=("q.wav", wav, "audio/wav"), response_format="srt"
        )
    assert raised.value.body["param"] == "response_format"


def test_warm_up_loads_both_models_in_the_background_and_reports_status():
    engine = scripted_engine()
    assert engine.status() == {"stt": "idle", "tts": "idle", "tts_engine": None, "warm": False}
    engine.warm_up(background=True).join(5)
    assert engine.status() == {"stt": "ready", "tts": "ready", "tts_engine": "tone", "warm": True}


def test_a_model_that_cannot_load_is_reported_not_raised_as_a_traceback(engine):
    from localspeech.loading import LazyModel, ModelUnavailable

    def broken():
        raise ModelUnavailable("Offline speech recognition needs the faster-whisper package.")

    engine.stt.model = LazyModel("speech-to-text", broken)
    engine.warm_up(background=False)
    assert engine.status()["stt"] == "failed"
    assert "faster-whisper" in engine.status()["errors"]["speech-to-text"]
    client, _ = checked_client(engine)
    wav = tone_wav(1.0)
    with pytest.raises(openai.InternalServerError) as raised:
        ask(client, messages(wav, customer="maria"), TOOLS)
    assert raised.value.status_code == 503


def test_make_offline_client_gives_an_sdk_client_and_starts_loading_the_models():
    from localspeech.client import make_offline_client, offline_engine_of

    engine = scripted_engine()
    client = make_offline_client(None, engine=engine)
    assert isinstance(client, openai.OpenAI)
    assert offline_engine_of(client) is engine
    engine._warm_thread.join(5)
    assert engine.status()["warm"] is True
    reply = client.chat.completions.create(
        model="voicedesk-offline", messages=messages("thank you", customer="maria")
    )
    assert reply.choices[0].message.content.startswith("You're welcome.")


def test_what_did_you_just_say_replays_the_last_answer_of_the_conversation(client):
    history = [
        {"role": "system", "content": "Customer being helped: maria"},
        {"role": "user", "content": "How many games did I play?"},
        {"role": "assistant", "content": "Maria has played 74 games."},
        {"role": "user", "content": "What did you just say?"},
    ]
    reply = ask(client, history, TOOLS)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.audio.transcript == "Maria has played 74 games."


def test_the_engine_resolves_names_against_the_players_and_tells_whisper_them(engine, client):
    engine.know_players(lambda: ["maria", "priya.sharma"])
    deadline = time.monotonic() + 10
    while engine.stt.names == "" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "Priya Sharma" in (engine.stt.prompt or "")
    reply = ask(client, messages("What are Priya's stats?", customer="maria"), TOOLS)
    [call] = reply.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"user_name": "priya.sharma"}


def test_players_that_cannot_be_read_leave_routing_as_it_was(engine, client):
    def broken():
        raise OSError("database down")

    engine.know_players(broken)
    reply = ask(client, messages("How many points does Sam have?", customer="maria"), TOOLS)
    [call] = reply.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"user_name": "sam"}


def test_a_name_that_is_no_player_is_asked_back_and_the_answer_completes_the_question(
    engine, client
):
    engine.know_players(lambda: ["maria", "dev"])
    deadline = time.monotonic() + 10
    while engine.players() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first = messages("What are Bob's stats?", customer="dev")
    reply = ask(client, first, TOOLS)
    asked = reply.choices[0].message.audio.transcript
    assert asked == "I can't find a player called Bob. Which player is this about?"
    history = [
        *first,
        {"role": "assistant", "content": asked},
        {"role": "user", "content": "Maria"},
    ]
    [call] = ask(client, history, TOOLS).choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_player_summary",
        {"user_name": "maria"},
    )
