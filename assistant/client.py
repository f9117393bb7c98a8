"""One `openai` client per process for the provider in force. The turn never branches on it."""

from __future__ import annotations

from assistant import providers
from assistant.config import Settings
from assistant.providers import ModelClient

__all__ = ["ModelClient", "build_client"]


def build_client(settings: Settings, provider: str | None = None) -> ModelClient:
    """Build the client for `provider` (default: the one the settings choose); ConfigError when
    that provider is not set up."""
    return providers.get(provider or settings.provider).build(settings)
