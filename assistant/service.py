"""Wire the long-lived parts together: settings, backends, tools, model client, turn engine."""

from __future__ import annotations

from assistant.client import build_client
from assistant.config import Settings
from assistant.turn import TurnEngine
from tools.backends import Backends, build_backends
from tools.registry import ToolRegistry, build_registry


def build_tools(settings: Settings) -> tuple[Backends, ToolRegistry]:
    backends = build_backends(settings)
    return backends, build_registry(backends, timeout=settings.voicedesk_tool_timeout)


def build_engine(
    settings: Settings, provider: str | None = None, registry: ToolRegistry | None = None
) -> TurnEngine:
    """One engine per process and provider; raises ConfigError when the provider is not set up."""
    if registry is None:
        registry = build_tools(settings)[1]
    return TurnEngine(settings, build_client(settings, provider), registry)
