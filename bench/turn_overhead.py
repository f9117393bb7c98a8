"""The app's own time in one spoken turn with two tool calls: everything but the model's wait.

Spoken questions (16 kHz mono WAV, as the browser records them) go through the product's
TurnEngine with the embedded backends (SQLite statistics, the FTS5 help centre) to the instant
responder in another process on 127.0.0.1. The model asks for `get_player_summary` and
`search_help_center` in parallel, then answers with a 6-second WAV. A turn's own time is its
wall time minus the round trips it waited on (bench/metered.py).
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from assistant.history import Conversation
from bench.measure import median, percentile, rounded
from bench.metered import MeteredTransport, engine_against, model_wait_seconds
from bench.responder import ResponderProcess
from tests.audio_factory import pcm16, speech_like, wav

CUSTOMER = "maria"
TURNS_PER_CONVERSATION = 5  # history grows as it does in use, then a new conversation starts


def recordings(count: int = 4, seconds: float = 4.0) -> list[bytes]:
    """Different spoken-like questions, as st.audio_input delivers them."""
    return [wav(pcm16(speech_like(seconds + 0.5 * i, 16000, seed=i))) for i in range(count)]


def run(turns: int = 100, warmup: int = 10) -> dict[str, Any]:
    questions = recordings()
    with ResponderProcess() as responder, tempfile.TemporaryDirectory() as tmp:
        transport = MeteredTransport()
        engine = engine_against(responder.base_url, Path(tmp), transport)
        caller = threading.get_ident()
        own_ms, wall_ms, wait_ms, cpu_ms = [], [], [], []
        stages: dict[str, list[float]] = {}
        conversation = Conversation(customer=CUSTOMER)
        for number in range(warmup + turns):
            if number % TURNS_PER_CONVERSATION == 0:
                conversation = Conversation(customer=CUSTOMER)
            transport.take()
            cpu_started = time.process_time()
            started = time.perf_counter()
            reply = engine.ask(conversation, audio=questions[number % len(questions)])
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            waited = model_wait_seconds(transport.take(), caller)
            _check_turn(reply)
            if number < warmup:
                continue
            own_ms.append((wall - waited) * 1000)
            wall_ms.append(wall * 1000)
            wait_ms.append(waited * 1000)
            cpu_ms.append(cpu * 1000)
            for name, ms in reply.timings_ms.items():
                stages.setdefault(name, []).append(ms)
            for call in reply.tool_calls:
                stages.setdefault(f"tool:{call.name}", []).append(call.ms)
    return {
        "turn_overhead_ms_p50": rounded(percentile(own_ms, 50)),
        "turn_overhead_ms_p95": rounded(percentile(own_ms, 95)),
        "details": {
            "turns": turns,
            "warmup_turns": warmup,
            "turn_wall_ms_median": rounded(median(wall_ms)),
            "model_wait_ms_median": rounded(median(wait_ms)),
            # CPU the app's process used per turn, all threads (socket work included): what
            # the turn costs, whatever else the machine is doing at the time.
            "turn_cpu_ms_p50": rounded(percentile(cpu_ms, 50)),
            "turn_cpu_ms_p95": rounded(percentile(cpu_ms, 95)),
            "stage_ms_median": {name: rounded(median(v)) for name, v in sorted(stages.items())},
        },
    }


def _check_turn(reply: Any) -> None:
    """A benchmark of a broken turn measures nothing: insist on what the turn is meant to be."""
    names = sorted(call.name for call in reply.tool_calls)
    if names != ["get_player_summary", "search_help_center"] or not all(
        call.ok for call in reply.tool_calls
    ):
        raise RuntimeError(f"the benchmark turn did not run its two tools: {names}")
    if not reply.audio_wav:
        raise RuntimeError("the benchmark turn came back without its spoken answer")
