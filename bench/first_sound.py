"""From "Stop recording" to the first answer sound, and from pressing record to silence, in real
Chromium with a fake microphone; streamed (serve.py, what `make run` starts) beside whole
(`streamlit run app.py`: no stream socket, the answer's st.audio autoplays), in one run.

What is heard is read by the probe in the page (tests/page/probe.py), not from the page's own
report: the first 24 kHz Web Audio sample that reaches the speakers (the streaming player), or
the first `playing` event of an <audio> element (a whole answer). Whichever comes first is the
first sound, and each turn says which it was: the benchmark measures whatever the engine does,
streamed or whole. The stop time is the Stop recording press itself (pointerdown, in the page).

Two answerers:
* offline: the offline engine (Whisper, the router, Piper), for the customer `maria`;
* paced: a model whose first audio comes `FIRST_CHUNK_S` after it is asked, generating speech
  at `REALTIME`× real time: the Chat Completions double when it can pace (tests/doubles/
  chat_double.py `Pace`), else the page's fake streaming engine (tests/page/streaming.py) at
  the same pace. The app's own added time is the first sound minus that first-chunk time.

Barge-in is measured on the paced, streamed page: every turn but the first presses Record
BARGE_IN_AFTER_MS after the previous answer's first sound, while it plays and is still being
generated; the figure is from that press (pointerdown, in the page) to the first time the probe
found the speakers silent (it looks every 2 ms when the page's main thread is free, at the last
256 samples; the last sound it heard after the press is in the details, a lower bound).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import median, percentile, rounded
from bench.page_answer import failure_screenshot

ROOT = Path(__file__).resolve().parents[1]
CUSTOMER = "maria"
OFFLINE_QUESTION = "How many chess games did I play?"
PACED_QUESTION = "How many games did I play this week?"
FIRST_CHUNK_S = 0.4  # the paced model's time to its first audio chunk
REALTIME = 3.0  # ... and how many times faster than real time it generates speech
ANSWER_S = 6.0  # the paced answer's length (bench/responder.py's)
ANSWER_TEXT = "Maria played five games this week and won three of them."
BARGE_IN_AFTER_MS = 1000  # record is pressed this long after an answer's first sound
# The answer heard (streamed or whole), or the newest chat message is an error: which, or null.
OUTCOME = """() => {
  const probe = window.__probe;
  if (probe.firstSound !== undefined || probe.firstPlaying !== undefined) return {heard: true};
  const live = Array.from(document.querySelectorAll('[data-testid=stChatMessage]'))
    .filter(m => !m.closest('[data-stale="true"]'));
  const newest = live[live.length - 1];
  const error = newest && newest.querySelector('[data-testid=stAlertContentError]');
  return error ? {error: error.innerText} : null;
}"""
QUESTION_SHOWN = """() => {
  const live = Array.from(document.querySelectorAll('[data-testid=stChatMessage]'));
  const lines = live.length >= 2 ? live[live.length - 2].innerText.trim().split("\\n") : [""];
  return lines[lines.length - 1].slice(0, 80);
}"""
PLAYER_CHUNKS = "() => (window.voicedeskPlayer && window.voicedeskPlayer.stats.chunks) || 0"


@dataclass
class Turn:
    first_sound_s: float  # Stop recording pressed -> first answer sound
    played_as: str  # "streamed" (Web Audio, as it arrived) or "whole" (<audio>)
    chunks: int  # audio chunks the player received for it (until interrupted, in barge-in)
    chunk_to_sound_ms: float | None = None  # the model's first audio chunk -> first sound
    stop_to_model_ms: float | None = None  # Stop pressed -> the paced model was asked
    stop_to_upload_ms: float | None = None  # Stop pressed -> the recording's upload sent
    upload_ms: float | None = None  # ... its request, until the server's answer
    barge_in_ms: float | None = None  # record pressed over the previous answer -> found silent
    barge_in_heard_ms: float | None = None  # ... -> the last sound heard (a lower bound)
    question: str = ""  # the question as the page showed it (was the microphone heard?)


@dataclass
class Session:
    """One page server and one browser tab, for `turns` measured turns after `warmup`."""

    script: Path
    streams: bool  # the server serves the stream socket (else answers play whole)
    settings: dict[str, str]
    question: bytes
    turns: int
    warmup: int
    barge_in: bool = False  # press Record while the previous answer still plays
    before_turn: Any = None  # called before each turn (the double scripts its reply)
    first_chunk_wall: Any = None  # () -> wall-clock ms of the latest answer's first audio chunk
    measured: list[Turn] = field(default_factory=list)
    stream_connected: bool = False


def unavailable() -> str | None:
    """Why the browser cannot be measured here, or None."""
    from tests.page.browser import missing

    return missing()


def offline_unavailable() -> str | None:
    from bench import offline, page_answer

    return unavailable() or page_answer.unavailable() or offline.spoken_accuracy_unavailable()


def double_paces() -> bool:
    """Whether the Chat Completions double on this branch can pace a streamed answer."""
    from tests.doubles import chat_double

    return hasattr(chat_double, "Pace")


def run_offline(turns: int = 5, warmup: int = 1) -> dict[str, Any]:
    """First sound with the offline engine: streamed (serve.py) and whole (app.py)."""
    from tests.doubles.speech import speech_wav

    settings = {"VOICEDESK_PROVIDER": "offline", "VOICEDESK_CUSTOMER": CUSTOMER}
    question = speech_wav(OFFLINE_QUESTION)
    streamed = Session(ROOT / "serve.py", True, settings, question, turns, warmup)
    whole = Session(ROOT / "app.py", False, settings, question, turns, warmup)
    _measure(streamed)
    _measure(whole)
    return {
        "first_sound_s_median": rounded(median(_firsts(streamed))),
        "first_sound_whole_s_median": rounded(median(_firsts(whole))),
        "details": {
            "answered_by": "the offline engine",
            "streamed_path": _summary(streamed),
            "whole_path": _summary(whole),
        },
    }


def run_paced(turns: int = 12, whole_turns: int = 5, warmup: int = 1) -> dict[str, Any]:
    """The app's own added time to first sound against a paced model, streamed and whole, and
    barge-in on the streamed page."""
    from tests.page.helpers import question_wav

    question = question_wav(PACED_QUESTION)
    with tempfile.TemporaryDirectory() as tmp, _paced(Path(tmp)) as paced:
        streamed = Session(
            paced.streamed_script, True, paced.settings, question, turns, warmup,
            barge_in=True, before_turn=paced.before_turn, first_chunk_wall=paced.first_chunk_wall,
        )  # fmt: skip
        whole = Session(
            paced.whole_script, False, paced.settings, question, whole_turns, warmup,
            before_turn=paced.before_turn, first_chunk_wall=paced.first_chunk_wall,
        )  # fmt: skip
        _measure(streamed)
        _measure(whole)
    barge = [t.barge_in_ms for t in streamed.measured if t.barge_in_ms is not None]
    heard = [t.barge_in_heard_ms for t in streamed.measured if t.barge_in_heard_ms is not None]
    added = [(s - FIRST_CHUNK_S) * 1000 for s in _firsts(streamed)]
    added_whole = [(s - FIRST_CHUNK_S) * 1000 for s in _firsts(whole)]
    result: dict[str, Any] = {
        "first_sound_added_ms_median": rounded(median(added), 1),
        "first_sound_whole_added_ms_median": rounded(median(added_whole), 1),
        "barge_in_ms_p95": rounded(percentile(barge, 95), 1) if barge else None,
        "details": {
            "answered_by": paced.answered_by,
            "pace": {"first_chunk_s": FIRST_CHUNK_S, "realtime": REALTIME, "answer_s": ANSWER_S},
            "streamed_path": _summary(streamed),
            "whole_path": _summary(whole),
            "barge_in_presses": len(barge),
            "barge_in_ms_median": rounded(median(barge), 1) if barge else None,
            "barge_in_ms_max": rounded(max(barge), 1) if barge else None,
            # From the press to the last sound the probe heard: a lower bound (the probe looks
            # every 2 ms, when the page's main thread is free).
            "barge_in_last_sound_ms_p95": rounded(percentile(heard, 95), 1) if heard else None,
        },
    }
    if not barge:
        result["details"]["barge_in_ms_p95_unavailable"] = (
            "no streamed answer was still playing when record was pressed"
        )
    return result


@dataclass
class Paced:
    """Who answers at the paced model's speed, and how the benchmark reads it."""

    answered_by: str
    streamed_script: Path
    whole_script: Path
    settings: dict[str, str]
    before_turn: Any = None
    first_chunk_wall: Any = None


@contextlib.contextmanager
def _paced(workdir: Path) -> Iterator[Paced]:
    """The paced Chat Completions double when this branch has one, else the fake engine."""
    if not double_paces():
        pace = {
            "first_chunk_s": FIRST_CHUNK_S, "chunks": 24, "chunk_s": ANSWER_S / 24,
            "every_s": ANSWER_S / 24 / REALTIME,
        }  # fmt: skip
        log = workdir / "chunks.jsonl"
        folder = ROOT / "tests" / "page"
        yield Paced(
            "the page's fake streaming engine (tests/page/streaming.py) at the same pace: the "
            "Chat Completions double cannot pace on this branch",
            folder / "streaming_serve.py",
            folder / "streaming_page.py",
            {
                "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # never called: the engine is fake
                "OPENAI_API_KEY": "sk-bench",
                "VOICEDESK_CUSTOMER": CUSTOMER,
                "VOICEDESK_TEST_PACE": json.dumps(pace),
                "VOICEDESK_TEST_STREAM_LOG": str(log),
            },
            first_chunk_wall=lambda: _logged_first_chunk(log),
        )
        return
    from bench.responder import answer_wav
    from tests.doubles.chat_double import ChatDouble, Pace

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on stderr
    answer = answer_wav(ANSWER_S)
    pace = Pace(first_chunk_s=FIRST_CHUNK_S, realtime=REALTIME)
    with ChatDouble(policy="auto", pace=pace) as double:
        yield Paced(
            "the Chat Completions double, paced",
            ROOT / "serve.py",
            ROOT / "app.py",
            {
                "OPENAI_BASE_URL": double.base_url,
                "OPENAI_API_KEY": "sk-bench",
                "VOICEDESK_CUSTOMER": CUSTOMER,
                "VOICEDESK_TRANSCRIBE_MODEL": "",  # one model call a turn: the spoken answer
                "VOICEDESK_MAX_RETRIES": "0",
            },
            # A spoken answer at once, no tool round (which would cost its own first chunk).
            before_turn=lambda: double.reply_audio(ANSWER_TEXT, answer),
            first_chunk_wall=lambda: _generated_first_chunk(double),
        )
        if double.violations:
            raise RuntimeError(
                f"the app broke the Chat Completions contract: {double.violations[0]}"
            )


def _logged_first_chunk(log: Path) -> float | None:
    from tests.page.streaming import chunks_sent

    firsts = [line["wall"] for line in chunks_sent(log) if line["chunk"] == 0]
    return firsts[-1] * 1000 if firsts else None


def _generated_first_chunk(double: Any) -> float | None:
    """When the double generated the latest answer's first audio chunk, as wall-clock ms (it
    notes time.monotonic(); this process shares its clock)."""
    for request in reversed(double.requests):
        audio = [at for at, what in getattr(request, "generated", []) if what == "audio"]
        if audio:
            return (audio[0] + time.time() - time.monotonic()) * 1000
    return None


def _firsts(session: Session) -> list[float]:
    return [turn.first_sound_s for turn in session.measured]


def _summary(session: Session) -> dict[str, Any]:
    played = Counter(turn.played_as for turn in session.measured)
    firsts = _firsts(session)
    delivery = [t.chunk_to_sound_ms for t in session.measured if t.chunk_to_sound_ms is not None]
    asked = [t.stop_to_model_ms for t in session.measured if t.stop_to_model_ms is not None]
    return {
        "served_by": f"streamlit run {session.script.relative_to(ROOT)}",
        "stream_connected": session.stream_connected,
        "played_as": next(iter(played)) if len(played) == 1 else dict(played),
        "turns": len(firsts),
        "warmup_turns": session.warmup,
        "first_sound_s_median": rounded(median(firsts)),
        "first_sound_s_max": rounded(max(firsts)),
        "first_sound_s_each": [rounded(f, 2) for f in firsts],
        "chunks_median": median([turn.chunks for turn in session.measured]),
        # The app's added time in two parts, by the paced model's own clock: from Stop until
        # it was asked (the recording's upload, the page's rerun, the turn's start), and from
        # its first audio chunk to the first sound (the chunk's way to the speakers).
        "stop_to_model_ms_median": rounded(median(asked), 1) if asked else None,
        # ... of which: the browser encoding the recording, then uploading it.
        "stop_to_upload_ms_median": _median_of(session, "stop_to_upload_ms"),
        "upload_ms_median": _median_of(session, "upload_ms"),
        "chunk_to_sound_ms_median": rounded(median(delivery), 1) if delivery else None,
        "questions_shown": dict(Counter(turn.question for turn in session.measured)),
    }


def _median_of(session: Session, name: str) -> float | None:
    values = [getattr(t, name) for t in session.measured if getattr(t, name) is not None]
    return rounded(median(values), 1) if values else None


def _measure(session: Session) -> None:
    from playwright.sync_api import sync_playwright

    from tests.page.browser import PageServer, launch_chromium
    from tests.page.probe import install

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        microphone = workdir / "question.wav"
        microphone.write_bytes(session.question)
        settings = {**session.settings, "VOICEDESK_DATA_DIR": str(workdir / "data")}
        server = PageServer(workdir, settings, script=session.script)
        try:
            server.wait_ready(timeout=60)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright, microphone)
                try:
                    page = browser.new_page()
                    install(page)
                    page.goto(server.url)
                    _turns(page, session)
                finally:
                    browser.close()
        except Exception as exc:
            name = session.script.name
            raise RuntimeError(
                f"{name}: {exc}; the page's log ends: {server.log()[-400:]}"
            ) from None
        finally:
            server.stop()


def _turns(page: Any, session: Session) -> None:
    from tests.doubles.speech import wav_seconds
    from tests.page.browser import settle

    widget = page.get_by_test_id("stAudioInput")
    widget.wait_for(timeout=60_000)
    settle(page, 60_000)
    if session.streams:  # the player connects once the page is up; without it, answers play whole
        with contextlib.suppress(Exception):
            page.wait_for_function("() => window.voicedeskPlayer?.stats.connected", timeout=15_000)
    session.stream_connected = page.evaluate(
        "() => Boolean(window.voicedeskPlayer?.stats.connected)"
    )
    question_s = wav_seconds(session.question)
    for number in range(session.warmup + session.turns):
        try:
            turn = _one_turn(page, widget, session, question_s, first=number == 0)
        except Exception as exc:
            raise RuntimeError(
                f"turn {number + 1}: {exc} (page: {failure_screenshot(page, 'first_sound')})"
            ) from None
        if number >= session.warmup:
            session.measured.append(turn)


def _one_turn(page: Any, widget: Any, session: Session, question_s: float, first: bool) -> Turn:
    from tests.page.browser import settle
    from tests.page.probe import arm, read, silence_everything, silenced_after

    playing = session.barge_in and read(page)["sound"]  # the last answer, still being said
    if not playing:
        settle(page, 60_000)  # a press while the page still runs may be lost with that run
        silence_everything(page)  # the harness's doing: the next answer starts in silence
    if session.before_turn is not None:
        session.before_turn()
    chunks_before = page.evaluate(PLAYER_CHUNKS)
    widget.get_by_role("button", name="Record", exact=True).click()
    pressed_at = time.monotonic()
    barge_in = heard_ms = None
    if playing:
        pressed = read(page)["pointerDown"]
        heard_ms = silenced_after(page, pressed)
        silent_since = read(page)["silentSince"]
        if silent_since <= pressed:  # the answer had just ended by itself: not a barge-in
            heard_ms = None
        else:
            barge_in = silent_since - pressed
    # Let the fake microphone say the whole question.
    time.sleep(max(0.0, question_s + 0.4 - (time.monotonic() - pressed_at)))
    if playing:  # the interrupted turn ends first, so every first sound starts from a quiet page
        settle(page, 60_000)
    stop = widget.get_by_role("button", name="Stop recording", exact=True)
    stop.wait_for()
    arm(page)
    stop.click()
    _wait_for_answer(page, timeout_ms=240_000 if first else 60_000)
    heard = read(page)
    streamed, whole = heard["firstSound"], heard["firstPlaying"]
    first_sound = min(t for t in (streamed, whole) if t is not None)
    if session.barge_in:  # the next turn interrupts this answer while it is being generated
        page.wait_for_timeout(BARGE_IN_AFTER_MS)
    else:
        settle(page, 60_000)  # the turn is over: every chunk it sent has arrived
    first_chunk = session.first_chunk_wall() if session.first_chunk_wall else None
    upload = (
        heard["upload"] if heard["upload"] and heard["upload"]["start"] > heard["armedAt"] else None
    )
    asked = None if first_chunk is None else first_chunk - FIRST_CHUNK_S * 1000  # by the model
    return Turn(
        first_sound_s=(first_sound - heard["pointerDown"]) / 1000,
        played_as="streamed" if first_sound == streamed else "whole",
        chunks=page.evaluate(PLAYER_CHUNKS) - chunks_before,
        chunk_to_sound_ms=None if first_chunk is None else first_sound - first_chunk,
        stop_to_model_ms=None if first_chunk is None else asked - heard["pointerDown"],
        stop_to_upload_ms=None if upload is None else upload["start"] - heard["pointerDown"],
        upload_ms=None if upload is None else upload["end"] - upload["start"],
        barge_in_ms=barge_in,
        barge_in_heard_ms=heard_ms,
        question=page.evaluate(QUESTION_SHOWN).strip(),
    )


def _wait_for_answer(page: Any, timeout_ms: int) -> None:
    """Until the answer is heard (the probe timed it in the page: polling here only ends the
    wait); an error message on the page ends the wait with it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        outcome = page.wait_for_function(OUTCOME, timeout=timeout_ms, polling=100).json_value()
    except PlaywrightTimeout:
        raise RuntimeError(f"no answer was heard within {timeout_ms / 1000:.0f} s") from None
    if "error" in outcome:
        raise RuntimeError(f"the page answered with an error: {outcome['error'][:300]}")
