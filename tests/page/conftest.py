"""Fixtures for the page's tests: the app under AppTest, with the model pointed at the Chat
Completions double and a fresh data directory; nothing from the developer's own settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import isolate_env

APP = Path(__file__).resolve().parents[2] / "app.py"


def clear_page_caches() -> None:
    """Forget the process-wide resources (settings, engines, tools), as a fresh server would."""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def page_env(monkeypatch, tmp_path):
    """Settings for the page: demo data in tmp_path, no model configured yet."""
    isolate_env(monkeypatch)
    monkeypatch.setenv("VOICEDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VOICEDESK_MAX_RETRIES", "0")  # a scripted failure is seen at once
    clear_page_caches()
    yield tmp_path
    clear_page_caches()


@pytest.fixture
def cloud_env(page_env, monkeypatch, chat_double):
    """The page answering with "OpenAI" = the Chat Completions double."""
    monkeypatch.setenv("OPENAI_BASE_URL", chat_double.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-page")
    # No transcription of the user's words unless a test scripts it (see `transcribing`).
    monkeypatch.setenv("VOICEDESK_TRANSCRIBE_MODEL", "")
    return chat_double


@pytest.fixture
def transcribing(cloud_env, monkeypatch):
    monkeypatch.setenv("VOICEDESK_TRANSCRIBE_MODEL", "gpt-4o-mini-transcribe")
    return cloud_env


@pytest.fixture
def make_app():
    from streamlit.testing.v1 import AppTest

    def make() -> AppTest:
        return AppTest.from_file(str(APP), default_timeout=30)

    return make
