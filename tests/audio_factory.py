"""Builders for WAV files as browsers, phones, streamers and people really produce them.

Deliberately independent of `assistant.audio` (its own RIFF writer and sample encoders), so
tests do not check the reader with itself. `ODD_RECORDINGS` lists odd inputs with the outcome
`assistant.audio.normalise` must give, for any suite to parametrise over:

    @pytest.mark.parametrize("odd", ODD_RECORDINGS, ids=lambda o: o.name)
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

PCM, FLOAT, ALAW, MULAW, EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


@dataclass(frozen=True)
class OddRecording:
    name: str
    data: bytes
    expect_code: str | None  # None: accepted; otherwise the AudioError.code expected
    seconds: float | None = None  # for accepted ones: the duration actually present
    why: str = ""

    def __repr__(self) -> str:  # keep pytest output short: no megabytes of bytes
        return f"OddRecording({self.name!r}, {len(self.data)} bytes, {self.expect_code!r})"


# ---------------------------------------------------------------------------------------------
# Signals (float64, -1..1)


def speech_like(seconds: float = 1.5, rate: int = 16000, *, peak: float = 0.6, seed: int = 7):
    """Voiced-speech-like sound: a gliding 100-220 Hz pitch with harmonics shaped by two
    formant-ish resonances, syllable-rate (4 Hz) amplitude modulation, pauses and breath noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = 150 + 50 * np.sin(2 * np.pi * 0.7 * t) + 20 * np.sin(2 * np.pi * 2.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = np.zeros(n)
    for k in range(1, 30):
        fk = k * f0
        weight = np.exp(-(((fk - 700) / 300) ** 2)) + 0.5 * np.exp(-(((fk - 1800) / 500) ** 2))
        weight += 0.05 / k
        voice += np.where(fk < rate / 2 - 200, weight, 0.0) * np.sin(k * phase)
    syllables = np.clip(np.sin(2 * np.pi * 4 * t + 0.3) * 1.3, 0, 1) ** 1.5
    breath = 0.03 * rng.standard_normal(n)
    x = voice * syllables + breath * (1 - syllables)
    return x * (peak / np.max(np.abs(x)))


def tone(freq: float = 440.0, seconds: float = 1.0, rate: int = 16000, amplitude: float = 0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


# ---------------------------------------------------------------------------------------------
# Sample encoders (interleave channels first: shape (frames, channels) or (frames,))


def pcm8(x) -> bytes:
    return np.clip(np.rint(np.asarray(x) * 128 + 128), 0, 255).astype(np.uint8).tobytes()


def pcm16(x) -> bytes:
    return np.clip(np.rint(np.asarray(x) * 32768), -32768, 32767).astype("<i2").tobytes()


def pcm24(x) -> bytes:
    v = np.clip(np.rint(np.asarray(x).ravel() * 2**23), -(2**23), 2**23 - 1).astype("<i4")
    return v.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def pcm32(x) -> bytes:
    return np.clip(np.rint(np.asarray(x) * 2**31), -(2**31), 2**31 - 1).astype("<i4").tobytes()


def float32(x) -> bytes:
    return np.asarray(x, "<f4").tobytes()


def float64(x) -> bytes:
    return np.asarray(x, "<f8").tobytes()


def mulaw(x) -> bytes:
    """G.711 mu-law, by the textbook compressor (bias 0x84, clip 32635)."""
    s = np.clip(np.rint(np.asarray(x).ravel() * 32768), -32768, 32767).astype(np.int32)
    sign = np.where(s < 0, 0x80, 0)
    mag = np.minimum(np.abs(s), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def alaw(x) -> bytes:
    """G.711 A-law, by the textbook compressor (13-bit magnitude, even bits inverted)."""
    s = np.clip(np.rint(np.asarray(x).ravel() * 32768), -32768, 32767).astype(np.int32) >> 3
    sign = np.where(s >= 0, 0x80, 0)
    mag = np.minimum(np.where(s < 0, -s - 1, s), 0x0FFF)
    exponent = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4)
    mantissa = np.where(exponent == 0, mag >> 1, mag >> exponent) & 0x0F
    return ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8).tobytes()


# ---------------------------------------------------------------------------------------------
# RIFF writing


def chunk(cid: bytes, payload: bytes, *, size: int | None = None, pad: bool = True) -> bytes:
    """One RIFF chunk; `size` overrides the declared size (to lie), `pad=False` omits the pad."""
    declared = len(payload) if size is None else size
    padding = b"\x00" if pad and len(payload) % 2 else b""
    return cid + struct.pack("<I", declared & 0xFFFFFFFF) + payload + padding


def fmt_chunk(
    tag: int = PCM,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    *,
    sub_tag: int | None = None,
    guid: bytes | None = None,
    valid_bits: int | None = None,
) -> bytes:
    block = channels * ((bits + 7) // 8)
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if tag == EXTENSIBLE:
        guid = guid or struct.pack("<H", sub_tag or PCM) + GUID_TAIL
        mask = (1 << channels) - 1 if channels < 32 else 0
        body += struct.pack("<HHI", 22, valid_bits or bits, mask) + guid
    elif tag != PCM:
        body += struct.pack("<H", 0)  # cbSize, as non-PCM formats carry it
    return chunk(b"fmt ", body)


def riff(*chunks: bytes, riff_size: int | None = None, magic: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    size = len(body) if riff_size is None else riff_size
    return magic + struct.pack("<I", size & 0xFFFFFFFF) + body


def wav(samples: bytes, *, tag=PCM, channels=1, rate=16000, bits=16, **fmt) -> bytes:
    """A well-formed WAV of already-encoded sample bytes."""
    return riff(fmt_chunk(tag, channels, rate, bits, **fmt), chunk(b"data", samples))


def stereo(left, right):
    return np.stack([np.asarray(left), np.asarray(right)], axis=1)


# ---------------------------------------------------------------------------------------------
# The catalogue


def _odd_recordings() -> list[OddRecording]:
    speech = speech_like(1.5)
    speech16 = pcm16(speech)
    good = wav(speech16)
    head44 = good[:44]
    rng = np.random.default_rng(2024)
    out: list[OddRecording] = []

    def ok(name, data, seconds, why=""):
        out.append(OddRecording(name, data, None, seconds, why))

    def refused(name, data, code, why=""):
        out.append(OddRecording(name, data, code, None, why))

    # Nothing, or nearly nothing.
    refused("empty", b"", "empty")
    refused("header_only", head44[:40] + struct.pack("<I", 0), "empty", "44-byte header, 0 data")
    refused("header_only_no_data_chunk", riff(fmt_chunk()), "empty", "fmt but no data chunk")
    refused("riff_wave_only", riff(), "malformed", "12 bytes, no fmt")
    refused("cut_inside_riff_header", good[:9], "malformed")
    refused("cut_inside_fmt", good[:30], "malformed", "fmt chunk ends early")
    refused("one_byte_of_data", head44 + speech16[:1], "empty", "half a frame")

    # Sizes that lie (what streaming and browser writers do).
    ok("cut_mid_data", good[: 44 + 16000 * 2], 1.0, "data size says 1.5 s, 1 s present")
    ok(
        "data_size_zero_streaming",
        riff(fmt_chunk(), chunk(b"data", speech16, size=0), riff_size=0),
        1.5,
    )
    ok(
        "sizes_ffffffff",
        riff(fmt_chunk(), chunk(b"data", speech16, size=0xFFFFFFFF), riff_size=0xFFFFFFFF),
        1.5,
    )
    ok("riff_size_wrong", riff(fmt_chunk(), chunk(b"data", speech16), riff_size=12345), 1.5)
    ok(
        "data_size_larger_than_file",
        riff(fmt_chunk(), chunk(b"data", speech16, size=10 * len(speech16))),
        1.5,
    )
    ok("odd_data_length", head44[:40] + struct.pack("<I", 24001) + speech16[:24001], 0.75)
    ok(
        "odd_chunk_with_pad",
        riff(
            fmt_chunk(),
            chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00abcd\x00"),
            chunk(b"data", speech16),
        ),
        1.5,
    )
    ok(
        "odd_chunk_missing_pad",
        riff(fmt_chunk(), chunk(b"note", b"odd", pad=False), chunk(b"data", speech16)),
        1.5,
    )
    ok(
        "odd_data_chunk_then_list",
        riff(fmt_chunk(), chunk(b"data", speech16 + b"\x01"), chunk(b"LIST", b"INFO")),
        1.5,
    )
    ok(
        "junk_bext_fact_before_data",
        riff(
            chunk(b"JUNK", bytes(28)),
            fmt_chunk(),
            chunk(b"bext", bytes(602)),
            chunk(b"fact", struct.pack("<I", 24000)),
            chunk(b"data", speech16),
        ),
        1.5,
    )
    ok("fmt_after_data", riff(chunk(b"data", speech16), fmt_chunk()), 1.5)
    ok(
        "chunk_size_lies_before_data",
        riff(fmt_chunk(), chunk(b"LIST", b"INFO", size=0x7FFFFFFF), chunk(b"data", speech16)),
        1.5,
        "a LIST size points past the end; the data chunk is found anyway",
    )
    ok(
        "rf64",
        riff(
            chunk(b"ds64", struct.pack("<QQQI", 0, len(speech16), 24000, 0)),
            fmt_chunk(),
            chunk(b"data", speech16, size=0xFFFFFFFF),
            riff_size=0xFFFFFFFF,
            magic=b"RF64",
        ),
        1.5,
    )

    # Not audio at all, or not WAV.
    refused("random_bytes", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not_audio")
    refused(
        "riff_wave_then_random",
        b"RIFF\x00\x10\x00\x00WAVE" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "malformed",
    )
    refused("text", b"What is my reward balance?\n", "not_audio")
    refused("json", json.dumps({"audio": "question.wav", "ok": True}).encode(), "not_audio")
    refused("html", b"<!doctype html><html><body>Not found</body></html>", "not_audio")
    refused("mp3_id3", b"ID3\x04\x00\x00\x00\x00\x00\x21" + bytes(200), "not_audio")
    refused("mp3_frame", b"\xff\xfb\x90\x64" + bytes(413), "not_audio")
    refused("ogg_opus", b"OggS\x00\x02" + bytes(20) + b"OpusHead" + bytes(20), "not_audio")
    refused("webm", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + bytes(64), "not_audio")
    refused("riff_avi", b"RIFF\x00\x01\x00\x00AVI LIST" + bytes(64), "not_audio")
    refused("aiff", b"FORM\x00\x00\x10\x00AIFFCOMM" + bytes(64), "not_audio")

    # Encodings.
    ok("pcm8", wav(pcm8(speech), bits=8), 1.5)
    ok("pcm24", wav(pcm24(speech), bits=24), 1.5)
    ok("pcm32", wav(pcm32(speech), bits=32), 1.5)
    ok("float32", wav(float32(speech), tag=FLOAT, bits=32), 1.5)
    ok("float64", wav(float64(speech), tag=FLOAT, bits=64), 1.5)
    ok(
        "extensible_pcm24_48k",
        wav(pcm24(speech_like(1.5, 48000)), tag=EXTENSIBLE, rate=48000, bits=24, sub_tag=PCM),
        1.5,
    )
    ok(
        "extensible_pcm20_in_24",
        wav(pcm24(speech), tag=EXTENSIBLE, bits=24, valid_bits=20, sub_tag=PCM),
        1.5,
    )
    ok(
        "extensible_float_stereo",
        wav(float32(stereo(speech, speech)), tag=EXTENSIBLE, channels=2, bits=32, sub_tag=FLOAT),
        1.5,
    )
    refused(
        "extensible_unknown_guid",
        wav(speech16, tag=EXTENSIBLE, guid=b"\x12\x34" * 8),
        "unsupported_encoding",
    )
    ok("mulaw_8k", wav(mulaw(speech_like(2.0, 8000)), tag=MULAW, rate=8000, bits=8), 2.0)
    ok("alaw_8k", wav(alaw(speech_like(2.0, 8000)), tag=ALAW, rate=8000, bits=8), 2.0)
    refused("ima_adpcm", wav(bytes(4000), tag=0x0011, bits=4), "unsupported_encoding")
    refused("ms_adpcm", wav(bytes(4000), tag=0x0002, bits=4), "unsupported_encoding")
    refused(
        "mp3_in_wav",
        wav(b"\xff\xfb\x90\x64" + bytes(4000), tag=0x0055, bits=0),
        "unsupported_encoding",
    )
    refused("float16", wav(bytes(4000), tag=FLOAT, bits=16), "unsupported_encoding")
    refused("rifx_big_endian", b"RIFX" + good[4:], "unsupported_encoding")
    refused("rate_zero", wav(speech16, rate=0), "malformed")
    refused("rate_absurd", wav(speech16, rate=1), "unsupported_encoding")

    # Channels and rates.
    refused("zero_channels", wav(speech16, channels=0), "no_channels")
    s48 = speech_like(1.5, 48000)
    ok("stereo_48k", wav(pcm16(stereo(s48, 0.5 * s48)), channels=2, rate=48000), 1.5)
    s44 = speech_like(1.5, 44100)
    ok("stereo_44k1", wav(pcm16(stereo(s44, s44)), channels=2, rate=44100), 1.5)
    ok(
        "six_channels_44k1",
        wav(pcm16(np.stack([s44] * 2 + [0 * s44] * 4, axis=1)), channels=6, rate=44100),
        1.5,
    )
    ok("mono_8k", wav(pcm16(speech_like(1.5, 8000)), rate=8000), 1.5)
    ok("mono_11k025", wav(pcm16(speech_like(1.5, 11025)), rate=11025), 1.5)
    ok("mono_22k05", wav(pcm16(speech_like(1.5, 22050)), rate=22050), 1.5)
    ok("mono_96k", wav(pcm16(speech_like(1.5, 96000)), rate=96000), 1.5)

    # Durations.
    refused("ten_ms", wav(speech16[: 160 * 2]), "too_short")
    refused("ten_minutes", wav(pcm8(np.zeros(600 * 8000)), rate=8000, bits=8), "too_long")

    # Levels.
    refused("digital_silence", wav(bytes(32000)), "silent")
    refused("silence_pcm8", wav(b"\x80" * 16000, bits=8), "silent", "8-bit silence is 128")
    refused(
        "dithered_silence",
        wav(pcm16(rng.integers(-2, 3, 32000) / 32768)),
        "silent",
        "a muted microphone: +-2 LSB",
    )
    click = np.zeros(32000)
    click[8000:8016] = 0.9
    refused("silence_with_click", wav(pcm16(click)), "silent", "a button thump is not speech")
    refused("dc_offset_only", wav(pcm16(np.full(32000, 0.2))), "silent")
    refused(
        "stereo_cancelling",
        wav(pcm16(stereo(speech, -speech)), channels=2),
        "silent",
        "L = -R averages to nothing",
    )
    ok("pure_tone", wav(pcm16(tone(440, 1.0))), 1.0)
    ok(
        "quiet_speech",
        wav(pcm16(speech_like(1.5, peak=10 ** (-45 / 20)))),
        1.5,
        "-45 dBFS peak: gain-normalised, not refused",
    )
    ok("float_over_full_scale", wav(float32(4 * speech), tag=FLOAT, bits=32), 1.5)
    broken = speech.copy()
    broken[100:110] = np.nan
    broken[200] = np.inf
    ok("float_nan_inf", wav(float32(broken), tag=FLOAT, bits=32), 1.5)
    ok("loud_clipped", wav(pcm16(np.clip(3 * speech, -1, 1))), 1.5)
    return out


ODD_RECORDINGS: list[OddRecording] = _odd_recordings()
