"""A Realtime session driven by client events, without a socket: the real voice detection
(Silero) on espeak-ng speech, the real router and composer; hearing and voice stand-ins (a fixed
script, a tone). Every server event is checked against OpenAI's published schema."""

from __future__ import annotations

import json

import pytest

from localspeech.realtime import RealtimeSession
from tests.localspeech.realtime_support import (
    LONG_ANSWER,
    Recorder,
    append,
    client,
    realtime_tools,
    require_voice_detection,
    scripted,
    silence,
    spoken,
)

# A worker thread that dies (an event sent on a closing socket, ...) fails the test.
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]
QUESTION = "How many games did I play last week?"
SUMMARY = {
    "ok": True,
    "summary": "Maria's games.",
    "data": {"user_name": "maria", "games": [{"game": "chess", "games_played": 12}]},
}


@pytest.fixture
def open_session():
    sessions: list[RealtimeSession] = []

    def start(engine=None, **update) -> tuple[RealtimeSession, Recorder]:
        recorder = Recorder()
        session = RealtimeSession(engine or scripted(), recorder)
        session.start()
        sessions.append(session)
        config = {"type": "realtime", "instructions": "Customer being helped: maria",
                  "tools": realtime_tools(), **update}  # fmt: skip
        client(session, {"type": "session.update", "session": config})
        recorder.wait_for("session.updated")
        return session, recorder

    yield start
    for session in sessions:
        session.close()


def ask_by_text(session: RealtimeSession, text: str) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    client(session, {"type": "conversation.item.create", "item": item})
    client(session, {"type": "response.create"})


def answer_calls(session: RealtimeSession, recorder: Recorder, after: int = 0) -> None:
    done = recorder.wait_for("response.done", after=after)
    calls = [o for o in done["response"]["output"] if o["type"] == "function_call"]
    assert calls, done
    for call in calls:
        output = {"type": "function_call_output", "call_id": call["call_id"],
                  "output": json.dumps(SUMMARY)}  # fmt: skip
        client(session, {"type": "conversation.item.create", "item": output})
    client(session, {"type": "response.create"})


def test_the_session_opens_with_session_created_and_takes_an_update(open_session):
    session, recorder = open_session(instructions="Be brief.")
    created, updated = recorder.events[0], recorder.wait_for("session.updated")
    assert created["type"] == "session.created"
    assert created["session"]["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert updated["session"]["instructions"] == "Be brief."
    assert [t["name"] for t in updated["session"]["tools"]] == [t["name"] for t in realtime_tools()]
    assert recorder.contract_errors == []


def test_a_typed_question_gets_a_function_call_then_a_spoken_answer_from_its_output(open_session):
    session, recorder = open_session()
    ask_by_text(session, "How many games did I play?")
    call = recorder.wait_for("response.function_call_arguments.done")
    assert call["name"] == "get_player_summary"
    assert json.loads(call["arguments"]) == {"user_name": "maria"}
    first_done = recorder.wait_for("response.done")
    assert first_done["response"]["status"] == "completed"
    answer_calls(session, recorder)
    done = recorder.wait_for("response.done", after=recorder.index(first_done) + 1)
    assert done["response"]["status"] == "completed"
    spoken_types = recorder.types(after=recorder.index(first_done) + 1)
    assert "response.output_audio.delta" in spoken_types
    assert spoken_types.index("response.output_audio_transcript.delta") < spoken_types.index(
        "response.output_audio.delta"
    )  # the words of a sentence go just before its sound
    transcript = recorder.wait_for("response.output_audio_transcript.done")["transcript"]
    assert "12" in transcript
    usage = done["response"]["usage"]
    assert usage["output_token_details"]["audio_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert recorder.contract_errors == []


def test_text_only_sessions_answer_in_text(open_session):
    session, recorder = open_session(output_modalities=["text"])
    ask_by_text(session, "Hello there")
    done = recorder.wait_for("response.done")
    assert "response.output_text.delta" in recorder.types()
    assert "response.output_audio.delta" not in recorder.types()
    assert done["response"]["output"][0]["content"][0]["type"] == "output_text"
    assert recorder.contract_errors == []


def test_speech_then_silence_is_detected_committed_heard_and_answered(open_session):
    require_voice_detection()
    session, recorder = open_session()
    append(session, silence(0.5) + spoken(QUESTION) + silence(1.2))
    started = recorder.wait_for("input_audio_buffer.speech_started")
    stopped = recorder.wait_for("input_audio_buffer.speech_stopped")
    committed = recorder.wait_for("input_audio_buffer.committed")
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    speech_ms = len(spoken(QUESTION)) // 48
    assert 0 <= started["audio_start_ms"] <= 500  # speech began at 500 ms, less the padding
    assert 500 + speech_ms - 400 <= stopped["audio_end_ms"] <= 500 + speech_ms + 300
    heard = recorder.wait_for("conversation.item.input_audio_transcription.completed")
    assert heard["item_id"] == committed["item_id"]
    assert heard["transcript"] == "How many games did I play?"
    assert recorder.wait_for("response.function_call_arguments.done")["name"]
    # Heard once: the run started at the first pause is the one the commit uses.
    assert len(session.engine.stt.heard) == 1
    assert session.engine.stt.heard[0] < speech_ms / 1000 + 1.0
    assert recorder.contract_errors == []


def test_silence_and_a_steady_hum_are_not_turns(open_session):
    require_voice_detection()
    from tests.localspeech.doubles import tone_wav
    from wavcodec import decode_wav

    session, recorder = open_session()
    hum = decode_wav(tone_wav(1.0, freq=50.0, rate=24000), 24000) * 0.05
    from tests.localspeech.realtime_support import pcm16

    append(session, silence(1.5) + pcm16(hum) + silence(0.5))
    client(session, {"type": "input_audio_buffer.clear"})
    recorder.wait_for("input_audio_buffer.cleared")
    assert "input_audio_buffer.speech_started" not in recorder.types()


def test_response_cancel_ends_the_answer_at_once_and_nothing_follows(open_session):
    session, recorder = open_session(engine=scripted(delay_s=0.4))
    repeat_long_answer(session)
    first = recorder.wait_for("response.output_audio.delta")
    client(session, {"type": "response.cancel"})
    done = recorder.wait_for("response.done", after=recorder.index(first))
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    item = done["response"]["output"][0]
    assert item["status"] == "incomplete"
    assert len(item["content"][0]["transcript"]) < len(LONG_ANSWER)
    index = recorder.index(done)
    import time

    time.sleep(1.0)  # the voice was mid-sentence: what it makes now must not be sent
    assert "response.output_audio.delta" not in recorder.types(after=index)
    assert recorder.contract_errors == []


def test_speech_during_an_answer_interrupts_it(open_session):
    require_voice_detection()
    session, recorder = open_session(engine=scripted(delay_s=0.4))
    repeat_long_answer(session)
    first = recorder.wait_for("response.output_audio.delta")
    append(session, spoken(QUESTION)[: 24000 * 2])  # a second of someone talking over it
    started = recorder.wait_for("input_audio_buffer.speech_started", after=recorder.index(first))
    done = recorder.wait_for("response.done", after=recorder.index(first))
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    assert recorder.index(done) < recorder.index(started)  # stopped before it is announced
    assert "response.output_audio.delta" not in recorder.types(after=recorder.index(done))
    assert recorder.contract_errors == []


def repeat_long_answer(session: RealtimeSession) -> None:
    """A long answer to say: "What did you just say?" after a long assistant message."""
    said = {"type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": LONG_ANSWER}]}  # fmt: skip
    client(session, {"type": "conversation.item.create", "item": said})
    ask_by_text(session, "What did you just say?")


def test_truncating_an_answer_keeps_what_was_heard(open_session):
    session, recorder = open_session()
    repeat_long_answer(session)
    done = recorder.wait_for("response.done")
    item_id = done["response"]["output"][0]["id"]
    truncate = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                "audio_end_ms": 1000}  # fmt: skip
    client(session, truncate)
    truncated = recorder.wait_for("conversation.item.truncated")
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 1000)
    kept = session.items[item_id]["content"][0]["transcript"]
    assert kept and LONG_ANSWER.startswith(kept) and len(kept) < len(LONG_ANSWER)
    client(session, {**truncate, "audio_end_ms": 10_000_000})
    error = recorder.wait_for("error")
    assert error["error"]["param"] == "audio_end_ms"
    assert recorder.contract_errors == []


def test_a_manual_commit_is_heard_but_not_answered_until_asked(open_session):
    session, recorder = open_session(audio={"input": {"turn_detection": None}})
    append(session, silence(0.3))
    client(session, {"type": "input_audio_buffer.commit"})
    recorder.wait_for("conversation.item.input_audio_transcription.completed")
    assert "response.created" not in recorder.types()
    client(session, {"type": "response.create"})
    assert recorder.wait_for("response.done")["response"]["status"] == "completed"
    client(session, {"type": "input_audio_buffer.commit"})
    assert recorder.wait_for("error")["error"]["code"] == "input_audio_buffer_commit_empty"
    assert recorder.contract_errors == []


@pytest.mark.parametrize(
    "raw, param",
    [
        ("not json", None),
        ("[1, 2]", "type"),
        (json.dumps({"type": "response.make"}), "type"),
        (json.dumps({"type": "input_audio_buffer.append", "audio": "@@@"}), "audio"),
        (json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}), "audio"),
        (json.dumps({"type": "input_audio_buffer.append", "audio": 5}), "audio"),
        (
            json.dumps(
                {"type": "conversation.item.truncate", "item_id": "nope", "audio_end_ms": 1}
            ),
            "item_id",
        ),  # fmt: skip
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {"input": {"format": {"type": "audio/pcmu"}}},
                    },
                }
            ),
            "session.audio.input.format",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {
                            "input": {"turn_detection": {"type": "server_vad", "threshold": 7}}
                        },
                    },
                }
            ),
            "session.audio.input.turn_detection.threshold",
        ),  # fmt: skip
        (
            json.dumps(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_image"}],
                    },
                }
            ),
            "item.content[0]",
        ),  # fmt: skip
        (json.dumps({"type": "response.cancel"}), None),
        ("{" * 100 + "}" * 100, None),
    ],
)
def test_a_bad_event_gets_an_error_event_and_the_session_goes_on(open_session, raw, param):
    session, recorder = open_session()
    session.receive(raw)
    error = recorder.wait_for("error")["error"]
    assert error["param"] == param
    assert error["message"].endswith(".") and "Traceback" not in error["message"]
    assert session.config.turn is not None  # a refused update changed nothing
    ask_by_text(session, "Hello there")
    assert recorder.wait_for("response.done")["response"]["status"] == "completed"
    assert recorder.contract_errors == []


def test_a_second_response_while_one_is_under_way_is_refused(open_session):
    session, recorder = open_session(engine=scripted(delay_s=0.4))
    repeat_long_answer(session)
    recorder.wait_for("response.created")
    client(session, {"type": "response.create"})
    assert recorder.wait_for("error")["error"]["code"] == "conversation_already_has_active_response"
    client(session, {"type": "response.cancel"})
    recorder.wait_for("response.done")


def test_a_response_with_nothing_to_answer_fails_with_one_sentence(open_session):
    session, recorder = open_session()
    client(session, {"type": "response.create"})
    done = recorder.wait_for("response.done")
    assert done["response"]["status"] == "failed"
    error = recorder.wait_for("error")["error"]
    assert error["type"] == "server_error" and error["message"].endswith(".")
    ask_by_text(session, "Hello there")  # the session goes on
    completed = recorder.wait_for("response.done", after=recorder.index(done) + 1)
    assert completed["response"]["status"] == "completed"
    assert recorder.contract_errors == []


def test_when_hearing_fails_the_turn_says_so_and_is_not_answered(open_session):
    from localspeech.engine import OfflineEngine
    from localspeech.loading import ModelUnavailable
    from localspeech.stt import SpeechToText
    from localspeech.tts import TextToSpeech
    from tests.localspeech.doubles import ToneSpeaker

    def missing():
        raise ModelUnavailable("Offline speech recognition needs faster-whisper.")

    deaf = OfflineEngine(stt=SpeechToText(loader=missing), tts=TextToSpeech(loader=ToneSpeaker))
    session, recorder = open_session(engine=deaf, audio={"input": {"turn_detection": None}})
    append(session, silence(0.5))
    client(session, {"type": "input_audio_buffer.commit"})
    failed = recorder.wait_for("conversation.item.input_audio_transcription.failed")
    assert failed["error"]["message"] == "Offline speech recognition needs faster-whisper."
    assert "response.created" not in recorder.types()
    assert recorder.contract_errors == []


def test_without_the_voice_detection_model_turns_are_committed_by_hand(open_session):
    from localspeech.loading import ModelUnavailable
    from tests.resilience.support import assert_one_sentence

    def no_model(settings):
        raise ModelUnavailable("Offline voice detection needs the onnxruntime package.")

    recorder = Recorder()
    session = RealtimeSession(scripted(), recorder, detector=no_model)
    session.start()
    try:
        append(session, silence(0.2))
        error = recorder.wait_for("error")["error"]
        assert error["code"] == "vad_unavailable" and "commit" in error["message"]
        assert_one_sentence(error["message"])
        assert recorder.types().count("error") == 1  # said once, not for every chunk
        client(session, {"type": "input_audio_buffer.commit"})
        recorder.wait_for("conversation.item.input_audio_transcription.completed")
    finally:
        session.close()


def test_a_turn_heard_after_the_next_one_began_is_answered_once_with_the_next(open_session):
    require_voice_detection()
    session, recorder = open_session(engine=scripted(hear_s=1.5))
    question = spoken(QUESTION)
    append(session, question + silence(0.7) + question + silence(0.7))
    first = recorder.wait_for("conversation.item.input_audio_transcription.completed")
    second = recorder.wait_for(
        "conversation.item.input_audio_transcription.completed", after=recorder.index(first) + 1
    )
    done = recorder.wait_for("response.done")
    assert recorder.types().count("input_audio_buffer.committed") == 2
    assert recorder.types().count("response.created") == 1  # not one per turn, not none
    assert recorder.index(second) < recorder.index(done)
    assert recorder.contract_errors == []
