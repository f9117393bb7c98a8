"""Fixtures for the live mode: the realtime double, and sessions opened as the page opens them."""

from __future__ import annotations

import pytest

from tests.live.realtime_double import RealtimeDouble
from tests.support import isolate_env, make_settings


@pytest.fixture
def realtime_double():
    """A started realtime double; the test fails if any event broke the published schema."""
    with RealtimeDouble() as double:
        yield double
    assert double.violations == [], "the realtime double saw:\n" + "\n".join(double.violations)


@pytest.fixture
def live_engine(realtime_double, tmp_path, monkeypatch):
    """`live_engine(**settings)`: a TurnEngine built from settings with the live model on the
    double (OpenAI by default; provider="azure" for Azure OpenAI)."""
    isolate_env(monkeypatch)

    def build(provider: str = "openai", **overrides):
        from assistant.service import build_engine

        if provider == "azure":
            overrides.setdefault("azure_openai_endpoint", realtime_double.azure_endpoint)
            overrides.setdefault("azure_openai_deployment", "voice-prod")
            overrides.setdefault("azure_openai_api_key", "azure-key-test")
            overrides.setdefault("voicedesk_live_model", "realtime-prod")
        else:
            overrides.setdefault("openai_base_url", realtime_double.base_url)
            overrides.setdefault("openai_api_key", "sk-test")
        overrides.setdefault("voicedesk_max_retries", 0)
        settings = make_settings(tmp_path / "data", voicedesk_provider=provider, **overrides)
        return build_engine(settings)

    return build
