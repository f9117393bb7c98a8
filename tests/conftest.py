"""Fixtures shared by the whole test suite. Each block says whose it is; keep blocks small."""

from __future__ import annotations

import pytest

from tests.doubles.jira_double import JiraDouble
from tests.doubles.search_double import SearchDouble
from tests.support import isolate_env, make_settings

# --- Chat Completions double (tests/doubles/chat_double.py) -------------------------------------


@pytest.fixture
def chat_double():
    """A started ChatDouble (scripted policy); the test fails if a request broke the contract.

    A test that sends a bad request on purpose asserts on `violations`, then clears them.
    """
    from tests.doubles.chat_double import ChatDouble

    with ChatDouble() as double:
        yield double
    assert double.violations == [], "the Chat Completions double saw:\n" + "\n".join(
        double.violations
    )


@pytest.fixture
def engine_for(chat_double, tmp_path, monkeypatch):
    """Build an engine on the double (no retries), nothing from the developer's environment:
    `engine_for(**settings_overrides)`. tests/resilience has its own, which takes the double."""
    isolate_env(monkeypatch)

    def build(**overrides):
        from assistant.service import build_engine  # here: not every suite loads the engine

        overrides.setdefault("voicedesk_max_retries", 0)
        settings = make_settings(
            tmp_path, openai_base_url=chat_double.base_url, openai_api_key="sk-test", **overrides
        )
        return build_engine(settings)

    return build


# --- end of the Chat Completions double block ----------------------------------------------------


# --- Jira and Azure AI Search doubles, and isolated settings (cloud and resilience suites) -------


@pytest.fixture
def clean_env(monkeypatch):
    isolate_env(monkeypatch)


@pytest.fixture(scope="session")
def _jira_server():
    double = JiraDouble().start()  # stopping a server takes 0.5 s: one for the whole session
    yield double
    double.stop()


@pytest.fixture
def jira_double(_jira_server):
    _jira_server.reset()
    yield _jira_server
    _jira_server.reset()


@pytest.fixture(scope="session")
def _search_server():
    double = SearchDouble().start()
    yield double
    double.stop()


@pytest.fixture
def search_double(_search_server):
    _search_server.reset()
    yield _search_server
    _search_server.reset()


# --- Realtime double and live sessions (tests/live/realtime_double.py) ----------------------------


@pytest.fixture
def realtime_double():
    """A started realtime double; the test fails if any event broke the published schema."""
    from tests.live.realtime_double import RealtimeDouble

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


# --- end of the realtime double block -------------------------------------------------------------
