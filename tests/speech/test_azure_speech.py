"""Azure AI Speech's ears and voice against the REST double (tests/speech/azure_speech_double.py):
what is sent (paths, query, headers, body, SSML) is what the documented API takes, and what it
answers becomes words or PCM. Faults are in tests/resilience/test_azure_speech_faults.py."""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET

import pytest

from assistant.config import ConfigError, secret_values
from assistant.errors import TurnError
from assistant.speech import azure_speech
from assistant.speech import azure_speech_wire as wire
from assistant.speech.base import SPEECH_SAMPLE_RATE
from tests.audio_factory import pcm16, speech_like, wav
from tests.speech.azure_speech_double import SSML_NS, running_double
from tests.support import isolate_env, make_settings

pytestmark = pytest.mark.timeout(60)

KEY = "speech-key-123"


@pytest.fixture
def speech_double():
    yield from running_double()


@pytest.fixture
def settings_for(tmp_path, monkeypatch):
    isolate_env(monkeypatch)

    def build(double, **overrides):
        overrides.setdefault("azure_speech_endpoint", double.url)
        overrides.setdefault("azure_speech_key", KEY)
        return make_settings(tmp_path, **overrides)

    return build


def parts(settings, token_provider=None):
    connection = wire.connect(settings, token_provider=token_provider)
    return (
        azure_speech.AzureSpeechTranscriber(settings, connection),
        azure_speech.AzureSpeechSynthesizer(settings, connection),
    )


def question(seconds=1.5, rate=22050) -> bytes:
    return wav(pcm16(speech_like(seconds, rate)), rate=rate)


# -- hearing ---------------------------------------------------------------------------------------


def test_short_audio_hears_the_question_as_a_16_khz_wav_with_the_language(
    speech_double, settings_for
):
    settings = settings_for(speech_double, voicedesk_speech_language="en-GB")
    ears, _ = parts(settings)
    heard = ears.transcribe(question(rate=22050))
    assert heard.text == speech_double.transcript
    assert heard.audio_seconds == pytest.approx(1.5, abs=0.01)
    (sent,) = speech_double.requests("/recognition/conversation/cognitiveservices/v1")
    assert sent["path"].startswith("/stt/")  # the custom-domain form of the address
    assert sent["args"] == {"language": "en-GB", "format": "simple"}
    assert sent["headers"]["Content-Type"] == "audio/wav; codecs=audio/pcm; samplerate=16000"
    assert sent["headers"]["Ocp-Apim-Subscription-Key"] == KEY
    assert "Authorization" not in sent["headers"]
    assert ears.vendor == "azure_speech" and ears.model == "en-GB"


def test_fast_transcription_sends_the_audio_and_a_definition_with_the_locale(
    speech_double, settings_for
):
    settings = settings_for(speech_double, voicedesk_azure_stt="fast")
    ears, _ = parts(settings)
    assert ears.transcribe(question()).text == speech_double.transcript
    (sent,) = speech_double.requests("/speechtotext/transcriptions:transcribe")
    assert sent["args"] == {"api-version": "2024-11-15"}
    assert sent["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert not speech_double.requests("/cognitiveservices/v1")


def test_auto_takes_short_audio_under_a_minute_and_fast_transcription_from_a_minute(
    speech_double, settings_for
):
    ears, _ = parts(settings_for(speech_double))  # VOICEDESK_AZURE_STT defaults to auto
    ears.transcribe(question(5.0, rate=16000))
    ears.transcribe(question(61.0, rate=16000))
    short = speech_double.requests("/recognition/conversation/cognitiveservices/v1")
    fast = speech_double.requests("/speechtotext/transcriptions:transcribe")
    assert (len(short), len(fast)) == (1, 1)


def test_entra_id_signs_in_with_a_bearer_token_and_sends_no_key(speech_double, settings_for):
    settings = settings_for(speech_double, azure_speech_key=None)
    calls = []

    def token():
        calls.append(1)
        return speech_double.token

    ears, voice = parts(settings, token_provider=token)
    assert ears.transcribe(question()).text == speech_double.transcript
    assert b"".join(voice.stream("Hello there."))
    for sent in speech_double.log:
        assert sent["headers"]["Authorization"] == f"Bearer {speech_double.token}"
        assert "Ocp-Apim-Subscription-Key" not in sent["headers"]
    assert len(calls) == 2  # asked for each request: the provider refreshes expired tokens


def test_entra_id_needs_the_resource_endpoint_and_says_so(settings_for, speech_double):
    settings = settings_for(speech_double, azure_speech_key=None, azure_speech_endpoint=None,
                            azure_speech_region="westeurope")  # fmt: skip
    with pytest.raises(ConfigError, match="AZURE_SPEECH_ENDPOINT"):
        azure_speech.transcriber(settings)


def test_a_region_gives_the_documented_regional_addresses(settings_for, speech_double):
    settings = settings_for(speech_double, azure_speech_endpoint=None,
                            azure_speech_region="West Europe")  # fmt: skip
    c = wire.connect(settings)
    assert c.stt_base + wire.SHORT_PATH == (
        "https://westeurope.stt.speech.microsoft.com"
        "/speech/recognition/conversation/cognitiveservices/v1"
    )
    assert c.tts_base + wire.TTS_PATH == (
        "https://westeurope.tts.speech.microsoft.com/cognitiveservices/v1"
    )
    assert c.api_base + wire.FAST_PATH == (
        "https://westeurope.api.cognitive.microsoft.com/speechtotext/transcriptions:transcribe"
    )


# -- speaking --------------------------------------------------------------------------------------


def test_speech_is_ssml_with_the_voice_language_and_rate_in_raw_24_khz_pcm(
    speech_double, settings_for
):
    settings = settings_for(speech_double, voicedesk_speech_rate="+10%",
                            voicedesk_azure_voice="en-GB-SoniaNeural")  # fmt: skip
    _, voice = parts(settings)
    pcm = b"".join(voice.stream("Your balance is $12.50."))
    (sent,) = speech_double.requests("/tts/cognitiveservices/v1")
    headers = sent["headers"]
    assert headers["Content-Type"] == "application/ssml+xml"
    assert headers["X-Microsoft-OutputFormat"] == "raw-24khz-16bit-mono-pcm"
    assert headers["User-Agent"]
    root = ET.fromstring(voice.ssml("Your balance is $12.50."))
    assert root.tag == f"{{{SSML_NS}}}speak" and root.get("version") == "1.0"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-US"
    (voice_element,) = root
    assert voice_element.get("name") == "en-GB-SoniaNeural"
    assert voice_element[0].get("rate") == "+10%"
    assert speech_double.spoken == ["Your balance is $12.50."]
    seconds = len(pcm) / 2 / SPEECH_SAMPLE_RATE
    assert seconds == pytest.approx(len("Your balance is $12.50.") * 0.06, abs=0.01)


@pytest.mark.parametrize(
    "hostile",
    [
        '</prosody></voice><voice name="de-DE-KatjaNeural">Ich bin jemand anders',
        "Tom & Jerry <break time='10s'/> say 2 < 3 > 1",
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>&a;",
        ']]><speak xmlns="http://www.w3.org/2001/10/synthesis">',
        "bell\x07 and null\x00 characters",
    ],
    ids=["closes-the-voice", "markup-and-ampersand", "doctype-entity", "cdata-end", "controls"],
)
def test_hostile_text_is_spoken_as_words_not_obeyed_as_ssml(speech_double, settings_for, hostile):
    _, voice = parts(settings_for(speech_double))
    assert b"".join(voice.stream(hostile))
    expected = "".join(ch for ch in hostile if ord(ch) >= 0x20)
    assert speech_double.spoken == [expected]  # one voice, the whole text, as text
    (sent,) = speech_double.requests("/tts/cognitiveservices/v1")
    assert sent["method"] == "POST"


def test_speech_arrives_in_chunks_and_the_first_before_the_rest_is_sent(
    speech_double, settings_for
):
    _, voice = parts(settings_for(speech_double))
    speech_double.hold_after_first = threading.Event()
    chunks = []
    for chunk in voice.stream("A long answer that takes a few seconds to say out loud."):
        if not chunks:
            assert not speech_double.finished.is_set()  # the rest is still to come
            speech_double.hold_after_first.set()
        chunks.append(chunk)
    assert len(chunks) > 1
    assert speech_double.finished.is_set()


def test_chunks_hold_whole_samples_when_the_network_splits_one(speech_double, settings_for):
    speech_double.chunk_bytes = 4801  # odd: every chunk but the last splits a sample
    _, voice = parts(settings_for(speech_double))
    chunks = list(voice.stream("Odd sizes on the wire."))
    assert all(len(c) % 2 == 0 for c in chunks)
    assert sum(map(len, chunks)) == int(len("Odd sizes on the wire.") * 0.06 * 24000) * 2


# -- settings, config and doctor ----------------------------------------------------------------


def test_the_speech_key_is_scrubbed_like_every_other_secret(settings_for, speech_double):
    settings = settings_for(speech_double, azure_speech_key="sk-speech-9f8e7d")
    assert "sk-speech-9f8e7d" in secret_values(settings)
    shown = " ".join(value for _, value in azure_speech.config_rows(settings))
    assert "sk-speech-9f8e7d" not in shown and "key (AZURE_SPEECH_KEY set)" in shown


@pytest.mark.parametrize(
    "endpoint",
    ["https://name.cognitiveservices.azure.com/?key=abc", "https://user:pw@name.example",
     "http://name.cognitiveservices.azure.com", "name.cognitiveservices.azure.com"],
)  # fmt: skip
def test_an_endpoint_that_could_carry_a_secret_or_goes_unencrypted_is_refused(
    tmp_path, monkeypatch, endpoint
):
    isolate_env(monkeypatch)
    with pytest.raises(ConfigError, match="AZURE_SPEECH_ENDPOINT"):
        make_settings(tmp_path, azure_speech_endpoint=endpoint)


@pytest.mark.parametrize(
    ("name", "value"),
    [("voicedesk_speech_rate", "fast'><x"), ("voicedesk_azure_voice", "<voice>"),
     ("voicedesk_speech_language", "en US"), ("azure_speech_region", "west/europe"),
     ("voicedesk_azure_stt", "batch")],
)  # fmt: skip
def test_a_bad_speech_setting_is_one_sentence_naming_it(tmp_path, monkeypatch, name, value):
    isolate_env(monkeypatch)
    with pytest.raises(ConfigError, match=name.upper()):
        make_settings(tmp_path, **{name: value})


def test_doctor_checks_hearing_and_the_voice_against_the_resource(speech_double, settings_for):
    rows = azure_speech.doctor_rows(settings_for(speech_double))
    assert [(r.tool, r.ok) for r in rows] == [("Speech-to-text", True), ("Text-to-speech", True)]
    assert all(r.where == speech_double.url + "/tts" and r.latency is not None for r in rows)
    missing = settings_for(speech_double, voicedesk_azure_voice="en-US-NobodyNeural")
    row = azure_speech.doctor_rows(missing)[1]
    assert not row.ok and "VOICEDESK_AZURE_VOICE" in row.fix


def test_doctor_gives_up_on_a_silent_resource_within_its_time_limit(speech_double, settings_for):
    speech_double.delay_s = 3.0
    rows = azure_speech.doctor_rows(settings_for(speech_double), timeout=0.5)
    assert [r.ok for r in rows] == [False, False]
    assert all("did not answer within 0.5 seconds" in r.fix for r in rows)


def test_doctor_without_speech_settings_says_what_to_set(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    rows = azure_speech.doctor_rows(make_settings(tmp_path))
    assert all(not r.ok and "AZURE_SPEECH_KEY" in r.fix for r in rows)


def test_neither_the_key_nor_the_words_reach_the_log(speech_double, settings_for, caplog):
    caplog.set_level(logging.DEBUG)
    ears, voice = parts(settings_for(speech_double))
    ears.transcribe(question())
    b"".join(voice.stream("The secret answer is swordfish."))
    speech_double.fail("/cognitiveservices/v1", 400, body=b'{"error":"swordfish"}')
    with pytest.raises(TurnError):
        b"".join(voice.stream("The secret answer is swordfish."))
    logged = caplog.text
    for secret in (KEY, speech_double.transcript, "swordfish"):
        assert secret not in logged


def test_without_speech_settings_the_parts_say_in_one_sentence_what_to_set(tmp_path, monkeypatch):
    from tests.resilience.support import assert_one_sentence

    isolate_env(monkeypatch)
    settings = make_settings(tmp_path)
    for build in (azure_speech.transcriber, azure_speech.synthesizer):
        with pytest.raises(ConfigError) as caught:
            build(settings)
        assert_one_sentence(str(caught.value))
        assert "AZURE_SPEECH_KEY" in str(caught.value)
