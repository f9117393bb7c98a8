"""Load: 20 sessions at once, 10 turns each, on one shared engine (as the page shares it between
browser tabs) with the embedded backends and the auto-answering model double. No turn fails,
and no session ever sees another session's customer. Prints p50/p95 of the app's own time per
turn; timing is a figure, never an assertion.

Locally `VOICEDESK_LOAD_SESSIONS` and `VOICEDESK_LOAD_TURNS` scale it down; under CI=true it
always runs 20 x 10.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from assistant.history import Conversation
from assistant.models import Reply
from tests.audio_factory import pcm16, speech_like, wav
from tests.doubles.chat_double import CUSTOMER_LINE

pytestmark = pytest.mark.timeout(240)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SESSIONS = 20 if IN_CI else int(os.environ.get("VOICEDESK_LOAD_SESSIONS", "20"))
TURNS = 10 if IN_CI else int(os.environ.get("VOICEDESK_LOAD_TURNS", "10"))
QUESTIONS = ["How many games did I play?", "Any news on my complaint?", None]  # None: spoken


@dataclass
class Turn:
    customer: str
    reply: Reply
    wall_ms: float

    @property
    def own_ms(self) -> float:
        """The app's own time: the turn less the time spent waiting for the model."""
        waiting = sum(s.ms for s in self.reply.stages if s.name in ("understand", "compose"))
        return self.wall_ms - waiting

    def words(self) -> str:
        """Everything this turn told the user or the model: tool results and the answer."""
        return json.dumps([c.result for c in self.reply.tool_calls]) + " " + self.reply.transcript


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def mentions(*names: str) -> re.Pattern[str]:
    """Any of `names` as a whole word ('sam' not in 'samuel', 'maria' not in 'maria_x')."""
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"(?<![\w.])(?:{alternatives})(?![\w])", re.IGNORECASE)


def text_of(messages: list[dict]) -> str:
    """A request's messages as text, without the recordings' bytes."""
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [p for p in content if p.get("type") != "input_audio"]
        parts.append(json.dumps([content, message.get("tool_calls")]))
    return " ".join(parts)


@pytest.fixture
def players(clean_env, tmp_path):
    """The demo data in place, and the first SESSIONS players with their display names."""
    from ops.demo_data import main_demo_data
    from tests.support import make_settings

    main_demo_data(make_settings(tmp_path / "data"), 3000)
    with sqlite3.connect(tmp_path / "data" / "stats.sqlite") as db:
        rows = db.execute("SELECT user_name, display_name FROM players ORDER BY rowid").fetchall()
    assert len(rows) > SESSIONS
    return dict(rows[: SESSIONS + 1])  # the last one: a session alone first, for comparison


def test_sessions_at_once_never_fail_and_never_see_each_other(
    players, auto_double, engine_for, capsys, record_property
):
    engine = engine_for(auto_double, voicedesk_transcribe_model="gpt-4o-mini-transcribe")
    recording = wav(pcm16(speech_like(1.5)))
    alone, players = list(players)[-1], dict(list(players.items())[:-1])
    start = threading.Barrier(len(players))

    def session(customer: str, together: bool = True) -> list[Turn]:
        conversation = Conversation(customer=customer)
        turns = []
        if together:
            start.wait()
        for number in range(TURNS):
            question = QUESTIONS[number % len(QUESTIONS)]
            began = time.perf_counter()
            if question is None:
                reply = engine.ask(conversation, audio=recording)
            else:
                reply = engine.ask(conversation, text=question)
            turns.append(Turn(customer, reply, (time.perf_counter() - began) * 1000))
        assert len(conversation.exchanges) == TURNS
        return turns

    baseline = [turn.own_ms for turn in session(alone, together=False)]
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(players)) as pool:
        sessions = dict(zip(players, pool.map(session, players), strict=True))
    elapsed = time.perf_counter() - began

    turns = [turn for session_turns in sessions.values() for turn in session_turns]
    assert len(turns) == len(players) * TURNS
    for turn in turns:
        assert turn.reply.transcript and turn.reply.audio_wav[:4] == b"RIFF"
        assert turn.reply.customer == turn.customer
        assert turn.reply.tool_calls and all(c.ok for c in turn.reply.tool_calls)
        for call in turn.reply.tool_calls:
            if call.name == "get_player_summary":
                assert call.result["data"]["user_name"] == turn.customer
            if call.name == "list_grievances":
                assert {t["user_name"] for t in call.result["data"]["tickets"]} <= {turn.customer}

    # No session saw another's customer: not in a tool result, not in an answer.
    named = {player: mentions(player, display) for player, display in players.items()}
    for customer, session_turns in sessions.items():
        said = " ".join(turn.words() for turn in session_turns)
        assert named[customer].search(said), "its own customer is there"
        seen = [o for o in players if o != customer and named[o].search(said)]
        assert seen == [], f"{customer}'s session saw {seen}"
    # ... nor in what the model was sent: each request carries one customer and only its data.
    for request in auto_double.chat_requests:
        text = text_of(request.json["messages"])
        (customer,) = set(CUSTOMER_LINE.findall(text))
        seen = [o for o in players if o != customer and named[o].search(text)]
        assert seen == [], f"a request for {customer} carried {seen}"

    own = [turn.own_ms for turn in turns]
    wall = [turn.wall_ms for turn in turns]
    figures = {
        "sessions": len(players), "turns": len(turns), "elapsed_s": round(elapsed, 1),
        "own_p50_ms": round(percentile(own, 0.5)), "own_p95_ms": round(percentile(own, 0.95)),
        "wall_p50_ms": round(percentile(wall, 0.5)), "wall_p95_ms": round(percentile(wall, 0.95)),
        "own_mean_ms": round(statistics.fmean(own)),
        "alone_p50_ms": round(percentile(baseline, 0.5)),
        "alone_p95_ms": round(percentile(baseline, 0.95)),
    }  # fmt: skip
    for name, value in figures.items():
        record_property(name, value)
    with capsys.disabled():
        print(
            f"\nload: {figures['sessions']} sessions x {TURNS} turns = {figures['turns']} turns "
            f"in {figures['elapsed_s']} s; the app's own time per turn p50 "
            f"{figures['own_p50_ms']} ms, p95 {figures['own_p95_ms']} ms (whole turn p50 "
            f"{figures['wall_p50_ms']} ms, p95 {figures['wall_p95_ms']} ms); one session "
            f"alone: p50 {figures['alone_p50_ms']} ms, p95 {figures['alone_p95_ms']} ms"
        )
