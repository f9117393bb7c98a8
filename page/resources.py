"""Long-lived things, shared by every session of the process (st.cache_resource): settings,
backends and tools, one engine per provider and model, and the cached player list and backend
health. A rerun that starts no turn only reads these caches: no database, file or network."""

from __future__ import annotations

import logging
import threading
from typing import Any

import streamlit as st

from assistant.config import ConfigError, Settings, load_settings
from assistant.doctor import Row, check_backends
from assistant.logs import setup_logging
from assistant.providers import PROVIDERS
from assistant.providers import get as providers_get
from assistant.service import build_engine, build_tools
from assistant.turn import TurnEngine
from page.periodic import Periodic
from page.shelf import Shelf
from tools.backends import Backends
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

PLAYERS_TTL_S = 600.0  # the player list changes rarely
HEALTH_TTL_S = 60.0
HEALTH_RETRY_S = 15.0
FIRST_VIEW_WAIT_S = 3.0  # the first page view waits this long for the first health check
@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """Read exactly as the command line does; raises ConfigError (not cached) when invalid."""
    loaded = load_settings()
    setup_logging(loaded)
    return loaded


@st.cache_resource(show_spinner=False)
def shelf() -> Shelf:
    """The conversations kept across reloads of their tabs (one per process)."""
    return Shelf()


@st.cache_resource(show_spinner="Opening the support systems…")
def tools() -> tuple[Backends, ToolRegistry]:
    return build_tools(settings())


def engine(provider: str, model: str, mode: str | None = None) -> TurnEngine:
    """One engine per provider, model and voice mode, sharing the tools; ConfigError when that
    provider is not set up (remembered, so a page that cannot answer does not retry on every
    rerun)."""
    built = _engine(provider, model, mode or settings().mode_for(provider)[0])
    if isinstance(built, ConfigError):
        raise ConfigError(str(built))
    return built


@st.cache_resource(show_spinner="Connecting to the model…", max_entries=8)
def _engine(provider: str, model: str, mode: str = "audio_chat") -> TurnEngine | ConfigError:
    base = settings()
    changes = {"voicedesk_model": model, "voicedesk_mode": mode}
    changed = {k: v for k, v in changes.items() if getattr(base, k) != v}
    chosen = base.model_copy(update=changed) if changed else base
    try:
        return build_engine(chosen, provider=provider, registry=tools()[1])
    except ConfigError as exc:
        return exc


def offline_engine(model: str) -> Any:
    """The OfflineEngine behind the offline provider (its models start loading when it is first
    built), or None when offline mode is not installed."""
    try:
        built = engine("offline", model)
    except ConfigError:
        return None
    from localspeech.client import offline_engine_of

    return offline_engine_of(built.client.api)


@st.cache_resource(show_spinner=False)
def providers() -> list[str]:
    """The providers this installation can use: the one in force first."""
    current = settings()
    found = [current.provider, *(p.name for p in PROVIDERS.values() if p.configured(current))]
    return list(dict.fromkeys(found))


def models_for(provider: str) -> list[str]:
    """The models the sidebar offers: OpenAI's audio models; elsewhere the one configured."""
    return providers_get(provider).models(settings())


@st.cache_resource(show_spinner=False)
def player_names() -> Periodic[list[str]]:
    backends, _ = tools()
    return Periodic(
        backends.stats.player_names, PLAYERS_TTL_S, retry_after=HEALTH_RETRY_S, name="players"
    )


@st.cache_resource(show_spinner=False)
def health() -> Periodic[list[Row]]:
    """The doctor's rows for the very backends the tools use, checked in the background."""
    current, (backends, _) = settings(), tools()
    return Periodic(
        lambda: check_backends(current, backends),
        HEALTH_TTL_S,
        retry_after=HEALTH_RETRY_S,
        name="health",
    )


@st.cache_resource(show_spinner=False)
def warm_imports() -> threading.Thread:
    """Import the table and chart libraries in the background once per process, so the first
    "Behind the answer" opens without a second's wait."""

    def load() -> None:
        import altair  # noqa: F401
        import pandas  # noqa: F401

    thread = threading.Thread(target=load, name="warm-imports", daemon=True)
    thread.start()
    return thread
