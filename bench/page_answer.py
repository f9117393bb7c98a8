"""From "Stop recording" to the answer's audio player, on the real page in real Chromium.

The page (`streamlit run app.py`, on 127.0.0.1) answers offline, with the local speech engine
and the embedded backends, for the customer `maria`. Chromium's fake microphone plays a spoken
question (espeak-ng) into `st.audio_input`; the benchmark clicks Record, waits for the question
to be said, clicks Stop recording, and times until a new audio player appears in an answer
(an assistant message: the one with the status and "Behind the answer" expanders). The first
turn loads the speech models and is a warm-up; the figure is the median of the turns after it.

The server and browser helpers are the page's own (tests/page/browser.py).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import median, rounded

QUESTION = "How many chess games did I play?"
CUSTOMER = "maria"
ANSWERS = "[data-testid=stChatMessage]:has([data-testid=stExpander]) audio"
ERRORS = "[data-testid=stChatMessage] [data-testid=stAlertContentError]"
WAIT_JS = """([answers, errors, seenAnswers, seenErrors]) => {
    if (document.querySelectorAll(answers).length > seenAnswers) return "answer";
    if (document.querySelectorAll(errors).length > seenErrors) return "error";
    return null;
}"""


def unavailable() -> str | None:
    """Why the page cannot be measured here, or None."""
    from tests.doubles.speech import have_espeak
    from tests.page.browser import missing

    reason = missing()
    if reason is None and not have_espeak():
        reason = "espeak-ng is not installed, so there is no spoken question to play"
    return reason


def run(turns: int = 5, warmup: int = 1, settings: dict[str, str] | None = None) -> dict[str, Any]:
    """`settings` replaces the offline provider (the quick run answers with the instant
    responder instead, to check the driver in seconds)."""
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
                    seconds = [
                        _one_turn(page, microphone_widget, wav_seconds(question))
                        for _ in range(warmup + turns)
                    ]
                finally:
                    browser.close()
        except Exception as exc:
            raise RuntimeError(f"{exc}; the page's log ends: {server.log()[-600:]}") from None
        finally:
            server.stop()
    measured = seconds[warmup:]
    return {
        "page_answer_s_median": rounded(median(measured)),
        "details": {
            "turns": turns,
            "warmup_turns": warmup,
            "answered_by": (settings or {}).get("VOICEDESK_PROVIDER", "offline"),
            "first_turn_s": rounded(seconds[0]),
            "answer_s_max": rounded(max(measured)),
            "page_ready_s": rounded(ready_s),
        },
    }


def _one_turn(page: Any, widget: Any, question_s: float) -> float:
    answers = page.locator(ANSWERS).count()
    errors = page.locator(ERRORS).count()
    widget.get_by_role("button", name="Record", exact=True).click()
    time.sleep(question_s + 0.4)  # let the fake microphone say the whole question
    stop = widget.get_by_role("button", name="Stop recording", exact=True)
    stop.wait_for()
    started = time.perf_counter()
    stop.click()
    outcome = page.wait_for_function(
        WAIT_JS, arg=[ANSWERS, ERRORS, answers, errors], timeout=180_000, polling="raf"
    ).json_value()
    elapsed = time.perf_counter() - started
    if outcome != "answer":
        message = page.locator(ERRORS).last.inner_text()
        raise RuntimeError(f"the page answered with an error: {message}")
    return elapsed
