"""Per-session state: one conversation per browser tab, and what the page must remember between
reruns (the question to retry, the recording already answered, the error to show).

No Streamlit import: the page stores a `PageState` in `st.session_state`, tests build one directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from assistant.history import Conversation

STATE_KEY = "voicedesk"
INTERRUPTED = "The answer was interrupted before it finished; press Try again to ask again."
UNEXPECTED = "Something went wrong while answering; the details are in the log. Try again."


@dataclass(frozen=True)
class Question:
    """One question as asked: a recording or typed text."""

    audio: bytes | None = None
    text: str | None = None
    recording_id: str | None = None

    @property
    def spoken(self) -> bool:
        return self.audio is not None


@dataclass(frozen=True)
class Notice:
    """The error shown under the conversation: one sentence, and what may be offered."""

    sentence: str
    retryable: bool = True
    unreachable: bool = False  # the model could not be reached: answering offline may help


@dataclass
class PageState:
    conversation: Conversation = field(default_factory=Conversation)
    last_recording_id: str | None = None  # the recording already asked: a rerun must not re-ask
    failed: Question | None = None  # the question that failed, kept for "Try again"
    notice: Notice | None = None
    retry: str | None = None  # "again" or "offline": set by the error's buttons
    suggested: str | None = None  # an example question clicked on the empty page
    replay: str | None = None  # the earlier recording or answer asked to be played again
    autoplay: str | None = None  # the key of the answer that plays by itself (the newest)
    conversation_no: int = 0  # bumps on "New conversation"; part of widget keys
    confirming_new: bool = False  # "New conversation" was pressed: waiting for "Yes, start over"

    def take_question(
        self, recording: Any, typed: str | None
    ) -> tuple[Question, str | None] | None:
        """The question this run must answer, with the provider override ("offline") if any.

        A retry wins; then a recording not answered yet; then a typed question. A recording that
        is still in the widget but was already asked is ignored, so reruns never re-ask it.
        """
        taken = self._take(recording, typed)
        if taken is not None:
            # A new question stops what is playing: the answer before it no longer autoplays
            # (its player is redrawn, which stops it) and replayed players go back to buttons.
            self.replay = self.autoplay = None
            self.confirming_new = False  # asking on means keeping the conversation
        return taken

    def _take(self, recording: Any, typed: str | None) -> tuple[Question, str | None] | None:
        if self.retry and self.failed is not None:
            provider = "offline" if self.retry == "offline" else None
            self.retry = None
            return self.failed, provider
        self.retry = None
        if recording is not None:
            rid = recording_id(recording)
            if rid != self.last_recording_id:
                self.last_recording_id = rid
                return Question(audio=recording.getvalue(), recording_id=rid), None
        suggested, self.suggested = self.suggested, None
        typed = typed if typed is not None and typed.strip() else suggested
        if typed is not None and typed.strip():
            return Question(text=typed.strip()), None
        return None

    def start(self, question: Question) -> None:
        """A turn begins: until it ends, the question counts as failed (so an interrupted run
        can be retried)."""
        self.failed, self.notice = question, Notice(INTERRUPTED)

    def succeed(self) -> None:
        self.failed, self.notice = None, None

    def fail(self, question: Question, notice: Notice) -> None:
        self.failed, self.notice = question, notice

    def ask_new_conversation(self) -> None:
        """"New conversation": an empty one is replaced at once, one with answers only after
        the agent says yes (a stray click must not throw a customer's call away)."""
        if self.conversation.exchanges:
            self.confirming_new = True
        else:
            self.new_conversation()

    def keep_conversation(self) -> None:
        self.confirming_new = False

    def new_conversation(self) -> None:
        """Forget the exchanges and any error; keep last_recording_id so the recording still in
        the widget is not asked again."""
        self.conversation = Conversation(customer=self.conversation.customer)
        self.failed = self.notice = self.retry = self.replay = self.autoplay = None
        self.confirming_new = False
        self.conversation_no += 1


def mic_key(state: PageState) -> str:
    """The microphone widget's key: a new conversation gets an empty one (the old recording
    would otherwise still sit in it)."""
    return "mic" if state.conversation_no == 0 else f"mic-{state.conversation_no}"


def recording_id(recording: Any) -> str:
    """A stable id for a recording: the upload's file id, or a digest of its bytes."""
    file_id = getattr(recording, "file_id", None)
    if file_id:
        return str(file_id)
    return hashlib.sha1(recording.getvalue()).hexdigest()


def page_state(session: MutableMapping[str, Any]) -> PageState:
    """This session's state, created on first use. Each browser tab is its own session."""
    state = session.get(STATE_KEY)
    if not isinstance(state, PageState):
        state = session[STATE_KEY] = PageState()
    return state
