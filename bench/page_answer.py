"""From "Stop recording" to the answer's audio player, on the real page in real Chromium.

The page (`streamlit run app.py`, on 127.0.0.1) answers offline, with the local speech engine
and the embedded backends, for the customer `maria`. Chromium's fake microphone plays a spoken
question (espeak-ng) into `st.audio_input`; the benchmark waits for the page to be idle, clicks
Record, waits for the question to be said, clicks Stop recording, and times, on the browser's
clock, from that click until the new answer (the newest chat message) has its audio player. The first turn loads the speech models
and is a warm-up; the figure is the median of the turns after it.

The server and browser helpers are the page's own (tests/page/browser.py).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import median, rounded

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many chess games did I play?"
CUSTOMER = "maria"
# Installed just before "Stop recording" is clicked: notes, on the browser's clock, the click,
# when the question appears as a chat message, and when the newest chat message (the answer)
# gets its audio player, or an error. Only messages of the current run count (not those left
# stale from the previous one), and only the newest: earlier answers may become replay buttons.
WATCH_JS = """(before) => {
    const marks = {click: null, question: null, outcome: null, at: null};
    const live = () => Array.from(document.querySelectorAll('[data-testid=stChatMessage]'))
        .filter(m => !m.closest('[data-stale="true"]'));
    const check = () => {
        if (marks.click === null || marks.outcome !== null) return;
        const now = performance.now();
        const messages = live();
        if (marks.question === null && messages.length >= before + 1) marks.question = now;
        if (messages.length < before + 2) return;
        const newest = messages[messages.length - 1];
        if (newest.querySelector('[data-testid=stAlertContentError]')) marks.outcome = "error";
        else if (newest.querySelector('audio')) marks.outcome = "answer";
        if (marks.outcome !== null) { marks.at = now; observer.disconnect(); }
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body,
        {subtree: true, childList: true, attributes: true, attributeFilter: ["data-stale"]});
    document.addEventListener("click", () => { marks.click = performance.now(); },
        {capture: true, once: true});
    window.__voicedeskBench = marks;
}"""
MARKS_JS = "() => window.__voicedeskBench"
MESSAGES = "[data-testid=stChatMessage]"


def unavailable() -> str | None:
    """Why the page cannot be measured here, or None."""
    from tests.doubles.speech import have_espeak
    from tests.page.browser import missing

    reason = missing()
    if reason is None and not have_espeak():
        reason = "espeak-ng is not installed, so there is no spoken question to play"
    return reason


def run(
    turns: int = 7,
    warmup: int = 1,
    settings: dict[str, str] | None = None,
    answered_by: str = "offline",
) -> dict[str, Any]:
    """`settings` replaces the offline provider (the quick run answers with the instant
    responder instead, to check the driver in seconds); `answered_by` says which it is."""
    from playwright.sync_api import sync_playwright

    from tests.doubles.speech import speech_wav, wav_seconds
    from tests.page.browser import PageServer, launch_chromium

    question = speech_wav(QUESTION)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        microphone = workdir / "question.wav"
        microphone.write_bytes(question)
        env = {"VOICEDESK_DATA_DIR": str(workdir / "data"), "VOICEDESK_CUSTOMER": CUSTOMER}
        env.update(settings or {"VOICEDESK_PROVIDER": "offline"})
        server = PageServer(workdir, env)
        try:
            started = time.perf_counter()
            server.wait_ready(timeout=60)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright, microphone)
                try:
                    page = browser.new_page()
                    page.goto(server.url)
                    microphone_widget = page.get_by_test_id("stAudioInput")
                    microphone_widget.wait_for(timeout=60_000)
                    ready_s = time.perf_counter() - started
                    timings = []
                    for number in range(warmup + turns):
                        try:
                            timings.append(
                                _one_turn(page, microphone_widget, wav_seconds(question))
                            )
                        except Exception as exc:
                            shot = failure_screenshot(page)
                            raise RuntimeError(f"turn {number + 1}: {exc} (page: {shot})") from None
                finally:
                    browser.close()
        except Exception as exc:
            raise RuntimeError(f"{exc}; the page's log ends: {server.log()[-600:]}") from None
        finally:
            server.stop()
    measured = [answer for answer, _ in timings[warmup:]]
    return {
        "page_answer_s_median": rounded(median(measured)),
        "details": {
            "turns": turns,
            "warmup_turns": warmup,
            "answered_by": answered_by,
            "first_turn_s": rounded(timings[0][0]),
            "answer_s_max": rounded(max(measured)),
            # From the click until the question shows as a chat message: the browser encodes
            # and uploads the recording, the page starts its run.
            "stop_to_question_s_median": rounded(median([q for _, q in timings[warmup:]])),
            "page_ready_s": rounded(ready_s),
        },
    }


def failure_screenshot(page: Any, name: str = "page_answer") -> str:
    """What the page looked like when a turn failed (test-output/bench/, not committed)."""
    folder = ROOT / "test-output" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}_failure.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception:
        return "no screenshot"
    return str(path)


def _settle(page: Any) -> None:
    """Wait until the page's run is over (no element left stale from the previous run)."""
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=60_000)
    page.wait_for_timeout(300)


def _one_turn(page: Any, widget: Any, question_s: float) -> tuple[float, float]:
    """(seconds from the Stop click to the answer's player, to the question on the page)."""
    _settle(page)  # a click while the page still runs may be lost with that run
    before = page.locator(MESSAGES).count()
    widget.get_by_role("button", name="Record", exact=True).click()
    time.sleep(question_s + 0.4)  # let the fake microphone say the whole question
    stop = widget.get_by_role("button", name="Stop recording", exact=True)
    stop.wait_for()
    page.evaluate(WATCH_JS, before)
    stop.click()
    page.wait_for_function(
        "() => window.__voicedeskBench.outcome !== null", timeout=180_000, polling=100
    )
    marks = page.evaluate(MARKS_JS)
    if marks["outcome"] != "answer":
        message = page.locator(MESSAGES).last.inner_text()
        raise RuntimeError(f"the page answered with an error: {message[:300]}")
    return (marks["at"] - marks["click"]) / 1000, (marks["question"] - marks["click"]) / 1000
