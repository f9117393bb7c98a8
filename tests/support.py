"""Helpers shared by tests: settings isolated from the developer's own environment and files."""

from __future__ import annotations

import os
from pathlib import Path

from assistant.config import Settings, load_settings

SETTING_NAMES = [name.upper() for name in Settings.model_fields] + ["OPENAI_API_VERSION"]


def isolate_env(monkeypatch) -> None:
    """No setting from the developer's shell, .env or secrets.toml leaks into a test."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VOICEDESK_NO_CONFIG_FILES", "1")


def make_settings(data_dir: Path, **overrides) -> Settings:
    assert os.environ.get("VOICEDESK_NO_CONFIG_FILES") == "1", "call isolate_env first"
    return load_settings(voicedesk_data_dir=data_dir, **overrides)
