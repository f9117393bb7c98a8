"""answer(): the outcome of a turn, recorded in the session's state."""

from __future__ import annotations

import logging

import pytest

from assistant.config import ConfigError
from assistant.errors import TurnError
from assistant.models import Reply, Usage
from page.asking import Turn, answer
from page.state import INTERRUPTED, UNEXPECTED, Notice, PageState, Question

TURN = Turn(provider="openai", model="gpt-4o-audio-preview", voice="coral", customer="maria",
            agent="Ana")  # fmt: skip
QUESTION = Question(audio=b"RIFF....", recording_id="f1")


class Engine:
    def __init__(self, outcome):
        self.outcome = outcome
        self.asked: list[dict] = []

    def ask(self, conversation, **kwargs):
        self.asked.append(kwargs)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        kwargs["on_event"] and kwargs["on_event"]("event")
        conversation.add("words", self.outcome, spoken=True)
        return self.outcome


class Stop(BaseException):
    """Like Streamlit's RerunException: not an Exception."""


def reply() -> Reply:
    return Reply("words", "answer", b"RIFF", None, None, [], [], Usage(), "openai", "m")


def test_success_passes_the_session_s_choices_and_clears_the_failure():
    state, engine, events = PageState(), Engine(reply()), []
    state.fail(Question(text="old"), Notice("old failure"))
    got = answer(state, QUESTION, TURN, lambda p, m: engine, events.append)
    assert got is engine.outcome
    (kwargs,) = engine.asked
    assert kwargs == {"audio": b"RIFF....", "text": None, "voice": "coral", "customer": "maria",
                      "agent": "Ana", "on_event": events.append}  # fmt: skip
    assert events == ["event"]
    assert state.notice is None and state.failed is None
    assert state.conversation.customer == "maria"


def test_turn_error_keeps_the_question_and_its_sentence():
    state = PageState()
    error = TurnError("OpenAI cannot be reached; check the network connection and try again.",
                      code="unreachable", unreachable=True)  # fmt: skip
    assert answer(state, QUESTION, TURN, lambda p, m: Engine(error)) is None
    assert state.failed == QUESTION
    assert state.notice == Notice(str(error), retryable=True, unreachable=True)
    assert state.conversation.exchanges == []


def test_provider_not_set_up_is_a_sentence_without_retry():
    state = PageState()

    def engine_for(provider, model):
        raise ConfigError("OpenAI needs OPENAI_API_KEY; set it, or unset VOICEDESK_PROVIDER.")

    assert answer(state, QUESTION, TURN, engine_for) is None
    assert state.notice == Notice(
        "OpenAI needs OPENAI_API_KEY; set it, or unset VOICEDESK_PROVIDER.", retryable=False
    )


def test_a_bug_is_logged_and_shown_as_one_sentence(caplog):
    state = PageState()
    with caplog.at_level(logging.ERROR):
        answer(state, QUESTION, TURN, lambda p, m: Engine(KeyError("choices")))
    assert state.notice == Notice(UNEXPECTED)
    assert "turn failed unexpectedly" in caplog.text and "KeyError" in caplog.text


def test_a_stopped_run_propagates_and_leaves_the_question_to_retry():
    state = PageState()
    with pytest.raises(Stop):
        answer(state, QUESTION, TURN, lambda p, m: Engine(Stop()))
    assert state.failed == QUESTION and state.notice == Notice(INTERRUPTED)
