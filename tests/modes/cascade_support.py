"""Shared by the cascade's tests: the audio double, an engine in cascade mode on the doubles,
and an event sink that records the order of what a page would be handed (and can talk over it).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from assistant.models import Event
from tests.doubles.audio_double import AudioDouble
from tests.support import make_settings

WAIT_S = 30.0


@pytest.fixture
def audio_double():
    """A started AudioDouble; the test fails if a request broke the contract."""
    with AudioDouble() as double:
        yield double
    assert double.violations == [], "\n".join(double.violations)


def cascade_engine(data_dir: Path, chat, audio: AudioDouble, **overrides):
    """An engine in cascade mode, built as the page and command line build it: hearing and
    speaking on the audio double (OpenAI's parts), thinking on the chat double reached as a text
    model server. Call isolate_env first."""
    from assistant.service import build_engine, build_tools

    overrides.setdefault("voicedesk_max_retries", 0)
    settings = make_settings(
        data_dir, voicedesk_mode="cascade", openai_base_url=audio.base_url,
        openai_api_key="sk-test", voicedesk_text_base_url=chat.base_url,
        voicedesk_text_model="gpt-4o-mini", **overrides,
    )  # fmt: skip
    return build_engine(settings, registry=build_tools(settings)[1])


def wait_for_names(engine) -> None:
    """The players' names are read in the background for the transcriber's prompt."""
    deadline = time.monotonic() + WAIT_S
    while engine.mode.names.prompt() is None and time.monotonic() < deadline:
        time.sleep(0.02)


class Sink:
    """Records each event; `on_first_audio` runs once, on the first audio chunk; `cancel` is
    what the page's sink carries for barge-in."""

    def __init__(self, on_first_audio=None):
        self.events: list[Event] = []
        self.cancel = threading.Event()
        self.on_first_audio = on_first_audio

    def __call__(self, event: Event) -> None:
        first = event.kind == "audio_chunk" and not self.of("audio_chunk")
        self.events.append(event)
        if first and self.on_first_audio:
            self.on_first_audio()

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]
