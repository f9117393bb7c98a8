"""Hostile model replies: the shapes a broken model, a proxy or a "compatible" server can send
(the openai SDK builds its objects without validation, so they arrive as odd attribute values).
Each is one plain sentence or a sane answer, at bounded cost: nothing unbounded is kept in the
conversation, sent back to the model or written to the log, and the next question is answered.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from assistant.errors import TurnError
from assistant.history import SPOKEN_PLACEHOLDER, Conversation
from tests.audio_factory import pcm16, speech_like, wav
from tests.doubles.chat_double import ChatDouble
from tests.doubles.speech import tone_wav
from tests.resilience.support import assert_one_sentence, cli_env, run_cli

pytestmark = pytest.mark.timeout(300)

FIVE_MB = 5_000_000
WAV = base64.b64encode(tone_wav(0.3)).decode("ascii")
# Bounds well above what a normal turn needs and far below what a hostile reply would bring in.
REQUEST_BYTES = 150_000  # one request to the model (a normal turn's is ~10 KB)
HISTORY_CHARS = 40_000  # everything the conversation keeps of one turn
LOG_CHARS = 20_000  # what one hostile turn may write to the log
NEXT_ANSWER = "You played 75 games this week."


def calls_message(tool_calls: Any, content: Any = None) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "refusal": None, "tool_calls": tool_calls}


def call(name: Any = "get_player_summary", arguments: Any = '{"user_name": "maria"}',
         id: Any = "call_h1") -> dict[str, Any]:  # fmt: skip
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def with_function(function: Any) -> dict[str, Any]:
    return calls_message([{"id": "call_h1", "type": "function", "function": function}])


def text_message(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "refusal": None}


def audio_message(audio: Any, content: Any = None) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "refusal": None, "audio": audio}


def good_audio(**changes: Any) -> dict[str, Any]:
    return {
        "id": "audio_h1",
        "data": WAV,
        "transcript": "Here you are.",
        "expires_at": 1,
        **changes,
    }


@dataclass(frozen=True)
class Kind:
    name: str
    message: dict[str, Any]
    outcome: str  # "sentence": the turn ends in one sentence; "tools": a tool round, then an
    #               answer; "answer": answered at once
    splice: dict[str, str] | None = None
    fields: dict[str, Any] | None = None  # top-level fields of the completion

    def arrange(self, double: ChatDouble) -> None:
        double.reply_unchecked(self.message, splice=self.splice, **(self.fields or {}))


DEEP = "[" * 100_000 + "]" * 100_000
KINDS = [
    # arguments
    Kind("arguments nested 100k deep", calls_message([call("search_help_center", DEEP)]),
         "tools"),
    Kind("arguments nested 3k deep in an object",
         calls_message([call("search_help_center", '{"query": ' + DEEP[99_000:101_000] + "}")]),
         "tools"),
    Kind("arguments of 5 MB",
         calls_message([call("search_help_center", json.dumps({"query": "x" * FIVE_MB}))]),
         "tools"),
    Kind("arguments that are an object", with_function({"name": "get_player_summary",
                                                         "arguments": {"user_name": "maria"}}),
         "tools"),
    Kind("arguments that are a number",
         with_function({"name": "get_player_summary", "arguments": 42}), "tools"),
    Kind("arguments missing", with_function({"name": "get_player_summary"}), "tools"),
    Kind("arguments null", with_function({"name": "get_player_summary", "arguments": None}),
         "tools"),
    # names, functions, ids
    Kind("a function with no name", with_function({"arguments": "{}"}), "sentence"),
    Kind("a function whose name is null", with_function({"name": None, "arguments": "{}"}),
         "sentence"),
    Kind("a function whose name is a number", with_function({"name": 7, "arguments": "{}"}),
         "sentence"),
    Kind("a function whose name is a list", with_function({"name": ["a"], "arguments": "{}"}),
         "sentence"),
    Kind("a function name of 1 MB", calls_message([call("x" * 1_000_000)]), "tools"),
    Kind("a tool call with no function", calls_message([{"id": "call_h1", "type": "function"}]),
         "sentence"),
    Kind("a function that is a string", with_function("get_player_summary"), "sentence"),
    Kind("a tool call id of 1 MB", calls_message([call(id="c" * 1_000_000)]), "tools"),
    Kind("a tool call id that is null", calls_message([call(id=None)]), "tools"),
    Kind("the same tool call id twice", calls_message([call(), call()]), "tools"),
    # tool_calls itself
    Kind("tool calls holding nulls", calls_message([None, None]), "sentence"),
    Kind("tool calls holding strings", calls_message(["get_player_summary", "{}"]), "sentence"),
    Kind("tool calls mixing nulls and strings with one good call",
         calls_message([None, "x", 3, call()]), "tools"),
    Kind("tool calls that are a string", calls_message("get_player_summary"), "sentence"),
    Kind("tool calls that are an object", calls_message(call()), "sentence"),
    Kind("five thousand tool calls",
         calls_message([call(id=f"call_{n}") for n in range(5000)]), "tools"),
    # content
    Kind("content that is a list", text_message([{"type": "text", "text": "Hi."}]), "sentence"),
    Kind("content that is a number", text_message(42), "sentence"),
    Kind("content that is an object", text_message({"text": "Hi."}), "sentence"),
    Kind("content of 5 MB", text_message("word " * (FIVE_MB // 5)), "answer"),
    Kind("content that is a list beside a tool call", calls_message([call()], [1, 2]), "tools"),
    Kind("content nested 100k deep", text_message("@deep"), "sentence",
         splice={"@deep": DEEP}),
    # audio
    Kind("a spoken answer with a 5 MB transcript",
         audio_message(good_audio(transcript="word " * (FIVE_MB // 5))), "answer"),
    Kind("audio data that is a list", audio_message(good_audio(data=[1, 2])), "sentence"),
    Kind("audio data that is a number", audio_message(good_audio(data=5)), "sentence"),
    Kind("audio transcript that is an object",
         audio_message(good_audio(transcript={"text": "Hi."})), "answer"),
    Kind("audio id and expiry of the wrong types",
         audio_message(good_audio(id=["a"], expires_at="tomorrow")), "answer"),
    Kind("audio that is a string", audio_message("UklGRg=="), "sentence"),
    Kind("audio that is a list", audio_message([WAV]), "sentence"),
    # the completion around the message
    Kind("usage counts that are not numbers", audio_message(good_audio()), "answer",
         fields={"usage": {"prompt_tokens": "many", "completion_tokens": None,
                           "prompt_tokens_details": {"audio_tokens": [1]}}}),
    Kind("choices holding null", {}, "sentence", fields={"choices": [None]}),
    Kind("choices that are an object", {}, "sentence",
         fields={"choices": {"0": {"index": 0, "message": audio_message(good_audio())}}}),
    Kind("a message that is a string", "Hi.", "sentence"),
]  # fmt: skip


def by_name(kind: Kind) -> str:
    return kind.name


def request_bytes(double: ChatDouble, since: int) -> list[int]:
    return [len(json.dumps(r.json)) for r in double.chat_requests[since:]]


def history_chars(conversation: Conversation) -> int:
    return sum(
        len(e.user_text) + len(e.assistant_text)
        + len(json.dumps([c.as_json() for c in e.reply.tool_calls], default=str))
        + len(json.dumps([c.result for c in e.reply.tool_calls], default=str))
        for e in conversation.exchanges
    )  # fmt: skip


# -- the engine (what the page and the command line share) ---------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=by_name)
def test_engine_answers_each_hostile_reply_in_one_sentence_at_bounded_cost(
    kind, auto_double, engine_for, caplog
):
    engine = engine_for(auto_double)
    conversation = Conversation(customer="maria")
    kind.arrange(auto_double)
    caplog.set_level(logging.INFO)

    try:
        reply = engine.ask(conversation, text="How many games did I play?")
    except TurnError as exc:
        assert kind.outcome == "sentence", f"expected an answer, got {exc}"
        assert_one_sentence(str(exc))
        assert conversation.exchanges == [], "the conversation is as it was"
    else:
        assert kind.outcome != "sentence", f"expected one sentence, got {reply.transcript[:200]!r}"
        assert isinstance(reply.transcript, str)
        assert isinstance(reply.audio_id, str | None) and isinstance(reply.expires_at, int | None)
        assert (kind.outcome == "tools") == bool(reply.tool_calls)
        for tool_call in reply.tool_calls:
            assert isinstance(tool_call.name, str) and isinstance(tool_call.id, str)
            assert_one_sentence(tool_call.summary)
        if "warning" in reply.extra:
            assert_one_sentence(reply.extra["warning"])
    assert auto_double.violations == [], "every request sent back is one OpenAI would take"
    turn_requests = len(auto_double.chat_requests)
    assert max(request_bytes(auto_double, 1), default=0) < REQUEST_BYTES, "echoed to the model"
    assert history_chars(conversation) < HISTORY_CHARS, "kept in the conversation"
    assert len(caplog.text) < LOG_CHARS, "written to the log"

    reply = engine.ask(conversation, text="And my deposits?")
    assert reply.transcript, "the next question is answered"
    assert max(request_bytes(auto_double, turn_requests)) < REQUEST_BYTES
    assert history_chars(conversation) < HISTORY_CHARS


def test_a_5_mb_transcript_of_the_question_is_neither_kept_nor_sent_back(auto_double, engine_for):
    engine = engine_for(auto_double, voicedesk_transcribe_model="gpt-4o-mini-transcribe")
    auto_double.transcribe_as("word " * (FIVE_MB // 5))
    conversation = Conversation(customer="maria")

    reply = engine.ask(conversation, audio=wav(pcm16(speech_like(1.5, seed=3))))
    assert reply.transcript, "the question is answered from its audio"
    assert conversation.exchanges[0].user_text == SPOKEN_PLACEHOLDER
    reply = engine.ask(conversation, text="And my deposits?")
    assert reply.transcript
    assert max(request_bytes(auto_double, 1)) < REQUEST_BYTES
    assert history_chars(conversation) < HISTORY_CHARS


# -- the command line: one process answers each, and the question after it -------------------------


def test_one_cli_process_answers_each_hostile_reply_and_then_the_next_question(tmp_path):
    with ChatDouble(policy="scripted") as double:
        for kind in KINDS:
            kind.arrange(double)
            if kind.outcome == "tools":
                double.reply_audio("I looked that up.", tone_wav(0.3))
            double.reply_audio(NEXT_ANSWER, tone_wav(0.3))
        data = tmp_path / "data"
        env = cli_env(OPENAI_BASE_URL=double.base_url, VOICEDESK_DATA_DIR=str(data),
                      VOICEDESK_TRANSCRIBE_MODEL="")  # fmt: skip
        questions = [f"--text=Question {n}?" for n in range(2 * len(KINDS))]
        done = run_cli("ask", *questions, "--customer", "maria", "--json", env=env, timeout=280)
        assert double.violations == [] and double.pending == 0, done.stderr[-2000:]
    turns = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(turns) == 2 * len(KINDS), done.stderr[-2000:]
    errors = []
    for kind, hostile, after in zip(KINDS, turns[::2], turns[1::2], strict=True):
        if kind.outcome == "sentence":
            assert set(hostile) == {"error"}, (kind.name, str(hostile)[:300])
            assert_one_sentence(hostile["error"])
            errors.append(hostile["error"])
        else:
            assert isinstance(hostile.get("transcript"), str), (kind.name, str(hostile)[:300])
        assert after.get("transcript") == NEXT_ANSWER, (kind.name, str(after)[:300])
    assert done.stderr.splitlines() == errors, "one line on stderr per failed turn"
    assert len(done.stdout) < 2 * len(KINDS) * 20_000, "the printed turns are bounded"
    log = (data / "voicedesk.log").read_text(encoding="utf-8")
    assert len(log) < len(KINDS) * LOG_CHARS, "so is the log"
