"""Faults of Azure AI Speech, injected through its REST double: each is one plain sentence for
the user, and the very same part (no restart, no new connection) hears or speaks again once the
service recovers. The cascade's other parts have their own fault suites."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from assistant.errors import TurnError
from assistant.speech import azure_speech
from assistant.speech import azure_speech_wire as wire
from tests.audio_factory import pcm16, speech_like, wav
from tests.resilience.support import assert_one_sentence
from tests.speech.azure_speech_double import AzureSpeechDouble, running_double
from tests.support import isolate_env, make_settings

pytestmark = pytest.mark.timeout(120)

TIMEOUT_S = 1.0  # VOICEDESK_REQUEST_TIMEOUT here
QUESTION = wav(pcm16(speech_like(1.5, 16000)), rate=16000)
SILENCE = wav(b"\x00\x00" * 16000, rate=16000)
SHORT, FAST, SPEAK = (
    "/recognition/conversation/cognitiveservices/v1",
    "/speechtotext/transcriptions:transcribe",
    "/tts/cognitiveservices/v1",
)


@pytest.fixture
def speech_double():
    yield from running_double()


@dataclass(frozen=True)
class Fault:
    name: str
    part: str  # "hear", "hear-fast" or "speak"
    arrange: Callable[[AzureSpeechDouble], object]
    says: str  # a regex the sentence must match
    recording: bytes = QUESTION  # what is sent while the fault lasts (hearing only)
    entra: bool = False


def _stop(double: AzureSpeechDouble) -> None:
    double.stop()  # nothing listens on the port: connections are refused


def _set(**attrs) -> Callable[[AzureSpeechDouble], None]:
    return lambda double: [setattr(double, k, v) for k, v in attrs.items()]


AUTH = r"refused the key; check AZURE_SPEECH_KEY and that AZURE_SPEECH_REGION"
FAULTS = [
    Fault("hear 401 wrong key", "hear", lambda d: d.fail(SHORT, 401), AUTH),
    Fault("hear 403 no key", "hear", lambda d: d.fail(SHORT, 403), AUTH),
    Fault("speak 401 wrong key", "speak", lambda d: d.fail(SPEAK, 401), AUTH),
    Fault("hear-fast 401 wrong key", "hear-fast", lambda d: d.fail(FAST, 401), AUTH),
    Fault("entra 401 sign-in refused", "hear", lambda d: d.fail(SHORT, 401),
          r"refused the Entra ID sign-in; give this identity the Cognitive Services Speech User",
          entra=True),
    Fault("entra token unavailable", "speak", _set(token_broken=True),
          r"could not sign in to Azure AI Speech with Entra ID", entra=True),
    Fault("hear 429 with Retry-After", "hear",
          lambda d: d.fail(SHORT, 429, headers={"Retry-After": "7"}), r"rate limit\); wait 7 seconds"),
    Fault("speak 429 without Retry-After", "speak", lambda d: d.fail(SPEAK, 429),
          r"rate limit\); wait a few seconds"),
    Fault("hear-fast 429 with Retry-After", "hear-fast",
          lambda d: d.fail(FAST, 429, headers={"Retry-After": "2"}), r"wait 2 seconds"),
    Fault("404 wrong endpoint", "speak", lambda d: d.fail(SPEAK, 404),
          r"no such address; check AZURE_SPEECH_REGION or AZURE_SPEECH_ENDPOINT"),
    Fault("hear 500", "hear", lambda d: d.fail(SHORT, 500), r"problem on its side"),
    Fault("speak 502", "speak", lambda d: d.fail(SPEAK, 502), r"problem on its side"),
    Fault("hear-fast 503", "hear-fast", lambda d: d.fail(FAST, 503), r"problem on its side"),
    Fault("speak 400 bad SSML or voice", "speak", lambda d: d.fail(SPEAK, 400),
          r"could not speak this answer; check VOICEDESK_AZURE_VOICE"),
    Fault("hear 400 language", "hear", lambda d: d.fail(SHORT, 400),
          r"check VOICEDESK_SPEECH_LANGUAGE"),
    Fault("hear timeout", "hear", _set(delay_s=2.5), r"took too long to answer"),
    Fault("speak timeout", "speak", _set(delay_s=2.5), r"took too long to answer"),
    Fault("connection refused", "hear", _stop,
          r"cannot be reached; check AZURE_SPEECH_REGION or AZURE_SPEECH_ENDPOINT"),
    Fault("speech cut off midway", "speak", _set(cut_after_chunks=2),
          r"stopped partway through the answer"),
    Fault("speech with no audio", "speak", _set(empty_audio=True), r"returned no audio"),
    Fault("recognition NoMatch", "hear", _set(status_override="NoMatch"),
          r"^I didn't catch any words"),
    Fault("recognition Error status", "hear", _set(status_override="Error"),
          r"problem on its side"),
    Fault("silence: InitialSilenceTimeout", "hear", lambda d: None, r"^I didn't catch any words",
          recording=SILENCE),
    Fault("silence: fast transcription finds no phrase", "hear-fast", lambda d: None,
          r"^I didn't catch any words", recording=SILENCE),
    Fault("unreadable recognition", "hear", lambda d: d.fail(SHORT, 200, body=b"<html>"),
          r"could not read; try again"),
    Fault("unreadable fast transcription", "hear-fast",
          lambda d: d.fail(FAST, 200, body=b'{"combinedPhrases": "x"}'), r"could not read"),
    Fault("over a minute for short audio only", "hear", lambda d: None,
          r"longer than the 60 seconds .* set VOICEDESK_AZURE_STT to auto",
          recording=wav(pcm16(speech_like(61.0, 8000)), rate=8000)),
    Fault("broken audio", "hear", lambda d: None, r"damaged and cannot be read",
          recording=b"RIFF\x10\x00\x00\x00WAVEjunk"),
]  # fmt: skip


def _parts(double: AzureSpeechDouble, tmp_path, fault: Fault):
    settings = make_settings(
        tmp_path,
        azure_speech_endpoint=double.url,
        azure_speech_key=None if fault.entra else double.key,
        voicedesk_request_timeout=TIMEOUT_S,
        voicedesk_azure_stt="fast" if fault.part == "hear-fast" else "short",
    )

    def token() -> str:
        if getattr(double, "token_broken", False):
            raise RuntimeError("DefaultAzureCredential failed to retrieve a token")
        return double.token

    connection = wire.connect(settings, token_provider=token if fault.entra else None)
    if fault.part == "speak":
        voice = azure_speech.AzureSpeechSynthesizer(settings, connection)
        return lambda recording: b"".join(voice.stream("Your balance is 12 points."))
    ears = azure_speech.AzureSpeechTranscriber(settings, connection)
    return lambda recording: ears.transcribe(recording).text


def _heal(double: AzureSpeechDouble) -> None:
    double.heal()
    double.token_broken = False
    if not double.server.is_running():
        double.start()  # the same port again


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_each_azure_speech_fault_is_one_sentence_and_the_same_part_works_again(
    speech_double, tmp_path, monkeypatch, fault
):
    isolate_env(monkeypatch)
    use = _parts(speech_double, tmp_path, fault)
    fault.arrange(speech_double)
    with pytest.raises(TurnError) as caught:
        use(fault.recording)
    sentence = str(caught.value)
    assert_one_sentence(sentence)
    assert re.search(fault.says, sentence), sentence
    _heal(speech_double)
    assert use(QUESTION)  # the same part, the same recording (or a spoken one) now works


def test_a_voice_the_resource_does_not_offer_is_refused_in_one_sentence(
    speech_double, tmp_path, monkeypatch
):
    isolate_env(monkeypatch)
    settings = make_settings(tmp_path, azure_speech_endpoint=speech_double.url,
                             azure_speech_key=speech_double.key,
                             voicedesk_azure_voice="en-US-NobodyNeural")  # fmt: skip
    with pytest.raises(TurnError) as caught:
        list(azure_speech.synthesizer(settings).stream("Hello."))
    assert_one_sentence(str(caught.value))
    assert "VOICEDESK_AZURE_VOICE" in str(caught.value)
    assert speech_double.violations == ["SSML: unknown voice 'en-US-NobodyNeural'"]
    speech_double.violations.clear()


def test_audio_already_played_is_kept_when_the_speech_is_cut_off(
    speech_double, tmp_path, monkeypatch
):
    isolate_env(monkeypatch)
    voice = azure_speech.synthesizer(
        make_settings(tmp_path, azure_speech_endpoint=speech_double.url,
                      azure_speech_key=speech_double.key)
    )  # fmt: skip
    speech_double.cut_after_chunks = 2
    got = []
    with pytest.raises(TurnError, match="stopped partway"):
        for chunk in voice.stream("A long answer that is cut off after two chunks of audio."):
            got.append(chunk)
    assert sum(map(len, got)) == 2 * speech_double.chunk_bytes
