"""Faults of the model service, injected through the Chat Completions double: each one is one
plain sentence for the user, the conversation is kept, and the same recording succeeds on the
same engine (or page session, or process) once the double recovers. No restart, no traceback.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from assistant.audio import normalise
from assistant.binding import Grants
from assistant.errors import TurnError
from assistant.history import Conversation
from tests.audio_factory import pcm16, speech_like, wav
from tests.doubles.chat_double import ChatDouble
from tests.page.conftest import APP, clear_page_caches
from tests.page.helpers import button, input_audio_of, messages
from tests.resilience.support import assert_one_sentence, cli_env, run_cli
from tests.support import isolate_env

pytestmark = pytest.mark.timeout(180)

HUNG_S = 2.5  # how long a "timed out" request hangs in the double
TIMEOUT_S = 1.0  # VOICEDESK_REQUEST_TIMEOUT where a timeout is injected


def hang(double: ChatDouble) -> None:
    double.delay(HUNG_S)


def go_down(double: ChatDouble) -> None:
    double.stop()  # nothing listens on the port: connections are refused


def come_back(double: ChatDouble) -> None:
    if not double.server.is_running():
        double.start()  # the same port again


@dataclass(frozen=True)
class Fault:
    name: str
    arrange: Callable[[ChatDouble], object]
    says: str  # a regex the sentence must match
    provider: str = "openai"
    transient: bool = False  # the SDK's own retries absorb a single one
    recover: Callable[[ChatDouble], None] = come_back


FAULTS = [
    Fault(
        "401 key refused",
        lambda d: d.fail(401, "Incorrect API key provided: sk-test.", code="invalid_api_key"),
        r"refused the API key; check OPENAI_API_KEY",
    ),
    Fault(
        "403 model not allowed",
        lambda d: d.fail(
            403, "You are not allowed to sample from this model.", code="model_not_allowed"
        ),
        r"may not use gpt-4o-audio-preview",
    ),
    Fault(
        "404 unknown model",
        lambda d: d.fail(
            404,
            "The model `gpt-4o-audio-preview` does not exist or you do not have access to it.",
            code="model_not_found",
        ),
        r"no model called 'gpt-4o-audio-preview'; check VOICEDESK_MODEL",
    ),
    Fault(
        "404 unknown deployment (Azure)",
        lambda d: d.fail(
            404, "The API deployment for this resource does not exist.", code="DeploymentNotFound"
        ),
        r"Azure OpenAI has no deployment called 'voice-prod'; check AZURE_OPENAI_DEPLOYMENT",
        provider="azure",
    ),
    Fault(
        "429 rate limit",
        lambda d: d.fail(429, "Rate limit reached for requests.", code="rate_limit_exceeded"),
        r"busy \(rate limit\)",
        transient=True,
    ),
    Fault(
        "429 out of credit",
        lambda d: d.fail(429, "You exceeded your current quota.", code="insufficient_quota"),
        r"out of credit",
    ),
    Fault(
        "500 server error",
        lambda d: d.fail(500, "The server had an error while processing your request."),
        r"problem on its side",
        transient=True,
    ),
    Fault("timeout", hang, r"took too long to answer"),
    Fault(
        "connection dropped", lambda d: d.close_connection(), r"cannot be reached", transient=True
    ),
    Fault("connection refused", go_down, r"cannot be reached"),
    Fault("body not JSON (HTML from a proxy)", lambda d: d.reply_not_json(), r"could not read"),
    Fault(
        "content filter (Azure)",
        lambda d: d.reply_content_filter(),
        r"content filter",
        provider="azure",
    ),
]


def by_name(fault: Fault) -> str:
    return fault.name


def question(seed: int = 11) -> bytes:
    return wav(pcm16(speech_like(1.5, seed=seed)))


def settle(double: ChatDouble) -> None:
    """Wait until every request the double received has been answered: a hung one takes the
    next scripted step when it wakes, which must not be the next fault."""
    deadline = time.monotonic() + HUNG_S + 5
    while any(r.status is None for r in double.requests) and time.monotonic() < deadline:
        time.sleep(0.05)


# -- the engine (what the page and the command line share) ---------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=by_name)
def test_engine_says_one_sentence_and_the_same_recording_then_succeeds(
    fault, auto_double, engine_for
):
    engine = engine_for(auto_double, fault.provider, voicedesk_request_timeout=TIMEOUT_S * 2)
    conversation = Conversation(customer="maria")
    engine.ask(conversation, text="How many games did I play?")
    recording = question()

    fault.arrange(auto_double)
    with pytest.raises(TurnError) as caught:
        engine.ask(conversation, audio=recording)
    sentence = str(caught.value)
    assert_one_sentence(sentence)
    assert re.search(fault.says, sentence), sentence
    assert caught.value.retryable, "the page offers Try again"
    assert len(conversation.exchanges) == 1, "the conversation is as it was"

    fault.recover(auto_double)
    settle(auto_double)
    reply = engine.ask(conversation, audio=recording)
    assert reply.transcript and reply.audio_wav[:4] == b"RIFF"
    assert len(conversation.exchanges) == 2
    assert input_audio_of(auto_double.chat_requests[-1]) == normalise(recording).wav


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.transient], ids=by_name)
def test_a_single_transient_fault_is_absorbed_by_the_retries(fault, auto_double, engine_for):
    engine = engine_for(auto_double, voicedesk_max_retries=2)
    fault.arrange(auto_double)
    reply = engine.ask(Conversation(customer="maria"), audio=question())
    assert reply.transcript, "the user never sees the blip"


def test_a_reply_without_audio_is_still_an_answer_in_text(auto_double, engine_for):
    engine = engine_for(auto_double)
    auto_double.reply_without_audio("You played 75 games this month.")
    conversation = Conversation()
    reply = engine.ask(conversation, text="How many games did I play?")
    assert reply.transcript == "You played 75 games this month." and reply.audio_wav == b""
    assert_one_sentence(reply.extra["warning"])
    assert len(conversation.exchanges) == 1


def test_a_fault_after_a_grievance_was_registered_does_not_register_it_twice(
    auto_double, engine_for, tmp_path
):
    """The compose call fails after the tools ran; Try again runs the whole turn again, and the
    model asks to register the same grievance again: still one ticket."""
    import sqlite3

    engine = engine_for(auto_double)
    # Not wallet: maria's open wallet grievance would be offered instead of a new one.
    grievance = {"category": "reward_points", "description": "My deposit bonus never came.",
                 "user_name": "maria"}  # fmt: skip
    conversation = Conversation(customer="maria")
    auto_double.reply_tool_calls([("register_grievance", grievance)]).fail(500, "Server error.")
    with pytest.raises(TurnError):
        engine.ask(conversation, text="I was charged twice, please file a complaint.",
                   grants=Grants(file_now=True))  # fmt: skip
    auto_double.reply_tool_calls([("register_grievance", grievance)])
    reply = engine.ask(conversation, text="I was charged twice, please file a complaint.",
                       grants=Grants(file_now=True))  # fmt: skip

    (first,) = [c for c in reply.tool_calls if c.name == "register_grievance"]
    assert first.ok
    with sqlite3.connect(tmp_path / "data" / "tickets.sqlite") as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM tickets WHERE description = ?", (grievance["description"],)
        ).fetchone()
    assert count == 1


# -- the command line: one process keeps answering after every kind of failure ----------------------


def test_one_cli_process_reports_each_fault_in_place_and_keeps_answering(tmp_path):
    in_order = [f for f in FAULTS if f.provider == "openai" and f.arrange not in (hang, go_down)]
    with ChatDouble(policy="auto") as double:
        for fault in in_order:
            fault.arrange(double)
        env = cli_env(OPENAI_BASE_URL=double.base_url, VOICEDESK_DATA_DIR=str(tmp_path / "d"))
        questions = [f"--text=Question {n}?" for n in range(len(in_order) + 1)]
        done = run_cli("ask", *questions, "--customer", "maria", "--json", env=env)
        assert double.violations == []
    turns = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(turns) == len(in_order) + 1
    for fault, turn in zip(in_order, turns, strict=False):
        assert set(turn) == {"error"} and re.search(fault.says, turn["error"]), (fault, turn)
        assert_one_sentence(turn["error"])
    assert turns[-1]["transcript"], "the same process answers once the model is back"
    assert done.stderr.splitlines() == [t["error"] for t in turns[:-1]], "one line per fault"
    assert done.returncode == 1


# -- the page: one session goes through every fault and never needs a restart ----------------------


@dataclass
class PageFault:
    errors: list[str]
    exceptions: int
    buttons: list[str]
    exchanges_kept: bool
    retried_errors: list[str]
    answered_after_retry: bool
    same_recording: bool


@pytest.fixture(scope="module")
def page_faults(tmp_path_factory) -> dict[str, PageFault]:
    from streamlit.testing.v1 import AppTest

    outcomes: dict[str, PageFault] = {}
    with pytest.MonkeyPatch.context() as env, ChatDouble(policy="auto") as double:
        isolate_env(env)
        env.setenv("VOICEDESK_DATA_DIR", str(tmp_path_factory.mktemp("faults-page") / "data"))
        env.setenv("VOICEDESK_MAX_RETRIES", "0")
        env.setenv("VOICEDESK_REQUEST_TIMEOUT", str(TIMEOUT_S * 2))
        env.setenv("OPENAI_BASE_URL", double.base_url)
        env.setenv("OPENAI_API_KEY", "sk-test-page")
        env.setenv("VOICEDESK_TRANSCRIBE_MODEL", "")
        clear_page_caches()
        try:
            at = AppTest.from_file(str(APP), default_timeout=60).run()
            at.selectbox(key="customer").set_value("maria").run()
            at.chat_input(key="typed").set_value("How many games did I play?").run()
            state = at.session_state["voicedesk"]
            for seed, fault in enumerate(f for f in FAULTS if f.provider == "openai"):
                before = len(state.conversation.exchanges)
                asked = len(double.chat_requests)
                fault.arrange(double)
                recording = question(seed=100 + seed)
                at.audio_input(key="mic").set_value((f"q{seed}.wav", recording, "audio/wav"))
                at.run()
                errors = [e.value for e in at.error]
                exceptions = len(at.exception)
                buttons = [b.label for b in at.button]
                kept = (
                    len(state.conversation.exchanges) == before
                    and len(messages(at, "assistant")) == before + 1
                )  # the earlier answers, and the failed turn's notice
                fault.recover(double)
                settle(double)
                button(at, "Try again").click().run()
                sent = {input_audio_of(r) for r in double.chat_requests[asked:]}
                outcomes[fault.name] = PageFault(
                    errors=errors,
                    exceptions=exceptions + len(at.exception),
                    buttons=buttons,
                    exchanges_kept=kept,
                    retried_errors=[e.value for e in at.error],
                    answered_after_retry=len(state.conversation.exchanges) == before + 1,
                    same_recording=sent == {normalise(recording).wav},
                )
        finally:
            clear_page_caches()
        assert double.violations == []
    return outcomes


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.provider == "openai"], ids=by_name)
def test_page_shows_one_sentence_and_try_again_answers_the_same_recording(fault, page_faults):
    outcome = page_faults[fault.name]
    assert outcome.exceptions == 0, "no exception element, before or after the retry"
    (sentence,) = outcome.errors
    assert_one_sentence(sentence)
    assert re.search(fault.says, sentence), sentence
    assert "Try again" in outcome.buttons
    assert outcome.exchanges_kept, "the conversation is still on the page"
    assert outcome.retried_errors == []
    assert outcome.answered_after_retry and outcome.same_recording
