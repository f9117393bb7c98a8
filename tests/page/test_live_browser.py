"""Live mode in real Chromium, served as `make run` serves the page (st.App with its sockets),
with a fake microphone playing a conversation: four spoken questions, the fourth spoken over
the third answer. The live session is opened by ONE opener (OPENER in tests/page/live_browser.py:
the scripted session of tests/page/live_script.py; the engine's factory once it is in place).

What a person would hear is read by the probe (tests/page/probe.py), not the page's own report;
what the microphone sent, by a second probe on the socket's send. Screenshots of every Live
state go to /tmp/live-shots/ (desktop and phone width)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.page.browser import settle
from tests.page.live_browser import (
    FRAME_MS,
    live_page,
    open_page,
    speech_onset,
    wait_state,
)
from tests.page.live_script import ANSWERS, OPEN_REFUSED, QUESTIONS, SPEECH_RMS, logged
from tests.page.probe import arm, wait_for_sound

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SHOTS = Path(os.environ.get("VOICEDESK_LIVE_SHOTS", "/tmp/live-shots"))
PACE = {"answer_s": [1.5, 1.5, 4.0, 2.0], "think_s": 0.8, "open_s": 0.8}
# The microphone: silence while connecting, then each question and the silence after it. The
# third answer starts ~1.3 s after its question and lasts 4 s: the fourth question, 2.8 s after
# the third, is spoken over it.
PAUSES = (4.0, 4.0, 2.8, 8.0)


@pytest.fixture
def live_server(tmp_path):
    script = [(None, 2.0), *((QUESTIONS[n], pause) for n, pause in enumerate(PAUSES))]
    with live_page(tmp_path, script, PACE, sessions=1) as served:  # the 2nd Start live: refused
        yield served


def closed_logged(log, timeout_s: float = 10.0) -> list[dict]:
    """The scripted session's log once it says the session closed (the server closes it when
    the socket ends, a moment after the tab); as it is, if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not any("closed" in line for line in logged(log)):
        time.sleep(0.05)
    return logged(log)


def shoot(page, name: str) -> None:
    page.screenshot(path=SHOTS / f"{name}.png")


def answered_on_page(page, count: int) -> None:
    """The finished answers are drawn in the conversation, like typed and recorded ones."""
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= n",
        arg=2 * count, timeout=30_000,
    )  # fmt: skip


def test_live_answers_two_questions_stops_when_talked_over_and_answers_the_next(live_server):
    from playwright.sync_api import expect, sync_playwright

    server, microphone, log = live_server
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser, page = open_page(playwright, server, microphone)
        try:
            start = page.get_by_role("button", name="Start live")
            expect(start).to_be_visible(timeout=30_000)
            settle(page)
            page.wait_for_function("() => window.voicedeskPlayer?.stats.connected", timeout=10_000)
            shoot(page, "0-idle")
            # The server's interruption alone (the local gate is the next test's).
            page.evaluate("() => { window.voicedeskLive.gate.on = false; }")

            start.click()
            wait_state(page, "connecting")
            shoot(page, "1-connecting")
            wait_state(page, "listening")
            shoot(page, "2-listening")
            wait_state(page, "hearing")
            shoot(page, "3-hearing-you")
            wait_state(page, "looking_up")
            shoot(page, "4-looking-up")
            wait_state(page, "speaking")
            wait_for_sound(page)
            shoot(page, "5-speaking")

            # Two questions, two answers, heard and drawn in the conversation.
            answered_on_page(page, 1)
            expect(page.get_by_text(ANSWERS[0]).first).to_be_visible(timeout=10_000)
            assert page.locator("b", has_text="five").count() == 0, "the answer became HTML"
            answered_on_page(page, 2)
            expect(page.get_by_text(ANSWERS[1]).first).to_be_visible(timeout=10_000)

            # The third answer plays; the fourth question is spoken over it.
            page.wait_for_function(
                "() => window.voicedeskLive.stats.interrupted >= 1", timeout=30_000, polling=5
            )
            page.wait_for_function("() => !window.__probe.sound", timeout=5_000, polling=5)
            page.wait_for_timeout(400)
            probe = page.evaluate("() => window.__probe")
            assert not probe["sound"], "the answer went on playing after it was talked over"
            shoot(page, "6-interrupted")
            last_sound = probe["lastSound"]

            # The next question is answered, and heard.
            answered_on_page(page, 3)
            expect(page.get_by_text(ANSWERS[3]).first).to_be_visible(timeout=20_000)
            live = page.evaluate("() => window.voicedeskLive.stats")
            page.wait_for_function(
                "(after) => window.__probe.lastSound > after + 500", arg=last_sound,
                timeout=10_000,
            )  # fmt: skip

            page.get_by_role("button", name="End live").click()
            wait_state(page, "closed")
            settle(page)
            shoot(page, "7-ended")
            sends = page.evaluate("() => window.__micSends")

            # A second session is refused by the (scripted) service: one sentence, no trace.
            page.get_by_role("button", name="Start live").click()
            wait_state(page, "error")
            expect(page.get_by_text(OPEN_REFUSED)).to_be_visible()
            shoot(page, "8-error")
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(500)
            shoot(page, "9-error-phone")
            assert "Traceback" not in page.content()
        finally:
            browser.close()

    lines = closed_logged(log)
    frames = [line for line in lines if "frame" in line]
    assert len(frames) > 100 and max(f["rms"] for f in frames) > SPEECH_RMS, "no speech came"
    assert [f["frame"] for f in frames] == list(range(1, len(frames) + 1))
    assert sum("closed" in line for line in lines) == 1, "End live left the session open"
    played = [line for line in lines if "played" in line]
    assert played and played[0]["played"].endswith("item-2") and 0 < played[0]["ms"] < 4000

    # Figures, on the page's clock: speech start (the first loud microphone frame of the fourth
    # question, less its length) -> the speakers silent, as the probe heard them.
    print("\nlive figures:", barge_in_figures(lines, sends, last_sound, live))


def barge_in_figures(lines, sends, last_sound: float, live: dict) -> dict:
    start = speech_onset(lines, sends, 3)
    return {
        "live_barge_in_ms (server path)": round(last_sound - start, 1),
        "interrupted_event_after_speech_ms": round(live["lastInterruptWall"] - start, 1),
        "interrupted_event_to_silent_ms": round(last_sound - live["lastInterruptWall"], 1),
    }


GATE_SCRIPT = [(None, 2.0), (QUESTIONS[0], 1.8), ("Wait.", 8.0)]  # "Wait." over the answer
GATE_PACE = {"answer_s": [5.0], "think_s": 0.8, "interrupts": False}


def test_the_tab_pauses_the_answer_the_moment_it_hears_speech_and_goes_on_if_it_was_not_a_turn(
    tmp_path,
):
    """The local gate: a word spoken over the answer silences it at once; the session (deaf
    here) does not confirm an interruption, so the answer goes on where it paused."""
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with live_page(tmp_path, GATE_SCRIPT, GATE_PACE) as (server, microphone, log), \
            sync_playwright() as playwright:  # fmt: skip
        browser, page = open_page(playwright, server, microphone, viewport=(390, 844))
        try:
            start = page.get_by_role("button", name="Start live")
            expect(start).to_be_visible(timeout=30_000)
            settle(page)
            # The microphone at the device's rate, resampled to 24 kHz (as Firefox needs).
            page.evaluate("() => { window.voicedeskLive.deviceRate = true; }")
            arm(page)  # sounds from now on are the answer's
            start.click()
            wait_state(page, "speaking")
            wait_for_sound(page)
            first_sound = page.evaluate("() => window.__probe.firstSound")
            shoot(page, "10-speaking-phone")
            page.wait_for_function(
                "() => window.voicedeskLive.stats.gated >= 1", timeout=30_000, polling=5
            )
            page.wait_for_function("() => !window.__probe.sound", timeout=5_000, polling=5)
            paused = page.evaluate("() => window.__probe.lastSound")
            shoot(page, "11-paused-phone")
            page.wait_for_function(  # it goes on
                "(at) => window.__probe.sound && window.__probe.lastSound > at + 300", arg=paused,
                timeout=5_000, polling=5,
            )  # fmt: skip
            page.wait_for_function("() => window.voicedeskPlayer.stats.state === 'idle'",
                                   timeout=20_000)  # fmt: skip
            page.wait_for_timeout(300)
            probe = page.evaluate("() => window.__probe")
            live = page.evaluate("() => window.voicedeskLive.stats")
            player = page.evaluate("() => window.voicedeskPlayer.stats")
            sends = page.evaluate("() => window.__micSends")

            # Another customer chosen while live: the session opened for the first one ends.
            page.set_viewport_size({"width": 1366, "height": 800})
            customer = page.get_by_test_id("stSelectbox").filter(has_text="Customer being helped")
            expand = page.get_by_test_id("stExpandSidebarButton")
            # A phone width collapses the sidebar, and widening may leave it collapsed.
            page.wait_for_timeout(500)
            if not customer.is_visible() and expand.is_visible():
                expand.click()
            expect(customer).to_be_visible(timeout=10_000)
            customer.click()
            page.get_by_role("option", name="No one in particular").click()
            wait_state(page, "closed")
            expect(page.get_by_text("the customer, voice, model or conversation changed",
                                    exact=False)).to_be_visible()  # fmt: skip
            shoot(page, "12-ended-customer-changed")
        finally:
            browser.close()
        lines = closed_logged(log)
    assert sum("closed" in line for line in lines) == 1, "the old customer's session went on"
    assert live["micRate"] != 24000, "the device-rate path was not taken"
    frames = [line for line in lines if "frame" in line]
    assert {f["bytes"] for f in frames} == {960}, "frames of 20 ms at 24 kHz"
    seconds = (frames[-1]["wall"] - frames[0]["wall"]) or 1
    assert 0.8 < len(frames) * 0.02 / seconds < 1.2, "resampled to real time at 24 kHz"
    assert live["interrupted"] == 0 and not any("played" in line for line in lines)
    heard_for = probe["lastSound"] - first_sound
    assert heard_for > (GATE_PACE["answer_s"][0] + 0.4) * 1000, "the paused part was lost"
    loud = [s for s in sends if s["wall"] > first_sound and s["rms"] > SPEECH_RMS]
    onset = loud[0]["wall"] - FRAME_MS
    figures = {
        "live_barge_in_ms (local gate)": round(paused - onset, 1),
        "gate_fired_after_speech_ms": round(player["lastDuckWall"] - onset, 1),
        "answer_heard_s (5 s answer, paused and resumed)": round(heard_for / 1000, 2),
    }
    print("\nlive gate figures:", figures)
