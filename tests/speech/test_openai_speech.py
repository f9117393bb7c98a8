"""The OpenAI-protocol speech parts, through the real `openai` SDK, against the audio double on
127.0.0.1, which checks every request against the published CreateTranscriptionRequest and
CreateSpeechRequest schemas."""

from __future__ import annotations

import re
import threading

import openai
import pytest

from assistant.errors import TurnError, Words
from assistant.speech.openai_speech import OpenAISynthesizer, OpenAITranscriber
from tests.doubles.audio_double import AudioDouble, speech_seconds
from tests.doubles.speech import tone_wav
from tests.resilience.support import assert_one_sentence

STT_WORDS = Words("OpenAI speech-to-text", "OPENAI_API_KEY", "model", "VOICEDESK_STT_MODEL")
TTS_WORDS = Words("OpenAI text-to-speech", "OPENAI_API_KEY", "model", "VOICEDESK_TTS_MODEL")


@pytest.fixture
def double():
    with AudioDouble() as served:
        yield served
    assert served.violations == [], served.violations


def client(double: AudioDouble) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=double.base_url, max_retries=0, timeout=10)


def azure(double: AudioDouble) -> openai.OpenAI:
    return openai.AzureOpenAI(api_key="k", azure_endpoint=double.azure_endpoint,
                              api_version="2025-03-01-preview", max_retries=0, timeout=10)  # fmt: skip


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1"])
def test_a_transcription_is_a_valid_request_with_the_players_as_prompt(double, model):
    hear = OpenAITranscriber(client(double), model, "openai", STT_WORDS)
    heard = hear.transcribe(tone_wav(1.0), prompt="Players: maria, dev.")
    assert heard.text == double.transcript
    assert heard.input_tokens > 0 and heard.output_tokens > 0 and heard.audio_seconds == 1.0
    (sent,) = double.of("transcription")
    assert sent.form["model"] == model and sent.form["prompt"] == "Players: maria, dev."
    assert sent.files["file"][:4] == b"RIFF"


def test_an_azure_deployment_is_asked_on_its_own_path(double):
    OpenAITranscriber(azure(double), "stt-prod", "azure_openai", STT_WORDS).transcribe(tone_wav())
    list(OpenAISynthesizer(azure(double), "tts-prod", "alloy", "azure_openai", TTS_WORDS)
         .stream("Hello there."))  # fmt: skip
    paths = [r.path for r in double.requests]
    assert paths == ["/openai/deployments/stt-prod/audio/transcriptions",
                     "/openai/deployments/tts-prod/audio/speech"]  # fmt: skip


def test_speech_is_asked_as_pcm_and_handed_on_before_the_body_has_ended(double):
    release = threading.Event()
    double.hold = (1, release)  # the body waits after its first chunk until we say
    speak = OpenAISynthesizer(client(double), "gpt-4o-mini-tts", "coral", "openai", TTS_WORDS,
                              instructions="Warm and calm.")  # fmt: skip
    text = "Maria played twelve games this week."
    pieces = speak.stream(text)
    first = next(pieces)
    release.set()  # only reachable if the first chunk came while the body was held
    rest = list(pieces)
    (sent,) = double.of("speech")
    assert sent.held is True, "the first chunk was handed on while the rest was still held"
    assert sent.json == {"model": "gpt-4o-mini-tts", "input": text, "voice": "coral",
                         "response_format": "pcm", "instructions": "Warm and calm."}  # fmt: skip
    pcm = first + b"".join(rest)
    assert len(pcm) == int(speech_seconds(text) * 24_000) * 2
    assert all(len(p) % 2 == 0 for p in [first, *rest]), "whole samples only"


def test_tts_1_is_not_sent_instructions_it_does_not_take(double):
    list(OpenAISynthesizer(client(double), "tts-1", "alloy", "openai", TTS_WORDS,
                           instructions="Cheerful.").stream("Hi."))  # fmt: skip
    assert "instructions" not in double.of("speech")[0].json


@pytest.mark.parametrize(
    ("arrange", "says"),
    [
        (lambda d: d.fail(401, "Incorrect API key provided.", "invalid_api_key", on="speech"),
         r"^OpenAI text-to-speech refused the API key; check OPENAI_API_KEY"),
        (lambda d: d.fail(404, "The model does not exist.", "model_not_found", on="speech"),
         r"has no model called 'gpt-4o-mini-tts'; check VOICEDESK_TTS_MODEL"),
        (lambda d: d.fail(429, "Rate limit reached.", "rate_limit_exceeded", on="speech"),
         r"busy \(rate limit\)"),
        (lambda d: d.reply_not_audio(), r"could not read"),
        (lambda d: d.break_off(), r"cannot be reached"),
        (lambda d: d.close_connection(on="speech"), r"cannot be reached"),
    ],
    ids=["401", "404", "429", "html page", "cut midway", "hung up"],
)
def test_each_speech_fault_is_one_sentence_in_the_parts_own_words(double, arrange, says):
    arrange(double)
    speak = OpenAISynthesizer(client(double), "gpt-4o-mini-tts", "alloy", "openai", TTS_WORDS)
    with pytest.raises(TurnError) as caught:
        list(speak.stream("Maria played twelve games this week, and she won most of them."))
    assert_one_sentence(str(caught.value))
    assert re.search(says, str(caught.value)), str(caught.value)
    assert list(speak.stream("Again.")), "the next sentence is spoken"


@pytest.mark.parametrize(
    ("arrange", "says"),
    [
        (lambda d: d.fail(401, "Incorrect API key provided.", on="transcription"),
         r"^OpenAI speech-to-text refused the API key"),
        (lambda d: d.fail(500, "Server error.", on="transcription"), r"problem on its side"),
        (lambda d: d.close_connection(on="transcription"), r"cannot be reached"),
    ],
    ids=["401", "500", "hung up"],
)
def test_each_transcription_fault_is_one_sentence(double, arrange, says):
    arrange(double)
    hear = OpenAITranscriber(client(double), "gpt-4o-transcribe", "openai", STT_WORDS)
    with pytest.raises(TurnError) as caught:
        hear.transcribe(tone_wav())
    assert_one_sentence(str(caught.value))
    assert re.search(says, str(caught.value)), str(caught.value)
    assert hear.transcribe(tone_wav()).text, "the next recording is heard"
