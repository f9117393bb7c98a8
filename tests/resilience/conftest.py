"""Fixtures for the resilience suite: vendor doubles on 127.0.0.1 that outlive the processes
under test, isolated settings, and engines built exactly as the page and command line build them.
"""

from __future__ import annotations

import pytest

from assistant.service import build_engine, build_tools
from tests.cloud.conftest import need, postgres_odbc, sqlite_odbc  # noqa: F401 (fixtures)
from tests.doubles.chat_double import ChatDouble
from tests.doubles.search_double import SearchDouble
from tests.page.conftest import cloud_env, make_app, page_env  # noqa: F401 (fixtures)
from tests.support import make_settings

# The help-centre index the cloud search double serves (a small slice of the manuals' topics).
HELP_INDEX = "help"
HELP_DOCS = [
    {"id": "w1", "title": "Wallet", "section": "Withdrawals", "source": "wallet.md",
     "text": "Withdrawals take up to three working days after identity verification."},
    {"id": "a1", "title": "Account and security", "section": "Two-step verification",
     "source": "account-and-security.md",
     "text": "Turn on two-step verification in Settings with an authenticator app."},
    {"id": "h1", "title": "Games", "section": "Account and games help", "source": "games.md",
     "text": "Your game history and points are under Profile, then Games."},
]  # fmt: skip


@pytest.fixture
def auto_double():
    """A ChatDouble that answers by itself (calls the tools, then speaks their summaries);
    steps scripted on it (faults) are served first. It must see no contract violation."""
    with ChatDouble(policy="auto") as double:
        yield double
    assert double.violations == [], "\n".join(double.violations)


@pytest.fixture
def search_double(_search_server):
    _search_server.reset()
    fill_help_index(_search_server)
    yield _search_server
    _search_server.reset()


def fill_help_index(double: SearchDouble) -> None:
    double.add_index(HELP_INDEX)
    double.add_docs(HELP_INDEX, HELP_DOCS)


@pytest.fixture
def engine_for(clean_env, tmp_path):
    """Build an engine from settings (as the page and the CLI do): model on a double, the
    backends chosen by the settings; nothing from the developer's own environment. The last
    engine's backends are kept in `build.backends`."""

    def build(double: ChatDouble, provider: str = "openai", **overrides):
        overrides.setdefault("voicedesk_max_retries", 0)
        overrides.setdefault("voicedesk_transcribe_model", "")
        if provider == "azure":
            overrides.setdefault("azure_openai_endpoint", double.azure_endpoint)
            overrides.setdefault("azure_openai_deployment", "voice-prod")
            overrides.setdefault("azure_openai_api_key", "azure-key-test")
        else:
            overrides.setdefault("openai_base_url", double.base_url)
            overrides.setdefault("openai_api_key", "sk-test")
        settings = make_settings(tmp_path / "data", **overrides)
        build.backends, registry = build_tools(settings)
        return build_engine(settings, registry=registry)

    return build
