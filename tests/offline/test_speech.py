"""The voices: Piper phrase by phrase, espeak-ng when Piper is missing; both give real speech."""

from __future__ import annotations

import os
import shutil

import pytest

from assistant.offline.tts import TextToSpeech, phrases
from wavcodec import duration_s, rms_dbfs


def test_long_sentences_are_spoken_phrase_by_phrase_at_commas_outside_brackets():
    said = (
        "Maria Lopez played 42 chess games (3,120 points, 56 dollars won), 17 poker games "
        "(980 points, 120 dollars won), 9 ludo games (410 points). Short one."
    )
    assert phrases(said, max_words=14) == [
        "Maria Lopez played 42 chess games (3,120 points, 56 dollars won),",
        "17 poker games (980 points, 120 dollars won), 9 ludo games (410 points).",
        "Short one.",
    ]
    assert " ".join(phrases(said, max_words=5)) == said  # nothing lost, brackets kept whole


def test_espeak_ng_speaks_when_piper_is_not_there():
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("espeak-ng is not installed (CI must install it)")
        pytest.skip("espeak-ng is not installed")
    tts = TextToSpeech(prefer="espeak")
    wav = tts.wav("Grievance G R V 12 is in progress.")
    assert tts.engine == "espeak-ng"
    assert duration_s(wav) > 1.0 and rms_dbfs(wav) > -35.0


@pytest.mark.offline_models
def test_piper_speaks_a_long_answer_without_gaps_or_silence(real_engine):
    text = "Maria Lopez played 42 chess games (3,120 points), 17 poker games (980 points)."
    wav = real_engine.tts.wav(text)
    assert real_engine.tts.engine == "piper"
    assert duration_s(wav) > 3.0 and rms_dbfs(wav) > -35.0
