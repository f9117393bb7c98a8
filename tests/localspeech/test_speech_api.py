"""`POST /v1/audio/speech` on the offline engine: OpenAI's CreateSpeechRequest, answered with raw
PCM16 at 24 kHz as each sentence is voiced (or a WAV), through the real SDK and the loopback
server. The voice here is a stand-in; tests/modes/test_cascade_local.py uses Piper."""

from __future__ import annotations

import io
import threading
import wave

import numpy as np
import openai
import pytest

from localspeech.engine import OfflineEngine
from localspeech.tts import TextToSpeech
from tests.localspeech.doubles import ScriptedHearing, ToneSpeaker, tone_wav
from tests.localspeech.helpers import Served
from tests.resilience.support import assert_one_sentence

TEXT = "Maria played twelve games. She won most of them. Well done!"


class GatedSpeaker(ToneSpeaker):
    """Says the first sentence at once and the second only once `go_on` is set."""

    def __init__(self) -> None:
        self.go_on = threading.Event()
        self.released: bool | None = None
        self.said = 0

    def wav(self, text: str) -> bytes:
        self.said += 1
        if self.said == 2:
            self.released = self.go_on.wait(20)
        return tone_wav(0.3 * max(1, len(text.split())), rate=22_050)


@pytest.fixture
def served():
    speaker = GatedSpeaker()
    engine = OfflineEngine(stt=ScriptedHearing(), tts=TextToSpeech(loader=lambda: speaker))
    server = Served(engine)
    yield server, speaker
    speaker.go_on.set()
    server.close()


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="offline", base_url=url, max_retries=0, timeout=30)


def test_speech_is_raw_pcm_sent_as_each_sentence_is_voiced(served):
    server, speaker = served
    create = client(server.url).audio.speech.with_streaming_response.create
    with create(model="piper", voice="alloy", input=TEXT, response_format="pcm") as response:
        assert response.headers["content-type"] == "audio/pcm"
        pieces = response.iter_bytes()
        first = next(pieces)
        speaker.go_on.set()  # only reached if the first sentence came before the second was said
        pcm = first + b"".join(pieces)
    assert speaker.released is True, "the first sentence was sent while the second waited"
    assert len(pcm) % 2 == 0 and len(pcm) > 24_000 * 2 * 0.3 * 10, "all three sentences"
    assert np.abs(np.frombuffer(pcm, "<i2")).max() > 1000, "not silence"


def test_speech_as_wav_is_24_khz_mono_pcm16(served):
    server, speaker = served
    speaker.go_on.set()
    data = client(server.url).audio.speech.create(model="piper", voice="joe", input="Hello there.",
                                                  response_format="wav").read()  # fmt: skip
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (24_000, 1, 2)
        assert reader.getnframes() > 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "piper", "voice": "joe", "input": "Hi.", "response_format": "mp3"},
         "response_format"),
        ({"model": "piper", "voice": "joe", "input": "  "}, "input"),
        ({"model": "piper", "input": "Hi.", "response_format": "pcm"}, "voice"),
        ({"model": "piper", "voice": "joe", "input": "Hi.", "response_format": "pcm",
          "pitch": 2}, "pitch"),
        ({"model": "piper", "voice": "joe", "input": "x" * 4097, "response_format": "pcm"},
         "input"),
    ],  # fmt: skip
    ids=["mp3", "blank input", "no voice", "unknown field", "too long"],
)
def test_a_request_the_engine_cannot_honour_is_a_400_in_one_sentence(served, body, param):
    server, _ = served
    with pytest.raises(openai.BadRequestError) as caught:
        client(server.url).post("/audio/speech", body=body, cast_to=bytes)
    error = caught.value.body
    assert error["param"] == param
    assert_one_sentence(error["message"])
