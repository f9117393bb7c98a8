"""Ask one question and record the outcome in the session's state. No Streamlit here: the page
passes in how to get an engine and where progress events go."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from assistant.config import ConfigError
from assistant.errors import TurnError
from assistant.models import Reply
from assistant.turn import EventSink, TurnEngine
from page.state import UNEXPECTED, Notice, PageState, Question

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    """Who is asking, for whom and how: the session's choices at the time of the question."""

    provider: str
    model: str
    voice: str | None
    customer: str | None
    agent: str | None


def answer(
    state: PageState,
    question: Question,
    turn: Turn,
    engine_for: Callable[[str, str], TurnEngine],
    on_event: EventSink | None = None,
) -> Reply | None:
    """Answer `question`; on failure keep it for "Try again" and set the notice to show.

    Returns the Reply, or None when the turn failed (the conversation is then unchanged).
    A stop from the page (the person clicked elsewhere mid-turn) propagates and leaves the
    "interrupted" notice set by `state.start`.
    """
    state.start(question)
    state.conversation.customer = turn.customer
    try:
        engine = engine_for(turn.provider, turn.model)
        reply = engine.ask(
            state.conversation,
            audio=question.audio,
            text=question.text,
            voice=turn.voice,
            customer=turn.customer,
            agent=turn.agent,
            on_event=on_event,
        )
    except TurnError as exc:
        state.fail(question, Notice(str(exc), exc.retryable, exc.unreachable))
        return None
    except ConfigError as exc:  # the chosen provider is not set up
        state.fail(question, Notice(str(exc), retryable=False))
        return None
    except Exception:
        log.exception("turn failed unexpectedly")
        state.fail(question, Notice(UNEXPECTED))
        return None
    state.succeed()
    return reply
