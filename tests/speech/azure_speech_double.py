"""An Azure AI Speech REST double on 127.0.0.1 that checks what the documented API checks.

Reached as a resource's custom domain (AZURE_SPEECH_ENDPOINT=http://127.0.0.1:PORT), it serves:
* short audio: `POST /stt/speech/recognition/conversation/cognitiveservices/v1?language=..`,
  a `Content-Type: audio/wav; codecs=audio/pcm; samplerate=16000` body that must be a WAV of
  16-bit PCM, mono, 16 kHz, at most 60 s; answers `RecognitionStatus`, `DisplayText`, `Offset`,
  `Duration` (100 ns units), or `InitialSilenceTimeout` for silence;
* fast transcription: `POST /speechtotext/transcriptions:transcribe?api-version=2024-11-15`,
  multipart `audio` + `definition` (JSON, `locales`); answers `durationMilliseconds`,
  `combinedPhrases`, `phrases` (with `words`, `locale`, `confidence`);
* text to speech: `POST /tts/cognitiveservices/v1` with `Content-Type: application/ssml+xml`,
  a documented `X-Microsoft-OutputFormat`, a `User-Agent` under 255 characters, and well-formed
  SSML `<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang=..>` holding
  `<voice name=..>` with a voice it offers; answers raw PCM16 mono 24 kHz in several chunks;
* `GET /tts/cognitiveservices/voices/list` and `GET /speechtotext/transcriptions/locales`.
Sign-in is `Ocp-Apim-Subscription-Key` or `Authorization: Bearer`: missing is 401 (403 for short
audio, as documented), wrong is 401. What a test says the customer said is `transcript`.
Status codes and bodies of failures are as the references list them; the service's exact error
bodies are not documented, so failures carry a small JSON body the client must not depend on.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
import struct
import threading
import time
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.datastructures import Headers

SSML_NS = "http://www.w3.org/2001/10/synthesis"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SHORT_TYPES = ("audio/wav; codecs=audio/pcm; samplerate=16000", "audio/ogg; codecs=opus")
FAST_API_VERSIONS = ("2024-11-15", "2025-10-15")
# The documented streaming formats that are raw PCM, with their sample rates.
RAW_PCM = {"raw-8khz-16bit-mono-pcm": 8000, "raw-16khz-16bit-mono-pcm": 16000,
           "raw-22050hz-16bit-mono-pcm": 22050, "raw-24khz-16bit-mono-pcm": 24000,
           "raw-44100hz-16bit-mono-pcm": 44100, "raw-48khz-16bit-mono-pcm": 48000}  # fmt: skip
OTHER_FORMATS = {"riff-24khz-16bit-mono-pcm", "audio-24khz-48kbitrate-mono-mp3",
                 "ogg-24khz-16bit-mono-opus", "audio-16khz-32kbitrate-mono-mp3"}  # fmt: skip
VOICES = ["en-US-JennyMultilingualNeural", "en-US-JennyNeural", "en-GB-SoniaNeural",
          "de-DE-KatjaNeural"]  # fmt: skip
LOCALES = ["de-DE", "en-IN", "en-US", "es-ES", "es-MX", "fr-FR", "hi-IN", "it-IT", "ja-JP",
           "ko-KR", "pt-BR", "zh-CN"]  # fmt: skip
SECONDS_PER_CHAR = 0.06  # how long the double "speaks" a character


@dataclass
class _Fault:
    path: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    body: bytes | None


@dataclass
class AzureSpeechDouble:
    key: str = "speech-key-123"
    token: str = "entra-token-abc"  # the bearer token a test's token provider hands out
    transcript: str = "What is my balance?"
    chunk_bytes: int = 4800  # 0.1 s of 24 kHz PCM16 per chunk
    log: list[dict[str, Any]] = field(default_factory=list)
    spoken: list[str] = field(default_factory=list)  # the text of each SSML <voice>, as parsed
    violations: list[str] = field(default_factory=list)  # requests the real service refuses

    def __post_init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self.delay_s = 0.0
        self.cut_after_chunks: int | None = None  # drop the connection mid-answer
        self.empty_audio = False
        self.status_override: str | None = None  # a RecognitionStatus to answer instead
        # Set: after the first chunk the double waits for it, so a test can show that the first
        # chunk reached the client while the rest was not yet sent (no race with the CPU).
        self.hold_after_first: threading.Event | None = None
        self.finished = threading.Event()  # the last chunk of the last answer was sent
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> AzureSpeechDouble:
        self.server.start()  # after a stop: the same port again
        return self

    def stop(self) -> None:
        if self.server.is_running():
            self.server.stop()

    def __enter__(self) -> AzureSpeechDouble:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    # -- what tests arrange ---------------------------------------------------------------------

    def fail(self, path: str, status: int, *, times: int = 1, headers=None, body=None) -> None:
        with self._lock:
            self._faults.append(_Fault(re.compile(path), status, times, headers or {}, body))

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()
        self.delay_s, self.cut_after_chunks, self.empty_audio = 0.0, None, False
        self.status_override, self.hold_after_first = None, None

    def requests(self, suffix: str) -> list[dict[str, Any]]:
        return [entry for entry in self.log if entry["path"].endswith(suffix)]

    # -- HTTP -----------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        path = request.path
        entry = {"method": request.method, "path": path, "args": dict(request.args),
                 "headers": Headers(request.headers)}  # fmt: skip
        with self._lock:
            self.log.append(entry)
            fault = self._take_fault(path)
        if self.delay_s:
            time.sleep(self.delay_s)
        if fault is not None:
            return Response(fault.body if fault.body is not None else _error_body(fault.status),
                            fault.status, headers=fault.headers, content_type="application/json")  # fmt: skip
        route = path.removeprefix("/stt").removeprefix("/tts")
        routes = {
            ("POST", "/speech/recognition/conversation/cognitiveservices/v1"): self._short,
            ("POST", "/speechtotext/transcriptions:transcribe"): self._fast,
            ("GET", "/speechtotext/transcriptions/locales"): self._locales,
            ("POST", "/cognitiveservices/v1"): self._speak,
            ("GET", "/cognitiveservices/voices/list"): self._voices,
        }
        handler = routes.get((request.method, route))
        if handler is None:
            return Response(_error_body(404), 404, content_type="application/json")
        denied = self._auth(request, short=route.startswith("/speech/"))
        if denied is not None:
            return denied
        return handler(request)

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.path.search(path):
                fault.times -= 1
                return fault
        return None

    def _refuse(self, status: int, why: str) -> Response:
        self.violations.append(why)
        return Response(_error_body(status), status, content_type="application/json")

    def _auth(self, request: Request, *, short: bool) -> Response | None:
        key = request.headers.get("Ocp-Apim-Subscription-Key")
        bearer = request.headers.get("Authorization")
        if key is None and bearer is None:
            return self._refuse(403 if short else 401, "no key and no bearer token")
        if key is not None and key != self.key:
            return Response(_error_body(401), 401, content_type="application/json")
        if key is None and bearer != f"Bearer {self.token}":
            return Response(_error_body(401), 401, content_type="application/json")
        return None

    # -- speech to text -------------------------------------------------------------------------

    def _short(self, request: Request) -> Response:
        language = request.args.get("language")
        if not language:
            return self._refuse(400, "short audio without ?language=")
        if request.args.get("format", "simple") not in ("simple", "detailed"):
            return self._refuse(400, "short audio format is neither simple nor detailed")
        if request.headers.get("Content-Type") not in SHORT_TYPES:
            return self._refuse(
                400, f"short audio Content-Type {request.headers.get('Content-Type')!r}"
            )
        accept = request.headers.get("Accept")
        if accept is not None and "application/json" not in accept:
            return self._refuse(400, f"short audio Accept {accept!r}")
        audio, problem = _read_wav(request.get_data(), rate=16000)
        if problem:
            return self._refuse(400, f"short audio body: {problem}")
        if len(audio) / 16000 > 60:
            return self._refuse(400, "short audio longer than 60 s")
        ticks = int(len(audio) / 16000 * 10_000_000)  # 100-nanosecond units
        status = self.status_override or ("InitialSilenceTimeout" if _silent(audio) else "Success")
        if status != "Success":
            return _json({"RecognitionStatus": status, "Offset": ticks, "Duration": 0})
        return _json({"RecognitionStatus": "Success", "DisplayText": self.transcript,
                      "Offset": 1_000_000, "Duration": max(0, ticks - 1_000_000)})  # fmt: skip

    def _fast(self, request: Request) -> Response:
        if request.args.get("api-version") not in FAST_API_VERSIONS:
            return self._refuse(
                400, f"fast transcription api-version {request.args.get('api-version')!r}"
            )
        if not (request.content_type or "").startswith("multipart/form-data"):
            return self._refuse(400, "fast transcription is not multipart/form-data")
        upload = request.files.get("audio")
        if upload is None:
            return self._refuse(400, "fast transcription without an audio part")
        raw_definition = request.form.get("definition")
        if raw_definition is None and "definition" in request.files:
            raw_definition = request.files["definition"].read().decode("utf-8")
        try:
            definition = json.loads(raw_definition) if raw_definition else {}
        except ValueError:
            return self._refuse(400, "fast transcription definition is not JSON")
        locales = definition.get("locales", [])
        if not isinstance(locales, list) or any(loc not in LOCALES for loc in locales):
            return self._refuse(400, f"fast transcription locales {locales!r}")
        audio, problem = _read_wav(upload.read(), rate=None)
        if problem:
            return self._refuse(400, f"fast transcription audio: {problem}")
        rate = audio.rate
        ms = int(len(audio) / rate * 1000)
        if _silent(audio):
            return _json({"durationMilliseconds": ms, "combinedPhrases": [], "phrases": []})
        words = self.transcript.split()
        step = max(1, (ms - 200) // max(1, len(words)))
        phrase = {
            "offsetMilliseconds": 200, "durationMilliseconds": step * len(words),
            "text": self.transcript,
            "words": [{"text": w, "offsetMilliseconds": 200 + i * step, "durationMilliseconds": step}
                      for i, w in enumerate(words)],
            "locale": (locales or ["en-US"])[0], "confidence": 0.93,
        }  # fmt: skip
        return _json({"durationMilliseconds": ms, "combinedPhrases": [{"text": self.transcript}],
                      "phrases": [phrase]})  # fmt: skip

    def _locales(self, request: Request) -> Response:
        if request.args.get("api-version") not in FAST_API_VERSIONS:
            return self._refuse(400, "locales without a known api-version")
        return _json(LOCALES)

    # -- text to speech -------------------------------------------------------------------------

    def _voices(self, request: Request) -> Response:
        return _json([{"ShortName": v, "Locale": v[:5], "VoiceType": "Neural",
                       "SampleRateHertz": "24000", "Status": "GA"} for v in VOICES])  # fmt: skip

    def _speak(self, request: Request) -> Response:
        if request.headers.get("Content-Type") != "application/ssml+xml":
            return self._refuse(415, f"speech Content-Type {request.headers.get('Content-Type')!r}")
        fmt = request.headers.get("X-Microsoft-OutputFormat")
        if fmt not in RAW_PCM and fmt not in OTHER_FORMATS:
            return self._refuse(400, f"X-Microsoft-OutputFormat {fmt!r}")
        agent = request.headers.get("User-Agent")
        if not agent or len(agent) >= 255:
            return self._refuse(400, "no User-Agent, or one of 255 characters or more")
        text, problem = _read_ssml(request.get_data())
        if problem:
            return self._refuse(400, f"SSML: {problem}")
        self.spoken.append(text)
        if fmt not in RAW_PCM:
            return self._refuse(400, f"the double speaks only raw PCM, not {fmt}")
        pcm = b"" if self.empty_audio else _tone(text, RAW_PCM[fmt])
        return Response(self._chunks(pcm), 200, content_type="audio/x-wav")

    def _chunks(self, pcm: bytes):
        self.finished.clear()
        for index, start in enumerate(range(0, len(pcm), self.chunk_bytes)):
            if self.cut_after_chunks is not None and index >= self.cut_after_chunks:
                raise ConnectionAbortedError("the double drops the connection mid-answer")
            yield pcm[start : start + self.chunk_bytes]
            if index == 0 and self.hold_after_first is not None:
                self.hold_after_first.wait(10)
            time.sleep(0.005)  # the service synthesises as it sends
        self.finished.set()


# -- helpers -------------------------------------------------------------------------------------


class _Audio(list):
    rate: int = 16000


def _read_wav(data: bytes, rate: int | None) -> tuple[_Audio, str | None]:
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width, got = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        return _Audio(), f"not a PCM WAV ({exc})"
    if channels != 1 or width != 2:
        return _Audio(), f"{channels} channels of {8 * width} bits, not 16-bit mono"
    if rate is not None and got != rate:
        return _Audio(), f"{got} Hz, not {rate} Hz"
    audio = _Audio(struct.unpack(f"<{len(frames) // 2}h", frames[: len(frames) // 2 * 2]))
    audio.rate = got
    return audio, None if audio else "no samples"


def _silent(audio: list[int]) -> bool:
    return max((abs(s) for s in audio), default=0) < 64


def _read_ssml(body: bytes) -> tuple[str, str | None]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        return "", f"not well-formed XML ({exc})"
    if root.tag != f"{{{SSML_NS}}}speak":
        return "", f"the root is {root.tag}, not <speak> in the SSML namespace"
    if root.get("version") != "1.0":
        return "", "<speak> without version='1.0'"
    if not root.get(XML_LANG):
        return "", "<speak> without xml:lang"
    voices = root.findall(f"{{{SSML_NS}}}voice")
    if not voices or any(child.tag != f"{{{SSML_NS}}}voice" for child in root):
        return "", "<speak> must hold <voice> elements only"
    for voice in voices:
        if voice.get("name") not in VOICES:
            return "", f"unknown voice {voice.get('name')!r}"
        for element in voice.iter():
            if element.tag not in (f"{{{SSML_NS}}}voice", f"{{{SSML_NS}}}prosody"):
                return "", f"element {element.tag} inside <voice>"
            rate = element.get("rate")
            if element.tag.endswith("prosody") and rate is not None and not _RATE.fullmatch(rate):
                return "", f"prosody rate {rate!r}"
    return "".join("".join(v.itertext()) for v in voices), None


_RATE = re.compile(r"default|x-slow|slow|medium|fast|x-fast|[+-]?\d+(\.\d+)?%|\d+(\.\d+)?")


def _tone(text: str, rate: int) -> bytes:
    count = int(max(0.3, len(text) * SECONDS_PER_CHAR) * rate)
    second = _one_second(rate)
    return (second * (count // rate + 1))[: count * 2]


@functools.lru_cache(maxsize=8)
def _one_second(rate: int) -> bytes:
    """A 200 Hz tone, one second of it: cheap to repeat, so the double answers at once."""
    return struct.pack(f"<{rate}h", *(int(6000 * math.sin(2 * math.pi * 200 * i / rate))
                                      for i in range(rate)))  # fmt: skip


def _json(value: Any) -> Response:
    return Response(json.dumps(value), 200, content_type="application/json; charset=utf-8")


def _error_body(status: int) -> str:
    return json.dumps({"error": {"code": str(status), "message": f"Injected {status}"}})


def running_double():
    """Yield a started double for a fixture (`yield from running_double()`); the test fails if
    a request broke the documented API. A test that sends a bad request on purpose clears
    `violations` after asserting on them."""
    with AzureSpeechDouble() as double:
        yield double
    assert double.violations == [], "the Azure AI Speech double saw:\n" + "\n".join(
        double.violations
    )
