"""The model providers, one module each: `get(name)` is the only way to tell them apart."""

from __future__ import annotations

from assistant.providers.azure import AZURE
from assistant.providers.base import ModelClient, Provider
from assistant.providers.offline import OFFLINE
from assistant.providers.openai import OPENAI

PROVIDERS: dict[str, Provider] = {p.name: p for p in (OPENAI, AZURE, OFFLINE)}

__all__ = ["PROVIDERS", "ModelClient", "Provider", "get"]


def get(name: str) -> Provider:
    """The provider called `name` ("openai", "azure", "offline"); KeyError for any other."""
    return PROVIDERS[name]
