"""The conversation as chat messages: earlier exchanges, the turn being answered (with its
stages as they happen) and the error of a turn that failed.

A finished exchange is drawn with the same elements, in the same order, whether it was just
answered or is being redrawn by a later rerun: the browser then keeps its audio players as they
are, so a rerun neither replays the newest answer nor cuts it off.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from assistant.history import SPOKEN_PLACEHOLDER, Exchange
from assistant.models import Event, Reply
from page.markup import md_escape
from page.progress import ProgressLog, seconds, timeline, total_ms
from page.state import Notice, Question
from page.trace import render_trace

USER_AVATAR = ":material/support_agent:"
ASSISTANT_AVATAR = ":material/headset_mic:"
LISTENING = "_Spoken question_"


def render_exchange(exchange: Exchange, key: str) -> None:
    with st.chat_message("user", avatar=USER_AVATAR):
        st.markdown(_user_text(exchange.user_text, exchange.spoken))
        if exchange.user_audio:
            st.audio(exchange.user_audio, format="audio/wav")
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        with st.status(done_label(exchange.reply), state="complete", type="compact"):
            st.markdown(_lines_markdown(exchange.reply))
        _answer(exchange.reply, key, autoplay=False)


def render_question(question: Question) -> Callable[[str], None]:
    """The user's side of a turn not answered yet; returns how to fill in their words later."""
    with st.chat_message("user", avatar=USER_AVATAR):
        words = st.empty()
        words.markdown(md_escape(question.text) if question.text else LISTENING)
        if question.audio:
            st.audio(question.audio, format="audio/wav")
    return lambda text: words.markdown(_user_text(text, question.spoken))


class LiveStatus:
    """The engine's events drawn into an st.status as they arrive."""

    def __init__(self) -> None:
        self.log = ProgressLog()
        self.box = st.status("Getting ready…", state="running", type="compact", expanded=True)
        with self.box:
            self.lines = st.empty()

    def __call__(self, event: Event) -> None:
        self.log.apply(event)
        self.lines.markdown(self.log.markdown())
        if self.log.current:
            self.box.update(label=f"{self.log.current}…")

    def done(self, reply: Reply) -> None:
        self.lines.markdown(_lines_markdown(reply))
        self.box.update(label=done_label(reply), state="complete", expanded=False)

    def failed(self) -> None:
        self.box.update(label="No answer", state="error", expanded=False)


def render_live_answer(
    run: Callable[[LiveStatus], Reply | None], key: str, notice: Callable[[], None]
) -> Reply | None:
    """The assistant's side of the turn being answered: its stages as they happen, then the
    answer, or the failure (`notice` draws it)."""
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        status = LiveStatus()
        reply = run(status)
        if reply is None:
            status.failed()
            notice()
            return None
        status.done(reply)
        _answer(reply, key, autoplay=True)
    return reply


def render_failed(notice: Callable[[], None]) -> None:
    """The assistant's side of a turn that failed on an earlier run."""
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        notice()


def notice_body(notice: Notice, *, offline_offered: bool, on_retry: Callable[[str], None]) -> None:
    """The failure's sentence, with "Try again" (the same question) and "Answer offline"."""
    st.error(notice.sentence, icon=":material/error:")
    if not (notice.retryable or (notice.unreachable and offline_offered)):
        return
    with st.container(horizontal=True):
        if notice.retryable:
            st.button(
                "Try again", key="retry", type="primary", icon=":material/refresh:",
                on_click=on_retry, args=("again",),
            )  # fmt: skip
        if notice.unreachable and offline_offered:
            st.button(
                "Answer offline", key="retry-offline", icon=":material/cloud_off:",
                on_click=on_retry, args=("offline",),
            )  # fmt: skip


def done_label(reply: Reply) -> str:
    tools = len(reply.tool_calls)
    used = f" · {tools} tool{'s' if tools != 1 else ''}" if tools else ""
    return f"Answered in {seconds(total_ms(reply))}{used}"


def _answer(reply: Reply, key: str, *, autoplay: bool) -> None:
    st.markdown(md_escape(reply.transcript))
    if reply.audio_wav:
        st.audio(reply.audio_wav, format="audio/wav", autoplay=autoplay)
    else:
        st.caption(":material/volume_off: This answer came without speech.")
    with st.expander(
        "Behind the answer", key=f"trace-{key}", on_change="rerun", type="compact",
        icon=":material/manage_search:",
    ) as panel:  # fmt: skip
        if panel.open:  # drawn only when opened, so long conversations rerun fast
            render_trace(reply)


def _user_text(text: str, spoken: bool) -> str:
    if text == SPOKEN_PLACEHOLDER:
        return "_Spoken question (no transcript)_"
    return md_escape(text)


def _lines_markdown(reply: Reply) -> str:
    return "  \n".join(line.markdown() for line in timeline(reply))
