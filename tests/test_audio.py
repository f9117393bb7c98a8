"""assistant.audio: tolerant WAV reading, normalisation to 16 kHz mono 16-bit, kind refusals."""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import wave

import numpy as np
import pytest

import wavcodec
from assistant import audio
from assistant.audio import TARGET_RATE, AudioError, normalise, read_wav_pcm, wav_bytes
from tests.audio_factory import (
    ALAW,
    EXTENSIBLE,
    FLOAT,
    MULAW,
    ODD_RECORDINGS,
    PCM,
    alaw,
    chunk,
    float32,
    float64,
    fmt_chunk,
    mulaw,
    pcm8,
    pcm16,
    pcm24,
    pcm32,
    riff,
    speech_like,
    stereo,
    tone,
    wav,
)

CODES = {
    "empty",
    "not_audio",
    "unsupported_encoding",
    "no_channels",
    "too_short",
    "too_long",
    "silent",
    "malformed",
}
ODD = {odd.name: odd for odd in ODD_RECORDINGS}


def samples_of(wav_data: bytes) -> np.ndarray:
    """The float samples of one of our canonical WAVs (44-byte header)."""
    return np.frombuffer(wav_data[44:], "<i2").astype(np.float64) / 32768


def assert_canonical(wav_data: bytes) -> None:
    riff_id, riff_size, wave_id = struct.unpack_from("<4sI4s", wav_data)
    assert (riff_id, wave_id, riff_size) == (b"RIFF", b"WAVE", len(wav_data) - 8)
    fmt_id, fmt_size, tag, channels, rate, byte_rate, block, bits = struct.unpack_from(
        "<4sIHHIIHH", wav_data, 12
    )
    assert (fmt_id, fmt_size, tag, channels, rate) == (b"fmt ", 16, 1, 1, TARGET_RATE)
    assert (byte_rate, block, bits) == (2 * TARGET_RATE, 2, 16)
    data_id, data_size = struct.unpack_from("<4sI", wav_data, 36)
    assert (data_id, data_size) == (b"data", len(wav_data) - 44)
    with wave.open(io.BytesIO(wav_data)) as w:  # an independent reader agrees
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, TARGET_RATE)
        assert w.getnframes() == (len(wav_data) - 44) // 2


def assert_one_plain_sentence(text: str) -> None:
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text
    assert not re.search(r"[.!?]\s+[A-Z]", text), f"more than one sentence: {text!r}"
    assert 20 < len(text) < 200


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    i = int(np.argmax(spectrum))
    a, b, c = spectrum[i - 1], spectrum[i], spectrum[i + 1]  # parabolic interpolation
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(x)


def level_at(x: np.ndarray, rate: int, freq: float) -> float:
    """Spectral magnitude near `freq` (+-20 Hz), in the units of a Hann-windowed rfft."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    lo, hi = (int((freq + d) * len(x) / rate) for d in (-20, 20))
    return float(spectrum[lo : hi + 1].max())


def need_soxr() -> None:
    """soxr is a requirement; locally it may be missing (the numpy fallback runs), not in CI."""
    if wavcodec._soxr is not None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("soxr is not installed (pip install soxr==1.1.0)")
    pytest.skip("soxr is not installed; the numpy fallback is tested instead")


@pytest.fixture(params=["soxr", "numpy_fft"])
def resampler(request, monkeypatch):
    """Run a test with each resampler: libsoxr, and the numpy fallback used without it."""
    if request.param == "soxr":
        need_soxr()
    else:
        monkeypatch.setattr(wavcodec, "_soxr", None)
    return request.param


# --------------------------------------------------------------------------------------------
# The catalogue of odd recordings


def test_catalogue_covers_every_outcome():
    assert len(ODD_RECORDINGS) >= 20
    assert len(ODD) == len(ODD_RECORDINGS), "names must be unique"
    assert {o.expect_code for o in ODD_RECORDINGS} == CODES | {None}


@pytest.mark.parametrize("odd", ODD_RECORDINGS, ids=lambda o: o.name)
def test_odd_recording_gets_its_expected_outcome(odd):
    if odd.expect_code is None:
        rec = normalise(odd.data)
        assert_canonical(rec.wav)
        assert rec.sha256 == hashlib.sha256(rec.wav).hexdigest()
        assert rec.seconds == (len(rec.wav) - 44) / 2 / TARGET_RATE
        assert abs(rec.seconds - odd.seconds) <= 1 / TARGET_RATE + 1e-9
        assert 0.01 < rec.rms < 1
        assert rec.source_channels >= 1 and rec.source_rate >= 8000
    else:
        with pytest.raises(AudioError) as caught:
            normalise(odd.data)
        assert caught.value.code == odd.expect_code, caught.value.detail
        assert str(caught.value) == caught.value.sentence
        assert_one_plain_sentence(caught.value.sentence)


@pytest.mark.parametrize("code", sorted(CODES))
def test_default_sentences_are_one_plain_sentence(code):
    exc = AudioError(code)
    assert str(exc) == exc.sentence == audio.SENTENCES[code]
    assert_one_plain_sentence(exc.sentence)


def test_mutated_files_are_accepted_or_refused_never_crash():
    """Truncations and byte flips of a good file end in a Recording or an AudioError."""
    rng = np.random.default_rng(11)
    good = wav(pcm16(stereo(speech_like(0.5, 8000), speech_like(0.5, 8000))), channels=2, rate=8000)
    candidates = [good[:n] for n in range(0, 120)]
    for _ in range(400):
        data = bytearray(good)
        for at in rng.integers(0, 60, rng.integers(1, 4)):  # the header is where it hurts
            data[at] = rng.integers(0, 256)
        candidates.append(bytes(data))
    outcomes = set()
    for data in candidates:
        try:
            normalise(data)
            outcomes.add(None)
        except AudioError as exc:
            assert exc.code in CODES
            assert_one_plain_sentence(exc.sentence)
            outcomes.add(exc.code)
    assert None in outcomes and len(outcomes) >= 4  # the mutations really vary the outcome


# --------------------------------------------------------------------------------------------
# Resampling


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 24000, 32000, 44100, 48000, 96000])
def test_resampling_keeps_a_tones_frequency_and_level(rate, resampler):
    rec = normalise(wav(pcm16(tone(440, 2.0, rate, amplitude=0.7)), rate=rate))
    y = samples_of(rec.wav)
    assert rec.gain_db == 0.0
    assert abs(len(y) - 2 * TARGET_RATE) <= 1
    assert peak_frequency(y, TARGET_RATE) == pytest.approx(440, abs=0.5)
    middle = y[1600:-1600]  # away from the filter's edges
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.7 / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize(("rate", "high"), [(48000, 12000), (44100, 9500), (96000, 30000)])
def test_resampling_filters_out_what_would_alias(rate, high, resampler):
    """A tone above 8 kHz must vanish, not fold back into the speech band."""
    x = tone(440, 1.0, rate, 0.4) + tone(high, 1.0, rate, 0.4)
    y = samples_of(normalise(wav(pcm16(x), rate=rate)).wav)
    alias = abs(TARGET_RATE - high % TARGET_RATE) if high % TARGET_RATE > 8000 else high % 16000
    wanted = level_at(y, TARGET_RATE, 440)
    assert level_at(y, TARGET_RATE, alias) < wanted * 10 ** (-60 / 20)


def test_resamplers_agree():
    need_soxr()
    x = speech_like(1.0, 44100).astype(np.float32)
    with_soxr = wavcodec.resample(x, 44100)
    fallback = wavcodec._resample_fft(x, 44100, TARGET_RATE)
    assert abs(len(with_soxr) - len(fallback)) <= 1
    n = min(len(with_soxr), len(fallback))
    error = with_soxr[200 : n - 200] - fallback[200 : n - 200]
    assert np.sqrt(np.mean(error**2)) < 0.01 * np.sqrt(np.mean(with_soxr**2))


@pytest.mark.parametrize("seconds", [0.3, 0.77, 1.0, 2.3456])
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_duration_is_kept_within_one_frame(seconds, rate):
    frames = int(seconds * rate)
    rec = normalise(wav(pcm16(speech_like(frames / rate, rate))[: 2 * frames], rate=rate))
    assert abs(rec.seconds - frames / rate) <= 1 / TARGET_RATE + 1e-9


# --------------------------------------------------------------------------------------------
# Decoding


def test_stereo_is_downmixed_by_averaging():
    left, right = tone(440, 1.0, 16000, 0.6), tone(1000, 1.0, 16000, 0.2)
    x, rate = read_wav_pcm(wav(pcm16(stereo(left, right)), channels=2))
    expected = (np.rint(left * 32768) + np.rint(right * 32768)) / 2 / 32768
    assert rate == 16000 and x.dtype == np.float32
    assert np.max(np.abs(x - expected)) < 1e-6


def test_six_channels_are_averaged():
    channels = [tone(100 * (c + 1), 0.5, 16000, 0.1 * (c + 1)) for c in range(6)]
    x, _ = read_wav_pcm(wav(pcm16(np.stack(channels, axis=1)), channels=6))
    expected = np.mean([np.rint(c * 32768) / 32768 for c in channels], axis=0)
    assert np.max(np.abs(x - expected)) < 1e-6


def test_stereo_48k_normalises_to_the_average_of_its_channels():
    left = speech_like(1.0, 48000, peak=0.8)
    rec = normalise(wav(pcm16(stereo(left, 0.5 * left)), channels=2, rate=48000))
    mono_rec = normalise(wav(pcm16(0.75 * left), rate=48000))
    assert (rec.source_channels, rec.source_rate, rec.source_format) == (2, 48000, "pcm16")
    assert np.max(np.abs(samples_of(rec.wav) - samples_of(mono_rec.wav))) <= 2 / 32768


SIGNAL = speech_like(1.0, 8000, peak=0.8)
FORMATS = [
    # name, WAV, tolerance against the 16-bit decoding (absolute + relative to the sample)
    ("pcm8", wav(pcm8(SIGNAL), rate=8000, bits=8), 1 / 256 + 1e-4, 0),
    ("pcm24", wav(pcm24(SIGNAL), rate=8000, bits=24), 2e-5, 0),
    ("pcm32", wav(pcm32(SIGNAL), rate=8000, bits=32), 2e-5, 0),
    ("float32", wav(float32(SIGNAL), tag=FLOAT, rate=8000, bits=32), 2e-5, 0),
    ("float64", wav(float64(SIGNAL), tag=FLOAT, rate=8000, bits=64), 2e-5, 0),
    ("mulaw", wav(mulaw(SIGNAL), tag=MULAW, rate=8000, bits=8), 3e-4, 0.035),
    ("alaw", wav(alaw(SIGNAL), tag=ALAW, rate=8000, bits=8), 6e-4, 0.035),
    (
        "extensible_pcm24",
        wav(pcm24(SIGNAL), tag=EXTENSIBLE, rate=8000, bits=24, sub_tag=PCM),
        2e-5,
        0,
    ),
    (
        "extensible_float32",
        wav(float32(SIGNAL), tag=EXTENSIBLE, rate=8000, bits=32, sub_tag=FLOAT),
        2e-5,
        0,
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "absolute", "relative"), FORMATS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_encoding_decodes_to_the_16_bit_waveform(name, data, absolute, relative):
    reference, _ = read_wav_pcm(wav(pcm16(SIGNAL), rate=8000))
    x, rate = read_wav_pcm(data)
    assert rate == 8000 and len(x) == len(reference)
    error = np.abs(x.astype(np.float64) - reference)
    assert np.all(error <= absolute + relative * np.abs(reference)), float(error.max())


def test_every_encoding_normalises_to_nearly_the_same_recording():
    reference = samples_of(normalise(wav(pcm16(SIGNAL), rate=8000)).wav)
    for name, data, _, _ in FORMATS:
        rec = normalise(data)
        error = samples_of(rec.wav) - reference
        limit = 0.05 if name in ("pcm8", "mulaw", "alaw") else 0.002  # 8-bit formats are coarser
        assert np.sqrt(np.mean(error**2)) < limit * np.sqrt(np.mean(reference**2)), name


def test_g711_tables_match_the_standards_known_values():
    # mu-law 0xFF/0x7F are +-0, 0x80 is the largest positive step; A-law 0xD5 is +8 (of 32768).
    assert wavcodec._MULAW[0xFF] == 0 and wavcodec._MULAW[0x7F] == 0
    assert wavcodec._MULAW[0x80] * 32768 == 32124 and wavcodec._MULAW[0x00] * 32768 == -32124
    assert wavcodec._ALAW[0xD5] * 32768 == 8 and wavcodec._ALAW[0x55] * 32768 == -8
    assert wavcodec._ALAW[0xAA] * 32768 == 32256


def test_float_nan_and_inf_become_silence_not_a_crash():
    x = speech_like(1.0)
    x[500:600] = np.nan
    x[700] = np.inf
    decoded, _ = read_wav_pcm(wav(float32(x), tag=FLOAT, bits=32))
    assert np.isfinite(decoded).all()
    assert np.all(decoded[500:600] == 0) and decoded[700] == 0


# --------------------------------------------------------------------------------------------
# Sizes that lie: decode what is there


SPEECH = speech_like(1.5)
SPEECH16 = pcm16(SPEECH)
EXPECTED = np.frombuffer(SPEECH16, "<i2") / 32768


@pytest.mark.parametrize(
    ("name", "frames"),
    [
        ("cut_mid_data", 16000),
        ("data_size_zero_streaming", 24000),
        ("sizes_ffffffff", 24000),
        ("data_size_larger_than_file", 24000),
        ("riff_size_wrong", 24000),
        ("odd_data_length", 12000),
        ("odd_chunk_with_pad", 24000),
        ("odd_chunk_missing_pad", 24000),
        ("odd_data_chunk_then_list", 24000),
        ("chunk_size_lies_before_data", 24000),
        ("fmt_after_data", 24000),
        ("rf64", 24000),
    ],
)
def test_sizes_that_lie_decode_exactly_what_is_there(name, frames):
    x, rate = read_wav_pcm(ODD[name].data)
    assert rate == 16000
    np.testing.assert_array_equal(x, EXPECTED[:frames].astype(np.float32))


def test_a_zero_size_data_chunk_followed_by_a_chunk_is_empty_not_misread():
    data = riff(fmt_chunk(), chunk(b"data", b""), chunk(b"LIST", b"INFOISFT" + bytes(8)))
    with pytest.raises(AudioError) as caught:
        normalise(data)
    assert caught.value.code == "empty"


# --------------------------------------------------------------------------------------------
# Level, silence and limits


def test_quiet_speech_is_gain_normalised_not_refused():
    quiet = speech_like(1.5, peak=10 ** (-50 / 20))
    rec = normalise(wav(pcm16(quiet)))
    y = samples_of(rec.wav)
    assert np.max(np.abs(y)) == pytest.approx(audio.TARGET_PEAK, rel=0.01)
    assert rec.gain_db == pytest.approx(44, abs=0.5)
    assert np.corrcoef(y, quiet)[0, 1] > 0.99  # same waveform, louder


def test_well_levelled_recording_is_left_bit_exact():
    data = wav(pcm16(speech_like(1.5, peak=0.7)))
    rec = normalise(data)
    assert rec.wav == data and rec.gain_db == 0.0


def test_float_over_full_scale_is_scaled_down_not_clipped():
    rec = normalise(wav(float32(4 * SPEECH), tag=FLOAT, bits=32))
    y = samples_of(rec.wav)
    assert np.max(np.abs(y)) == pytest.approx(audio.FULL_SCALE_PEAK, abs=1e-3)
    assert np.corrcoef(y, SPEECH)[0, 1] > 0.9999


def test_dc_offset_is_removed():
    rec = normalise(wav(pcm16(0.6 * SPEECH + 0.2)))
    assert abs(samples_of(rec.wav).mean()) < 1e-4


@pytest.mark.parametrize("name", [o.name for o in ODD_RECORDINGS if o.expect_code is None])
def test_normalising_twice_changes_nothing(name):
    first = normalise(ODD[name].data)
    second = normalise(first.wav)
    assert second.wav == first.wav and second.sha256 == first.sha256


def test_same_input_gives_same_hash_and_different_input_a_different_one():
    a, b = normalise(ODD["stereo_48k"].data), normalise(ODD["stereo_48k"].data)
    assert a.sha256 == b.sha256
    assert normalise(ODD["mono_8k"].data).sha256 != a.sha256


def test_rms_is_of_the_normalised_signal():
    rec = normalise(wav(pcm16(tone(440, 1.0, amplitude=0.7))))
    assert rec.rms == pytest.approx(0.7 / np.sqrt(2), rel=1e-3)


def test_too_long_says_the_limit():
    data = wav(pcm16(speech_like(10.0)))
    with pytest.raises(AudioError) as caught:
        normalise(data, max_seconds=5)
    assert caught.value.code == "too_long"
    assert "10 seconds" in caught.value.sentence and "5 seconds" in caught.value.sentence
    with pytest.raises(AudioError) as caught:
        normalise(ODD["ten_minutes"].data)
    assert "10 minutes" in caught.value.sentence and "60 seconds" in caught.value.sentence
    assert normalise(data, max_seconds=10.0).seconds == 10.0


def test_min_seconds_is_honoured():
    data = wav(pcm16(speech_like(0.2)))
    with pytest.raises(AudioError) as caught:
        normalise(data)
    assert caught.value.code == "too_short" and "0.2 seconds" in caught.value.sentence
    assert normalise(data, min_seconds=0.1).seconds == pytest.approx(0.2)


def test_not_audio_names_what_it_is_when_it_can():
    with pytest.raises(AudioError) as caught:
        normalise(ODD["mp3_id3"].data)
    assert "MP3" in caught.value.sentence
    with pytest.raises(AudioError) as caught:
        normalise(ODD["json"].data)
    assert caught.value.sentence == audio.SENTENCES["not_audio"]


def test_unsupported_encoding_names_the_encoding():
    with pytest.raises(AudioError) as caught:
        normalise(ODD["ima_adpcm"].data)
    assert caught.value.code == "unsupported_encoding" and "ADPCM" in caught.value.sentence


# --------------------------------------------------------------------------------------------
# wav_bytes


def test_wav_bytes_writes_what_the_stdlib_reads():
    pcm = np.array([0, 1, -1, 32767, -32768], np.int16)
    for source in (pcm, pcm.tobytes(), pcm.astype(np.float64) / 32768):
        data = wav_bytes(source, 22050)
        assert len(data) == 44 + 10
        with wave.open(io.BytesIO(data)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
            assert np.array_equal(np.frombuffer(w.readframes(5), "<i2"), pcm)


def test_wav_bytes_refuses_what_is_not_mono_16_bit():
    with pytest.raises(ValueError):
        wav_bytes(b"\x00\x01\x02", 16000)
    with pytest.raises(ValueError):
        wav_bytes(np.zeros((10, 2), np.int16), 16000)
    with pytest.raises(ValueError):
        wav_bytes(b"", 0)


def test_read_wav_pcm_returns_the_source_rate_and_mono_float():
    x, rate = read_wav_pcm(ODD["stereo_44k1"].data)
    assert rate == 44100 and x.ndim == 1 and x.dtype == np.float32 and len(x) == 66150
