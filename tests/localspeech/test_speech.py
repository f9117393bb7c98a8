"""The voices: Piper phrase by phrase, espeak-ng when Piper is missing; both give real speech."""

from __future__ import annotations

import os
import shutil

import pytest

from localspeech.tts import TextToSpeech, phrases
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


@pytest.mark.parametrize(
    ("setting", "threads"), [(None, 2), ("1", 1), ("3", 3), ("0", 2), ("x", 2)]
)
def test_whisper_runs_on_omp_num_threads_when_it_is_a_positive_number(
    setting, threads, monkeypatch
):
    from localspeech.stt import cpu_threads

    if setting is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", setting)
    assert cpu_threads() == threads


@pytest.mark.offline_models
def test_piper_streams_each_sentence_at_24_khz_in_order_and_not_silent(real_engine):
    import numpy as np

    sentences = ["Maria Lopez played 42 chess games.", "Two tickets are open.", "Goodbye."]
    pieces = list(real_engine.tts.stream(sentences))
    assert [n for n, _ in pieces] == sorted(n for n, _ in pieces)
    assert {n for n, _ in pieces} == {0, 1, 2}
    pcm = np.frombuffer(b"".join(p for _, p in pieces), "<i2").astype(np.float32) / 32768
    whole = real_engine.tts.wav(" ".join(sentences))
    # The same words at 24 kHz rather than 22.05 kHz: about as long (Piper varies a little).
    assert len(pcm) / 24_000 == pytest.approx(duration_s(whole), rel=0.25)
    assert 20 * np.log10(np.sqrt(np.mean(pcm**2))) > -35.0
