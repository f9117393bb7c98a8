"""Which question a run answers, and what survives a failure or a new conversation."""

from __future__ import annotations

import io

from assistant.history import Conversation
from page.state import INTERRUPTED, Notice, PageState, Question, page_state, recording_id


class Upload(io.BytesIO):
    """What st.audio_input returns: bytes with a file id."""

    def __init__(self, data: bytes, file_id: str | None):
        super().__init__(data)
        self.file_id = file_id


def test_a_new_recording_is_asked_once():
    state = PageState()
    first = state.take_question(Upload(b"RIFF-1", "f1"), None)
    assert first == (Question(audio=b"RIFF-1", recording_id="f1"), None)
    assert state.take_question(Upload(b"RIFF-1", "f1"), None) is None  # the same, on a rerun
    second = state.take_question(Upload(b"RIFF-2", "f2"), None)
    assert second is not None and second[0].audio == b"RIFF-2"


def test_recording_id_falls_back_to_a_digest_of_the_bytes():
    assert recording_id(Upload(b"abc", None)) == recording_id(Upload(b"abc", None))
    assert recording_id(Upload(b"abc", None)) != recording_id(Upload(b"abd", None))
    assert recording_id(Upload(b"abc", "id-7")) == "id-7"


def test_typed_question_is_stripped_and_blank_is_ignored():
    state = PageState()
    assert state.take_question(None, "   ") is None
    assert state.take_question(None, "  my points? ") == (Question(text="my points?"), None)


def test_retry_resends_the_failed_question_even_with_a_recording_in_the_widget():
    state = PageState()
    question, _ = state.take_question(Upload(b"RIFF", "f1"), None)
    state.fail(question, Notice("OpenAI is busy (rate limit); wait a few seconds and try again."))
    state.retry = "again"
    assert state.take_question(Upload(b"RIFF", "f1"), None) == (question, None)
    assert state.retry is None
    state.retry = "offline"
    assert state.take_question(None, None) == (question, "offline")


def test_a_turn_that_is_cut_short_leaves_a_retryable_notice():
    state = PageState()
    question = Question(text="hello")
    state.start(question)
    assert state.failed == question and state.notice == Notice(INTERRUPTED)
    state.succeed()
    assert state.failed is None and state.notice is None


def test_new_conversation_keeps_the_customer_and_the_answered_recording():
    state = PageState(conversation=Conversation(customer="maria"))
    state.take_question(Upload(b"RIFF", "f1"), None)
    state.fail(Question(text="x"), Notice("bad"))
    state.new_conversation()
    assert state.conversation.customer == "maria" and state.conversation.exchanges == []
    assert state.notice is None and state.failed is None
    assert state.conversation_no == 1
    assert state.take_question(Upload(b"RIFF", "f1"), None) is None


def test_each_session_gets_its_own_state():
    one, two = {}, {}
    assert page_state(one) is page_state(one)
    assert page_state(one) is not page_state(two)


def test_a_clicked_example_is_asked_once_as_typed_text():
    state = PageState()
    state.suggested = "How do I withdraw my winnings?"
    assert state.take_question(None, None) == (
        Question(text="How do I withdraw my winnings?"),
        None,
    )
    assert state.take_question(None, None) is None


def test_a_new_question_stops_the_newest_answer_from_autoplaying():
    state = PageState(autoplay="0-2", replay="0-0-answer")
    assert state.take_question(None, None) is None
    assert (state.autoplay, state.replay) == ("0-2", "0-0-answer"), "a rerun changes nothing"
    state.take_question(None, "next question")
    assert (state.autoplay, state.replay) == (None, None)


def test_new_conversation_on_an_empty_one_needs_no_yes_but_one_with_answers_does():
    state = PageState()
    state.ask_new_conversation()
    assert state.conversation_no == 1 and not state.confirming_new

    state.conversation.exchanges.append(object())  # type: ignore[arg-type]
    state.ask_new_conversation()
    assert state.confirming_new and state.conversation.exchanges, "kept until the agent says yes"
    state.take_question(None, "Another question")
    assert not state.confirming_new, "asking on keeps the conversation"
