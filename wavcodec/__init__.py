"""WAV in and out, one codec for the whole project (the engine and the offline speech engine).

The RIFF parser is our own because the stdlib `wave` module refuses float and
WAVE_FORMAT_EXTENSIBLE files and trusts chunk sizes that streaming writers get wrong. It
imports nothing from the project, so any package may use it.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

try:  # libsoxr: small, fast, high-quality resampling; the numpy FFT path below is the fallback
    import soxr as _soxr
except ImportError:  # pragma: no cover - exercised by tests that hide it
    _soxr = None

TARGET_RATE = 16000

# Rates outside this range are not recordings anyone makes; inside it we resample anything.
MIN_RATE, MAX_RATE = 4000, 384000

FLOAT_LIMIT = 1e6  # float samples beyond this are corrupt, not loud

_RECORD_AGAIN = "please record your question again"

SENTENCES = {
    "empty": f"The recording is empty; {_RECORD_AGAIN}.",
    "not_audio": "That file is not a WAV recording; please record again or upload a WAV file.",
    "unsupported_encoding": (
        "The recording uses an audio encoding that is not supported; "
        "please record again or upload an uncompressed WAV file."
    ),
    "no_channels": f"The recording has no audio channels; {_RECORD_AGAIN}.",
    "too_short": f"The recording is too short; {_RECORD_AGAIN} and speak a little longer.",
    "too_long": "The recording is too long; please ask a shorter question.",
    "silent": (
        "The recording is silent; please check that your microphone is on and not muted, "
        "then record again."
    ),
    "malformed": f"The recording is damaged and cannot be read; {_RECORD_AGAIN}.",
}


class AudioError(Exception):
    """A recording we refuse: `code` for programs, `sentence` (also `str(exc)`) for people."""

    def __init__(self, code: str, sentence: str | None = None, *, detail: str = "") -> None:
        self.code = code
        self.sentence = sentence or SENTENCES[code]
        self.detail = detail  # technical words for logs and traces, never needed by users
        super().__init__(self.sentence)

    def __str__(self) -> str:
        return self.sentence



# ---------------------------------------------------------------------------------------------
# Writing


def wav_bytes(pcm16_mono: bytes | bytearray | memoryview | np.ndarray, rate: int) -> bytes:
    """A canonical 44-byte-header WAV from mono 16-bit samples (bytes, int16 or float array)."""
    if isinstance(pcm16_mono, np.ndarray):
        if pcm16_mono.ndim != 1:
            raise ValueError("wav_bytes needs a one-dimensional (mono) array")
        if pcm16_mono.dtype.kind == "f":
            pcm16_mono = _to_int16(pcm16_mono)
        pcm = pcm16_mono.astype("<i2", copy=False).tobytes()
    else:
        pcm = bytes(pcm16_mono)
        if len(pcm) % 2:
            raise ValueError("16-bit PCM needs an even number of bytes")
    if not 0 < rate < 2**31:
        raise ValueError(f"bad sample rate {rate}")
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,  # mono
        rate,
        rate * 2,
        2,
        16,
        b"data",
        len(pcm),
    )
    return header + pcm


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype("<i2")


# ---------------------------------------------------------------------------------------------
# Reading

_TAG_PCM, _TAG_FLOAT, _TAG_ALAW, _TAG_MULAW, _TAG_EXTENSIBLE = (
    0x0001,
    0x0003,
    0x0006,
    0x0007,
    0xFFFE,
)
_KINDS = {_TAG_PCM: "pcm", _TAG_FLOAT: "float", _TAG_ALAW: "alaw", _TAG_MULAW: "mulaw"}
_WIDTHS = {"pcm": (1, 2, 3, 4), "float": (4, 8), "alaw": (1,), "mulaw": (1,)}
# The 14 bytes after the format tag in a KSDATAFORMAT_SUBTYPE_* GUID.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
# Names people may recognise, for the unsupported-encoding sentence.
_ENCODING_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0011: "IMA ADPCM",
    0x0022: "TrueSpeech",
    0x0031: "GSM 6.10",
    0x0040: "G.721 ADPCM",
    0x0050: "MPEG",
    0x0055: "MP3",
    0x0064: "G.726 ADPCM",
    0x00FF: "AAC",
    0x1610: "AAC",
    0x2000: "AC-3",
    0x6750: "Vorbis",
    0xF1AC: "FLAC",
}


@dataclass(frozen=True)
class _Format:
    kind: str  # "pcm", "float", "mulaw", "alaw"
    channels: int
    rate: int
    width: int  # bytes per sample

    @property
    def frame_bytes(self) -> int:
        return self.width * self.channels

    @property
    def name(self) -> str:
        return self.kind if self.kind in ("mulaw", "alaw") else f"{self.kind}{8 * self.width}"


def read_wav_pcm(data: bytes) -> tuple[np.ndarray, int]:
    """Decode any WAV we accept to float32 mono samples (-1..1) at its own rate.

    Tolerant of sizes that lie; raises AudioError for what cannot be decoded. No duration,
    silence or level checks: that is `normalise`'s job.
    """
    fmt, body = _parse(data)
    frames = len(body) // fmt.frame_bytes
    if frames == 0:
        raise AudioError("empty", detail="no complete sample frame")
    return _decode(fmt, body, frames), fmt.rate


def _parse(data: bytes) -> tuple[_Format, memoryview]:
    """Find the format and the sample bytes actually present (partial frames included)."""
    if not data:
        raise AudioError("empty", detail="zero bytes")
    head = bytes(data[:12])
    if head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
        if len(head) < 12 and head[:4] in (b"RIFF", b"RF64", b"BW64"):
            raise AudioError("malformed", detail="file ends inside the RIFF header")
        if head[:4] == b"RIFX":
            raise AudioError(
                "unsupported_encoding",
                _unsupported_sentence("big-endian (RIFX) WAV"),
                detail="RIFX",
            )
        kind = _sniff(bytes(data[:16]))
        sentence = None
        if kind:
            sentence = (
                f"That file is {kind}, not a WAV recording; "
                "please record again or upload a WAV file."
            )
        raise AudioError("not_audio", sentence, detail=kind or "no RIFF/WAVE header")
    view = memoryview(data)
    fmt_bytes, span = _walk_chunks(view)
    if fmt_bytes is None:
        raise AudioError("malformed", detail="no fmt chunk")
    fmt = _read_fmt(fmt_bytes)
    if span is None:
        raise AudioError("empty", detail="no data chunk")
    return fmt, view[span[0] : span[1]]


def _walk_chunks(view: memoryview) -> tuple[bytes | None, tuple[int, int] | None]:
    """Walk RIFF chunks, trusting the file over its sizes. Returns (fmt payload, data span)."""
    n = len(view)
    pos = 12  # the RIFF size is ignored: writers leave it 0, 0xFFFFFFFF or stale
    fmt: bytes | None = None
    span: tuple[int, int] | None = None
    while pos + 8 <= n:
        cid = bytes(view[pos : pos + 4])
        size = int.from_bytes(view[pos + 4 : pos + 8], "little")
        start = pos + 8
        if cid == b"data" and span is None:
            span = _data_span(view, start, size)
            if span[1] == n:  # ran to the end of the file
                break
        elif cid == b"fmt " and fmt is None:
            fmt = bytes(view[start : start + min(size, n - start)])
        elif not _plausible_id(cid):
            break  # garbage where a chunk should be: keep what we found so far
        if size > n - start:
            break
        pos = start + size
        # RIFF pads odd chunks to even length, but some writers forget the pad byte.
        if size & 1 and (
            _plausible_id(view[pos + 1 : pos + 5]) or not _plausible_id(view[pos : pos + 4])
        ):
            pos += 1
    if fmt is not None and span is None:
        # An earlier chunk's size lied and the walk skipped over the data chunk: look for it.
        at = bytes(view[12:]).find(b"data")
        if at >= 0:
            start = 12 + at + 8
            span = _data_span(view, start, int.from_bytes(view[start - 4 : start], "little"))
    return fmt, span


def _data_span(view: memoryview, start: int, size: int) -> tuple[int, int]:
    available = max(0, len(view) - start)
    if size == 0 and available and not _plausible_id(view[start : start + 4]):
        size = available  # streaming writers leave 0 and fill it in never
    return start, start + min(size, available)  # 0xFFFFFFFF or a cut file: take what is there


def _plausible_id(cid: bytes | memoryview) -> bool:
    return len(cid) == 4 and all(0x20 <= b <= 0x7E for b in bytes(cid))


def _read_fmt(fmt: bytes) -> _Format:
    if len(fmt) < 14:
        raise AudioError("malformed", detail=f"fmt chunk of {len(fmt)} bytes")
    tag, channels, rate, _byte_rate, block_align = struct.unpack_from("<HHIIH", fmt)
    bits = (
        struct.unpack_from("<H", fmt, 14)[0]
        if len(fmt) >= 16
        else 8 * (block_align // max(channels, 1))
    )
    if channels == 0:
        raise AudioError("no_channels", detail="fmt says 0 channels")
    if tag == _TAG_EXTENSIBLE:
        if len(fmt) < 40:
            raise AudioError("malformed", detail="short WAVE_FORMAT_EXTENSIBLE fmt")
        guid = fmt[24:40]
        if guid[2:] != _GUID_TAIL:
            raise AudioError("unsupported_encoding", detail=f"sub-format GUID {guid.hex()}")
        tag = int.from_bytes(guid[:2], "little")
    kind = _KINDS.get(tag)
    if kind is None:
        name = _ENCODING_NAMES.get(tag)
        sentence = _unsupported_sentence(f"{name} compression") if name else None
        raise AudioError("unsupported_encoding", sentence, detail=f"format tag 0x{tag:04X}")
    if rate == 0:
        raise AudioError("malformed", detail="sample rate 0")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            "unsupported_encoding",
            f"The recording's sample rate of {rate} Hz is not supported; "
            "please record again at a standard rate such as 16 or 48 kHz.",
            detail=f"rate {rate}",
        )
    width = (bits + 7) // 8
    if width not in _WIDTHS[kind] and block_align and block_align % channels == 0:
        width = block_align // channels  # trust the container size when bits is odd
    if width not in _WIDTHS[kind]:
        if bits == 0 and block_align == 0:
            raise AudioError("malformed", detail="no sample size")
        raise AudioError(
            "unsupported_encoding",
            _unsupported_sentence(f"{bits}-bit {'float' if kind == 'float' else 'PCM'} samples"),
            detail=f"{kind} {bits} bits, block {block_align}",
        )
    return _Format(kind, channels, rate, width)


def _unsupported_sentence(what: str) -> str:
    return (
        f"The recording uses {what}, which this app cannot read; "
        "please record again or upload an uncompressed WAV file."
    )


def _sniff(head: bytes) -> str | None:
    """Name a few formats people mistake for WAV, for a more helpful refusal."""
    if head.startswith(b"ID3"):
        return "an MP3 file"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "an AAC file" if head[1] & 0x06 == 0 else "an MP3 file"
    for magic, name in (
        (b"OggS", "an Ogg file"),
        (b"\x1a\x45\xdf\xa3", "a WebM file"),
        (b"fLaC", "a FLAC file"),
        (b"#!AMR", "an AMR file"),
        (b"caff", "a CAF file"),
    ):
        if head.startswith(magic):
            return name
    if head[4:8] == b"ftyp":
        return "an MP4 or M4A file"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "an AIFF file"
    if head.startswith(b"RIFF"):
        return {b"AVI ": "an AVI video", b"WEBP": "a WebP image"}.get(head[8:12])
    return None


def _g711_tables() -> tuple[np.ndarray, np.ndarray]:
    """ITU-T G.711 expansion tables: byte -> float32 sample, for mu-law and A-law."""
    b = np.arange(256, dtype=np.int32)
    u = ~b & 0xFF
    exp, mant = (u >> 4) & 7, u & 0x0F
    mu = (((mant << 3) + 0x84) << exp) - 0x84
    mu = np.where(u & 0x80, -mu, mu)
    a = b ^ 0x55
    exp, mant = (a >> 4) & 7, a & 0x0F
    mag = np.where(exp == 0, (mant << 4) + 8, ((mant << 4) + 0x108) << np.maximum(exp - 1, 0))
    al = np.where(a & 0x80, mag, -mag)
    return (mu / 32768.0).astype(np.float32), (al / 32768.0).astype(np.float32)


_MULAW, _ALAW = _g711_tables()


def _decode(fmt: _Format, body: memoryview, frames: int) -> np.ndarray:
    """Sample bytes -> float32 mono in -1..1 (averaging channels)."""
    count = frames * fmt.channels
    if fmt.kind in ("mulaw", "alaw"):
        table = _MULAW if fmt.kind == "mulaw" else _ALAW
        samples, scale = table[np.frombuffer(body, np.uint8, count)], 1.0
    elif fmt.kind == "float":
        samples, scale = (
            _finite(np.frombuffer(body, "<f4" if fmt.width == 4 else "<f8", count)),
            1.0,
        )
    elif fmt.width == 1:
        samples, scale = np.frombuffer(body, np.uint8, count).view(np.int8) ^ np.int8(-128), 1 / 128
    elif fmt.width == 3:
        raw = np.zeros((count, 4), np.uint8)  # place 24 bits in the top of an int32
        raw[:, 1:] = np.frombuffer(body, np.uint8, count * 3).reshape(count, 3)
        samples, scale = raw.view("<i4").ravel(), 2.0**-31
    else:
        dtype = "<i2" if fmt.width == 2 else "<i4"
        samples, scale = np.frombuffer(body, dtype, count), 2.0 ** (1 - 8 * fmt.width)
    if fmt.channels == 1:
        mono = samples.astype(np.float32)
    else:
        columns = samples.reshape(frames, fmt.channels)
        mono = columns[:, 0].astype(np.float32)
        for c in range(1, fmt.channels):
            mono += columns[:, c]
        scale /= fmt.channels
    if scale != 1.0:
        mono *= np.float32(scale)
    return mono


def _finite(samples: np.ndarray) -> np.ndarray:
    """Float samples with NaN/inf zeroed and absurd values clipped (corrupt writers exist).

    Some tools write floats on an integer scale (+-32768), so the limit is far above 1.0; it only
    keeps later arithmetic from overflowing.
    """
    with np.errstate(invalid="ignore"):
        peak = np.max(np.abs(samples)) if samples.size else 0.0
    if peak <= FLOAT_LIMIT:  # False for NaN too
        return samples
    clean = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(clean, -FLOAT_LIMIT, FLOAT_LIMIT)


# ---------------------------------------------------------------------------------------------
# Resampling


def resample(x: np.ndarray, rate: int, target: int = TARGET_RATE) -> np.ndarray:
    if rate == target:
        return x
    if _soxr is not None:
        return _soxr.resample(x, rate, target, quality="HQ").astype(np.float32, copy=False)
    return _resample_fft(x, rate, target)


def _resample_fft(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling in the frequency domain (the fallback when soxr is missing).

    The signal is zero-padded (so the circular FFT does not wrap its ends into each other) to a
    length whose FFT is fast and whose ratio to the output length is exact; the spectrum is cut
    at the lower Nyquist frequency with a short raised-cosine edge to limit ringing.
    """
    n = len(x)
    n_out = int(round(n * target / rate))
    g = math.gcd(rate, target)
    up, down = target // g, rate // g
    k = _fast_length(-(-(n + 1024) // down))
    n_in_fft, n_out_fft = k * down, k * up
    spectrum = np.fft.rfft(x, n_in_fft)
    keep = min(n_in_fft, n_out_fft) // 2 + 1
    out = np.zeros(n_out_fft // 2 + 1, np.complex128)
    out[:keep] = spectrum[:keep]
    if target < rate:  # anti-alias edge over the top 5 % of the new band
        edge = max(1, keep // 20)
        out[keep - edge : keep] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, edge))
    y = np.fft.irfft(out, n_out_fft)[:n_out] * (n_out_fft / n_in_fft)
    return y.astype(np.float32)


def _fast_length(m: int) -> int:
    """Smallest 2^a 3^b 5^c >= m."""
    best = 1 << max(0, (m - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < m:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


# ---------------------------------------------------------------------------------------------
# Conveniences for speech engines


def decode_wav(data: bytes, rate: int = TARGET_RATE) -> np.ndarray:
    """Any WAV we accept -> mono float32 (-1..1) at `rate`; AudioError when it cannot be read."""
    samples, source_rate = read_wav_pcm(data)
    return resample(samples, source_rate, rate)


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """Mono float32 (-1..1) or int16 samples -> a 16-bit PCM WAV."""
    return wav_bytes(np.asarray(samples).ravel(), rate)


def duration_s(data: bytes) -> float:
    """Length of a WAV in seconds (0.0 when it cannot be read)."""
    try:
        fmt, body = _parse(data)
    except AudioError:
        return 0.0
    return len(body) // fmt.frame_bytes / float(fmt.rate or 1)


def rms_dbfs(data: bytes) -> float:
    """Loudness of a WAV in dB full scale; -inf for silence (used by tests and health checks)."""
    samples = decode_wav(data)
    if len(samples) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")
