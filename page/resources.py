"""Long-lived things, shared by every session of the process (st.cache_resource): settings,
backends and tools, one engine per provider and model, and the cached player list and backend
health. A rerun that starts no turn only reads these caches: no database, file or network."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import streamlit as st

from assistant.config import Settings, load_settings
from assistant.logs import setup_logging
from assistant.pricing import PRICES
from assistant.service import build_engine, build_tools
from assistant.turn import TurnEngine
from page.periodic import Periodic
from tools.backends import Backends
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

PLAYERS_TTL_S = 600.0  # the player list changes rarely
HEALTH_TTL_S = 60.0
HEALTH_RETRY_S = 15.0
FIRST_VIEW_WAIT_S = 3.0  # the first page view waits this long for the first health check
AUDIO_MODELS = tuple(
    name for name in PRICES if "audio" in name and "transcribe" not in name
)  # the OpenAI models that hear and speak; others can be set with VOICEDESK_MODEL
PROVIDER_NAMES = {
    "openai": "OpenAI",
    "azure": "Azure OpenAI",
    "offline": "Offline (on this machine)",
}


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """Read exactly as the command line does; raises ConfigError (not cached) when invalid."""
    loaded = load_settings()
    setup_logging(loaded)
    return loaded


@st.cache_resource(show_spinner="Opening the support systems…")
def tools() -> tuple[Backends, ToolRegistry]:
    return build_tools(settings())


@st.cache_resource(show_spinner="Connecting to the model…", max_entries=8)
def engine(provider: str, model: str) -> TurnEngine:
    """One engine per provider and model, sharing the tools; raises ConfigError (not cached)
    when that provider is not set up."""
    base = settings()
    chosen = (
        base
        if model == base.voicedesk_model
        else base.model_copy(update={"voicedesk_model": model})
    )
    return build_engine(chosen, provider=provider, registry=tools()[1])


@st.cache_resource(show_spinner=False)
def providers() -> list[str]:
    """The providers this installation can use: the one in force first."""
    current = settings()
    found = [current.provider]
    if current.openai_api_key or current.openai_base_url:
        found.append("openai")
    if current.azure_openai_endpoint and current.azure_openai_deployment:
        found.append("azure")
    if offline_installed():
        found.append("offline")
    return list(dict.fromkeys(found))


@st.cache_resource(show_spinner=False)
def offline_installed() -> bool:
    return importlib.util.find_spec("assistant.offline.client") is not None


def models_for(provider: str) -> list[str]:
    """The models the sidebar offers: OpenAI's audio models; elsewhere the one configured."""
    current = settings()
    if provider == "openai":
        return list(dict.fromkeys([current.voicedesk_model, *AUDIO_MODELS]))
    return [current.voicedesk_model]


@st.cache_resource(show_spinner=False)
def player_names() -> Periodic[list[str]]:
    backends, _ = tools()
    return Periodic(
        backends.stats.player_names, PLAYERS_TTL_S, retry_after=HEALTH_RETRY_S, name="players"
    )


@st.cache_resource(show_spinner=False)
def health() -> Periodic[list[Any]]:
    from assistant.doctor import check_backends

    current = settings()
    return Periodic(
        lambda: check_backends(current), HEALTH_TTL_S, retry_after=HEALTH_RETRY_S, name="health"
    )
