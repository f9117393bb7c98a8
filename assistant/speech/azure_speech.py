"""Azure AI Speech as the cascade's ears and voice, over its REST API.

Hearing: short audio (a 16 kHz mono WAV, up to 60 s, answered with `RecognitionStatus` and
`DisplayText`) or fast transcription (multipart `audio` + `definition`, answered with
`combinedPhrases`); VOICEDESK_AZURE_STT chooses, "auto" takes short audio up to 60 s.
Speaking: SSML to `/cognitiveservices/v1` in `raw-24khz-16bit-mono-pcm`, yielded as the body
arrives. Every failure is a TurnError with one sentence (azure_speech_wire.py); the key, the
customer's words and the answer's words are never logged.

`transcriber(settings)` and `synthesizer(settings)` are what assistant/speech/parts.py calls;
`config_rows(settings)` and `doctor_rows(settings)` are what `config` and `doctor` show.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from xml.sax.saxutils import escape, quoteattr

import httpx2 as httpx

from assistant.config import Settings
from assistant.errors import TurnError
from assistant.speech import azure_speech_wire as wire
from assistant.speech.base import Heard
from wavcodec import AudioError, decode_wav, encode_wav

SHORT_AUDIO_LIMIT_S = 60.0  # the short-audio API takes no more than this
STT_RATE = 16_000  # what short audio accepts (WAV, PCM, 16 kHz, mono)
SHORT_CONTENT_TYPE = "audio/wav; codecs=audio/pcm; samplerate=16000"
OUTPUT_FORMAT = "raw-24khz-16bit-mono-pcm"  # = base.SPEECH_SAMPLE_RATE, PCM16 mono
SSML_NS = "http://www.w3.org/2001/10/synthesis"
NO_WORDS = ("NoMatch", "InitialSilenceTimeout", "BabbleTimeout")
VENDOR = "azure_speech"
TTS_MODEL = "azure-speech-neural"  # neural voices are priced per character, whichever voice


def _no_words() -> TurnError:
    return TurnError(
        "I didn't catch any words; please speak a little louder or closer to the microphone "
        "and try again.",
        code="no_speech",
        retryable=False,
    )


class AzureSpeechTranscriber:
    vendor = VENDOR

    def __init__(self, settings: Settings, connection: wire.Connection):
        self.connection = connection
        self.language = settings.voicedesk_speech_language
        self.model = self.language
        self.api = settings.voicedesk_azure_stt

    def transcribe(self, wav: bytes, *, prompt: str | None = None) -> Heard:
        """`prompt` is not used: neither API takes one (a phrase list needs the Speech SDK)."""
        try:
            samples = decode_wav(wav, STT_RATE)
        except AudioError as exc:
            raise TurnError(exc.sentence, code="bad_audio", retryable=False) from None
        seconds = len(samples) / STT_RATE
        too_long = seconds > SHORT_AUDIO_LIMIT_S
        if too_long and self.api == "short":
            raise TurnError(
                "The question is longer than the 60 seconds Azure AI Speech short audio takes; "
                "please ask it more briefly, or set VOICEDESK_AZURE_STT to auto.",
                code="too_long",
                retryable=False,
            )
        if self.api == "fast" or too_long:
            text = self._fast(encode_wav(samples, STT_RATE))
        else:
            text = self._short(encode_wav(samples, STT_RATE))
        if not text.strip():
            raise _no_words()
        return Heard(text=text.strip(), audio_seconds=seconds)

    def _short(self, body: bytes) -> str:
        c = self.connection
        headers = {
            **c.auth_headers(),
            "Content-Type": SHORT_CONTENT_TYPE,
            "Accept": "application/json",
        }
        params = {"language": self.language, "format": "simple"}
        reply = _post_json(c, "hear", c.stt_base + wire.SHORT_PATH, params, headers, content=body)
        status = reply.get("RecognitionStatus")
        if status in NO_WORDS:
            raise _no_words()
        if status != "Success":  # "Error" or something new: the service's own trouble
            wire.log.warning("Azure AI Speech recognition status %s", wire._code(str(status)))
            raise TurnError(
                "Azure AI Speech had a problem on its side; try again in a moment.",
                code="server_error",
            )
        text = reply.get("DisplayText")
        if not isinstance(text, str):
            raise wire.unreadable()
        return text

    def _fast(self, body: bytes) -> str:
        c = self.connection
        definition = json.dumps({"locales": [self.language]})
        files = {
            "audio": ("question.wav", body, "audio/wav"),
            "definition": (None, definition, "application/json"),
        }
        params = {"api-version": wire.FAST_API_VERSION}
        reply = _post_json(
            c, "hear", c.api_base + wire.FAST_PATH, params, c.auth_headers(), files=files
        )
        phrases = reply.get("combinedPhrases")
        if not isinstance(phrases, list):
            raise wire.unreadable()
        texts = [p.get("text") for p in phrases if isinstance(p, dict)]
        if any(not isinstance(t, str) for t in texts):
            raise wire.unreadable()
        return " ".join(texts)


class AzureSpeechSynthesizer:
    vendor = VENDOR
    model = TTS_MODEL

    def __init__(self, settings: Settings, connection: wire.Connection):
        self.connection = connection
        self.voice = settings.voicedesk_azure_voice
        self.language = settings.voicedesk_speech_language
        self.rate = settings.voicedesk_speech_rate

    def ssml(self, text: str) -> str:
        """The text as SSML, escaped: an answer may quote a document or a model that writes
        `<`, `&` or a whole `<voice>` element, and that must be spoken, not obeyed."""
        return (
            f"<speak version='1.0' xmlns='{SSML_NS}' xml:lang={quoteattr(self.language)}>"
            f"<voice name={quoteattr(self.voice)}><prosody rate={quoteattr(self.rate)}>"
            f"{escape(_xml_chars(text))}</prosody></voice></speak>"
        )

    def stream(self, text: str) -> Iterator[bytes]:
        c = self.connection
        headers = {
            **c.auth_headers(),
            "Content-Type": "application/ssml+xml",
            "X-Microsoft-OutputFormat": OUTPUT_FORMAT,
            "User-Agent": wire.USER_AGENT,
        }
        body = self.ssml(text).encode("utf-8")
        carry, sent = b"", 0
        try:
            with c.http.stream(
                "POST", c.tts_base + wire.TTS_PATH, headers=headers, content=body
            ) as r:
                if r.status_code != 200:
                    r.read()
                    raise wire.status_fault(r, c, "speak")
                for chunk in r.iter_bytes():
                    data = carry + chunk
                    cut = len(data) - len(data) % 2  # whole 16-bit samples only
                    carry = data[cut:]
                    if cut:
                        sent += cut
                        yield data[:cut]
        except httpx.HTTPError as exc:
            raise wire.transport_fault(exc, midway=sent > 0) from None
        if not sent:
            raise TurnError(
                "Azure AI Speech returned no audio for this answer; try again.",
                code="bad_response",
            )


def _xml_chars(text: str) -> str:
    """Characters XML 1.0 cannot carry at all (control codes) would make the SSML malformed."""
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)


def _post_json(
    c: wire.Connection, part: str, url: str, params: dict, headers: dict, **body
) -> dict:
    try:
        response = c.http.post(url, params=params, headers=headers, **body)
    except httpx.HTTPError as exc:
        raise wire.transport_fault(exc) from None
    if response.status_code != 200:
        raise wire.status_fault(response, c, part)
    try:
        reply = response.json()
    except ValueError:
        raise wire.unreadable() from None
    if not isinstance(reply, dict):
        raise wire.unreadable()
    return reply


# -- what parts.py, `config` and `doctor` call ----------------------------------------------------

_connections: dict[tuple, wire.Connection] = {}
_lock = threading.Lock()


def _connection(settings: Settings) -> wire.Connection:
    """One connection per resource and sign-in, so the ears and the voice share kept-alive
    sockets (a TLS handshake per sentence would be heard)."""
    key = (
        settings.azure_speech_endpoint,
        settings.azure_speech_region,
        settings.azure_speech_key.get_secret_value() if settings.azure_speech_key else None,
        settings.voicedesk_request_timeout,
    )
    with _lock:
        if key not in _connections:
            _connections[key] = wire.connect(settings)
        return _connections[key]


def transcriber(settings: Settings) -> AzureSpeechTranscriber:
    """ConfigError (one sentence) when the settings name no resource."""
    return AzureSpeechTranscriber(settings, _connection(settings))


def synthesizer(settings: Settings) -> AzureSpeechSynthesizer:
    return AzureSpeechSynthesizer(settings, _connection(settings))


def stt_api_label(settings: Settings) -> str:
    return {
        "auto": "short audio up to 60 s, fast transcription above",
        "short": "short audio",
        "fast": "fast transcription",
    }[settings.voicedesk_azure_stt]


def config_rows(settings: Settings) -> list[tuple[str, str]]:
    """What `config` shows about Azure AI Speech; the key only as set or not set."""
    from assistant.config import is_set, safe_url

    if settings.azure_speech_endpoint:
        where = f"{safe_url(settings.azure_speech_endpoint)} (AZURE_SPEECH_ENDPOINT)"
    elif settings.azure_speech_region:
        where = f"region {settings.azure_speech_region} (AZURE_SPEECH_REGION)"
    else:
        where = "not set (AZURE_SPEECH_REGION or AZURE_SPEECH_ENDPOINT)"
    auth = (
        f"key (AZURE_SPEECH_KEY {is_set(settings.azure_speech_key)})"
        if settings.azure_speech_key
        else "Entra ID (DefaultAzureCredential), as AZURE_SPEECH_KEY is not set"
    )
    return [
        ("speech resource", where),
        ("speech sign-in", auth),
        ("speech language", settings.voicedesk_speech_language),
        ("speech-to-text API", stt_api_label(settings)),
        (
            "speech voice",
            f"{settings.voicedesk_azure_voice}, rate {settings.voicedesk_speech_rate}",
        ),
    ]


def doctor_rows(settings: Settings, timeout: float = 10.0) -> list:
    """Two rows (assistant.doctor.Row): can the resource hear (the fast-transcription locale
    list: free, signed in like a recognition) and speak (the voice list, which must offer the
    voice)? Both at once, each bounded by `timeout` seconds; nothing is spoken or billed."""
    from assistant.config import ConfigError
    from assistant.doctor import Row

    checks = {"Speech-to-text": _check_hearing, "Text-to-speech": _check_voice}
    try:
        connection = _connection(settings)
    except ConfigError as exc:
        return [Row(name, SPEAKER_LABEL, "cloud", "-", False, 0.0, str(exc)) for name in checks]
    results: dict[str, tuple[float, str | None, str | None]] = {}

    def run(name: str) -> None:
        started = time.perf_counter()
        try:
            fix, note = checks[name](settings, connection)
        except TurnError as exc:
            fix, note = str(exc), None
        except Exception as exc:  # a check must end in a row, never a traceback
            wire.log.exception("Azure AI Speech check failed")
            fix, note = f"The check failed unexpectedly ({type(exc).__name__}); see the log.", None
        results[name] = ((time.perf_counter() - started) * 1000, fix, note)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in checks]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    rows = []
    for name in checks:
        latency, fix, note = results.get(
            name, (None, f"It did not answer within {timeout:g} seconds.", None)
        )
        backend = f"{SPEAKER_LABEL} ({'Entra ID' if connection.entra else 'key'})"
        rows.append(
            Row(name, backend, "cloud", connection.where, name in results and fix is None,
                latency, fix, note)
        )  # fmt: skip
    return rows


SPEAKER_LABEL = wire.SPEAKER


def _check_hearing(settings: Settings, c: wire.Connection) -> tuple[str | None, str | None]:
    try:
        response = c.http.get(
            c.api_base + wire.LOCALES_PATH,
            params={"api-version": wire.FAST_API_VERSION},
            headers=c.auth_headers(),
        )
    except httpx.HTTPError as exc:
        raise wire.transport_fault(exc) from None
    if response.status_code != 200:
        raise wire.status_fault(response, c, "hear")
    note = f"Listens for {settings.voicedesk_speech_language} ({stt_api_label(settings)})."
    return None, note


def _check_voice(settings: Settings, c: wire.Connection) -> tuple[str | None, str | None]:
    try:
        response = c.http.get(c.tts_base + wire.VOICES_PATH, headers=c.auth_headers())
    except httpx.HTTPError as exc:
        raise wire.transport_fault(exc) from None
    if response.status_code != 200:
        raise wire.status_fault(response, c, "speak")
    try:
        voices = {v.get("ShortName") for v in response.json() if isinstance(v, dict)}
    except (ValueError, TypeError):
        raise wire.unreadable() from None
    voice = settings.voicedesk_azure_voice
    if voice not in voices:
        return (
            f"This resource offers no voice called '{voice}'; set VOICEDESK_AZURE_VOICE to one "
            "of its voices, like en-US-JennyMultilingualNeural.",
            None,
        )
    return None, f"Speaks with {voice}."
