"""Faults of each part of the cascade (hearing, the text model, the voice), injected through the
doubles: each is one plain sentence that names the part, the conversation is kept as it was, and
the same recording then succeeds on the same engine. No restart, no traceback."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from assistant.errors import TurnError
from assistant.history import Conversation
from tests.audio_factory import pcm16, speech_like, wav
from tests.doubles.audio_double import AudioDouble
from tests.doubles.chat_double import ChatDouble
from tests.modes import cascade_support
from tests.modes.cascade_support import cascade_engine
from tests.resilience.support import assert_one_sentence

pytestmark = pytest.mark.timeout(180)
audio_double = cascade_support.audio_double  # the fixture


@dataclass(frozen=True)
class Fault:
    name: str
    arrange: Callable[[ChatDouble, AudioDouble], object]
    says: str  # a regex the sentence must match


FAULTS = [
    Fault("hearing: key refused",
          lambda c, a: a.fail(401, "Incorrect API key provided.", "invalid_api_key",
                              on="transcription"),
          r"^OpenAI speech-to-text refused the API key; check OPENAI_API_KEY"),
    Fault("hearing: unknown model",
          lambda c, a: a.fail(404, "The model does not exist.", "model_not_found",
                              on="transcription"),
          r"no model called 'gpt-4o-mini-transcribe'; check VOICEDESK_STT_MODEL"),
    Fault("hearing: server error",
          lambda c, a: a.fail(500, "Server error.", on="transcription"), r"problem on its side"),
    Fault("hearing: connection dropped",
          lambda c, a: a.close_connection(on="transcription"), r"cannot be reached"),
    Fault("thinking: key refused",
          lambda c, a: c.fail(401, "Incorrect API key provided.", code="invalid_api_key"),
          r"^The text model server refused the API key; check VOICEDESK_TEXT_API_KEY"),
    Fault("thinking: unknown model",
          lambda c, a: c.fail(404, "The model `gpt-4o-mini` does not exist.",
                              code="model_not_found"),
          r"no model called 'gpt-4o-mini'; check VOICEDESK_TEXT_MODEL"),
    Fault("thinking: out of credit",
          lambda c, a: c.fail(429, "You exceeded your current quota.", code="insufficient_quota"),
          r"out of credit"),
    Fault("thinking: connection dropped", lambda c, a: c.close_connection(), r"cannot be reached"),
    Fault("thinking: body not JSON", lambda c, a: c.reply_not_json(), r"could not read"),
    Fault("thinking: stream cut midway",
          lambda c, a: setattr(c, "cut_after", 3), r"stopped partway"),
    Fault("speaking: key refused",
          lambda c, a: a.fail(401, "Incorrect API key provided.", "invalid_api_key", on="speech"),
          r"^OpenAI text-to-speech refused the API key; check OPENAI_API_KEY"),
    Fault("speaking: unknown voice model",
          lambda c, a: a.fail(404, "The model does not exist.", "model_not_found", on="speech"),
          r"no model called 'gpt-4o-mini-tts'; check VOICEDESK_TTS_MODEL"),
    Fault("speaking: an HTML page instead of audio",
          lambda c, a: a.reply_not_audio(), r"could not read"),
    Fault("speaking: cut midway", lambda c, a: a.break_off(), r"cannot be reached"),
]  # fmt: skip


@pytest.fixture
def text_double():
    with ChatDouble(policy="auto") as double:
        yield double
    assert double.violations == [], "\n".join(double.violations)


def question() -> bytes:
    return wav(pcm16(speech_like(1.5, seed=5)))


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_a_fault_of_any_cascade_part_is_one_sentence_and_the_same_recording_then_succeeds(
    fault, text_double, audio_double, tmp_path, clean_env
):
    engine = cascade_engine(tmp_path, text_double, audio_double)
    conversation = Conversation(customer="maria")
    engine.ask(conversation, text="How many games did I play?")
    recording = question()

    fault.arrange(text_double, audio_double)
    with pytest.raises(TurnError) as caught:
        engine.ask(conversation, audio=recording)
    sentence = str(caught.value)
    assert_one_sentence(sentence)
    assert re.search(fault.says, sentence), sentence
    assert caught.value.retryable, "the page offers Try again"
    assert len(conversation.exchanges) == 1, "the conversation is as it was"

    reply = engine.ask(conversation, audio=recording)
    assert reply.transcript and reply.audio_wav[:4] == b"RIFF"
    assert reply.input_transcript == audio_double.transcript
    assert len(conversation.exchanges) == 2


def test_a_recording_in_which_nothing_was_heard_is_one_sentence(text_double, audio_double,
                                                                tmp_path, clean_env):  # fmt: skip
    engine = cascade_engine(tmp_path, text_double, audio_double)
    audio_double.transcript = "  "
    conversation = Conversation()
    with pytest.raises(TurnError) as caught:
        engine.ask(conversation, audio=question())
    assert_one_sentence(str(caught.value))
    assert "No words were heard" in str(caught.value) and conversation.exchanges == []
    assert text_double.chat_requests == [], "nothing was asked of the text model"
