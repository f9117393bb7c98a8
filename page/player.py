"""The answer player in the page: a small st.components.v2 component (player.js) that receives
this session's answer audio over the stream socket and plays it as it arrives, with its
"Stop speaking" button; and the sink that feeds a live turn's events to it and to the page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from assistant.models import ANSWER_SAMPLE_RATE, Event
from page.stream import HUB, AnswerStream, StreamHub
from page.stream_route import stream_path

TEXT_EVERY_S = 0.08  # the growing answer is redrawn at most this often (each is a message)
CSS = """
button.stop {
  font: inherit; font-size: 0.875rem; white-space: nowrap; cursor: pointer;
  padding: 0.4rem 0.75rem; border-radius: 0.5rem;
  color: var(--st-text-color); background: var(--st-secondary-background-color);
  border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.4));
}
button.stop:hover { border-color: var(--st-primary-color); color: var(--st-primary-color); }
button.stop[hidden] { display: none; }
"""
_component = st.components.v2.component(
    "voicedesk_player", css=CSS, js=(Path(__file__).with_name("player.js")).read_text()
)


def session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def render_player(identity: str | None, hub: StreamHub = HUB) -> None:
    """The player, where the page plays answers as they arrive; nothing when this server does
    not serve the stream (`streamlit run app.py`): answers then play whole, as before."""
    session = session_id()
    if not hub.served or session is None:
        return
    data = {
        "token": hub.token_for(session, identity),
        "path": stream_path(st.get_option("server.baseUrlPath")),
        "rate": ANSWER_SAMPLE_RATE,
    }
    _component(key="player", data=data, width="content")


def start_answer(hub: StreamHub = HUB) -> AnswerStream:
    """Where the turn about to run sends its audio."""
    return hub.begin(session_id() if hub.served else None)


class AnswerSink:
    """What the engine calls with each Event of the live turn: stages go to the status, the
    heard question and the growing answer text to the page, audio chunks to the player.

    `cancel` is set when the person asked this answer to stop (record pressed, a question typed,
    "Stop speaking"): an engine that reads `on_event.cancel` may stop generating then.
    """

    def __init__(
        self,
        status: Callable[[Event], None],
        show_text: Callable[[str], None],
        show_heard: Callable[[str], None] | None,
        stream: AnswerStream,
    ):
        self.status = status
        self.show_text = show_text
        self.show_heard = show_heard
        self.stream = stream
        self.cancel = stream.cancel
        self.text = ""
        self._shown_at = 0.0

    def __call__(self, event: Event) -> None:
        if event.kind == "audio_chunk":
            if isinstance(event.data, bytes | bytearray):
                self.stream.send(bytes(event.data))
        elif event.kind == "text_delta":
            if isinstance(event.data, str):
                self.text += event.data
                self._show(force=False)
        elif event.kind == "heard":
            if self.show_heard is not None and isinstance(event.data, str) and event.data:
                self.show_heard(event.data)
        else:
            self.status(event)

    def flush(self) -> None:
        if self.text:
            self._show(force=True)

    def _show(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._shown_at >= TEXT_EVERY_S:
            self._shown_at = now
            self.show_text(self.text)
