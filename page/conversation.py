"""The conversation as chat messages: earlier exchanges, the turn being answered (with its
stages as they happen) and the error of a turn that failed.

A browser keeps an element as it is when a rerun sends it unchanged at the same place, and
rebuilds it otherwise. So a finished exchange is drawn with the same elements, in the same
order, whether it was just answered or is redrawn by a later rerun, and the newest answer keeps
`autoplay=True` until a newer one arrives: a rerun (opening "Behind the answer", choosing
another customer) neither replays the answer nor cuts it off. Elements only a live run adds
come last in their message.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import streamlit as st

from assistant.history import SPOKEN_PLACEHOLDER, Exchange
from assistant.models import Action, Event, Reply
from assistant.turn import MAX_TYPED_CHARS
from page.markup import md_escape
from page.player import AnswerSink
from page.progress import ProgressLog, seconds, timeline, total_ms
from page.state import Notice, Question
from page.stream import AnswerStream
from page.trace import render_trace

ShowActions = Callable[[list[Action], str], None]  # the calls waiting for the agent, by key
USER_AVATAR = ":material/support_agent:"
ASSISTANT_AVATAR = ":material/headset_mic:"
LISTENING = "_Spoken question_"
SHOWN_OF_LONG = 300  # characters shown of a typed question too long to answer
DONE_ICON = ":material/check:"  # what st.status shows when complete
NO_SPEECH = ":material/volume_off: This answer came without speech."
# Bring the newest message into view: the page does not follow new content by itself. A
# constant script (no input in it), run by the browser when the element appears.
SCROLL_TO_NEWEST = """<script>
(() => {
  const messages = document.querySelectorAll('[data-testid="stChatMessage"]');
  let box = messages.length ? messages[messages.length - 1].parentElement : null;
  while (box && box.scrollHeight <= box.clientHeight + 1) box = box.parentElement;
  if (box) box.scrollTo({top: box.scrollHeight, behavior: "smooth"});
})();
</script>"""


def render_exchange(
    exchange: Exchange,
    key: str,
    *,
    newest: bool,
    autoplay: bool,
    replay: str | None,
    on_replay: Callable,
    show_actions: ShowActions | None = None,
) -> None:
    """One finished exchange. The newest has its players on the page (its answer autoplays
    until a new question is asked); an earlier one has "Play again" buttons, and the one asked
    for gets its player, playing. So the page stays light however long the conversation (each
    player costs every rerun a hash of its audio)."""
    number = _ordinal(key)
    with st.chat_message("user", avatar=USER_AVATAR):
        st.markdown(_user_text(exchange.user_text))
        if exchange.user_audio:
            _player(exchange.user_audio, f"{key}-question", f"Recording of question {number}",
                    newest=newest, replay=replay, on_replay=on_replay, autoplay=False)  # fmt: skip
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        if newest:
            # As the finished st.status of the live run looks (same place, so the player after
            # it stays as it is); an expander, as creating a status costs 50 ms (Streamlit waits
            # for the browser). Earlier exchanges leave it out: their timings are "behind".
            with st.expander(done_label(exchange.reply), icon=DONE_ICON, type="compact"):
                st.markdown(_lines_markdown(exchange.reply))
        st.markdown(md_escape(exchange.reply.transcript))
        if exchange.reply.audio_wav:
            _player(exchange.reply.audio_wav, f"{key}-answer", f"Spoken answer {number}",
                    newest=newest, replay=replay, on_replay=on_replay, autoplay=autoplay)  # fmt: skip
        else:
            st.caption(NO_SPEECH)
        if show_actions and exchange.reply.actions:
            show_actions(exchange.reply.actions, key)
        _trace(exchange.reply, key)


def customer_changes(customers: list[str | None], current: str | None) -> list[str | None]:
    """Before each exchange, and after the last: the customer now helped when it differs from
    the one before (None where nothing changed). The first exchange has none: the line at the
    top of the page names its customer. Drawn before the change's first question, the line sits
    where it stays when that question is answered, so no answer below it is rebuilt."""
    asked = [*customers, current]
    return [None] + [
        _customer_name(after) if after != before else None for before, after in pairwise(asked)
    ]


def _customer_name(customer: str | None) -> str:
    return customer or "no particular customer"


def render_customer_change(customer: str | None) -> None:
    """A small line in the conversation: "Now helping dev"."""
    if customer is not None:
        st.caption(f":material/swap_horiz: Now helping **{md_escape(customer)}**",
                   text_alignment="center")  # fmt: skip


def _player(
    wav: bytes, target: str, alt: str, *, newest: bool, replay: str | None, on_replay: Callable,
    autoplay: bool,
) -> None:  # fmt: skip
    if newest:
        st.audio(wav, format="audio/wav", autoplay=autoplay, alt=alt)
    elif replay == target:
        st.audio(wav, format="audio/wav", autoplay=True, alt=alt)
    else:
        label = "Play the answer again" if target.endswith("answer") else "Play the recording"
        st.button(label, key=f"replay-{target}", type="tertiary", icon=":material/replay:",
                  on_click=on_replay, args=(target,))  # fmt: skip


def render_question(question: Question, key: str) -> Callable[[str], None]:
    """The user's side of a turn not answered yet; returns how to fill in their words later."""
    with st.chat_message("user", avatar=USER_AVATAR):
        words = st.empty()
        words.markdown(_typed_words(question.text) if question.text else LISTENING)
        if question.audio:
            alt = f"Recording of question {_ordinal(key)}"
            st.audio(question.audio, format="audio/wav", alt=alt)
        scroll_to_newest()
    return lambda text: words.markdown(_user_text(text))


class LiveStatus:
    """The engine's events drawn into an st.status as they arrive."""

    def __init__(self) -> None:
        self.log = ProgressLog()
        self.box = st.status(_working("Getting ready"), type="compact", expanded=True)
        self.lines = self.box.empty()  # not `with self.box`: leaving it marks the status done

    def __call__(self, event: Event) -> None:
        self.log.apply(event)
        self.lines.markdown(self.log.markdown())
        if self.log.current:
            self.box.update(label=_working(self.log.current), expanded=True)

    def done(self, reply: Reply) -> None:
        self.lines.markdown(_lines_markdown(reply))
        self.box.update(label=done_label(reply), state="complete", expanded=False)

    def failed(self) -> None:
        self.box.update(label="No answer", state="error", expanded=False)


def render_live_answer(
    run: Callable[[AnswerSink], Reply | None],
    key: str,
    notice: Callable[[], None],
    show_actions: ShowActions | None = None,
    *,
    stream: AnswerStream,
    show_heard: Callable[[str], None] | None = None,
) -> Reply | None:
    """The assistant's side of the turn being answered: its stages as they happen, the answer's
    text as it grows (its audio goes to the player as it arrives), then the whole answer, or the
    failure (`notice` draws it). An answer the player did not play is played whole here."""
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        status = LiveStatus()
        text = st.empty()  # where the answer grows; then the answer itself, as redrawn later
        sink = AnswerSink(status, lambda words: text.markdown(md_escape(words)), show_heard, stream)
        try:
            reply = run(sink)
            # Asked while the turn is still open: the tab's "played" is only heard until `close`,
            # and a one-sentence answer arrives in one burst at the very end.
            played = reply is not None and stream.played_in_browser()
        finally:
            stream.close()
        if reply is None:
            text.empty()
            status.failed()
            notice()
        else:
            status.done(reply)
            _answer(reply, key, autoplay=not played, show_actions=show_actions, text=text)
        scroll_to_newest()
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


def scroll_to_newest() -> None:
    st.html(SCROLL_TO_NEWEST, unsafe_allow_javascript=True)


def done_label(reply: Reply) -> str:
    tools = len(reply.tool_calls)
    used = f" · {tools} tool{'s' if tools != 1 else ''}" if tools else ""
    return f"Answered in {seconds(total_ms(reply))}{used}"


def _working(label: str) -> str:
    return f":shimmer[{md_escape(label)}…]"


def _answer(
    reply: Reply, key: str, *, autoplay: bool, show_actions: ShowActions | None = None,
    text: Any,
) -> None:  # fmt: skip
    """The live run's answer: as render_exchange draws the newest exchange."""
    text.markdown(md_escape(reply.transcript))
    if reply.audio_wav:
        number = _ordinal(key)
        st.audio(reply.audio_wav, format="audio/wav", autoplay=autoplay,
                 alt=f"Spoken answer {number}")  # fmt: skip
    else:
        st.caption(NO_SPEECH)
    if show_actions and reply.actions:
        show_actions(reply.actions, key)
    _trace(reply, key)


def _trace(reply: Reply, key: str) -> None:
    with st.expander(
        "Behind the answer", key=f"trace-{key}", on_change="rerun", type="compact",
        icon=":material/manage_search:",
    ) as panel:  # fmt: skip
        if panel.open:  # drawn only when opened, so long conversations rerun fast
            render_trace(reply)


def _ordinal(key: str) -> int:
    """'2-0' (conversation 2, first exchange) -> 1: the number a person counts by."""
    return int(key.rsplit("-", 1)[-1]) + 1


def _typed_words(text: str) -> str:
    """A typed question as asked; of one too long to answer (refused), only its start, so a
    pasted book is not sent to the browser on every rerun."""
    if len(text) <= MAX_TYPED_CHARS:
        return md_escape(text)
    return md_escape(text[:SHOWN_OF_LONG]) + f" … _({len(text):,} characters)_"


def _user_text(text: str) -> str:
    if text == SPOKEN_PLACEHOLDER:
        return "_Spoken question (no transcript)_"
    return md_escape(text)


def _lines_markdown(reply: Reply) -> str:
    return "  \n".join(line.markdown() for line in timeline(reply))
