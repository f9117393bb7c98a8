"""Answers that play as they arrive, in real Chromium with a fake microphone, served as
`make run` serves the page (st.App with the stream socket), with an engine that streams slowly
(tests/page/streaming.py). What a person would hear is read by a probe the test puts in the page
(not the player's own report): every Web Audio source started, and the level actually reaching
the speakers. Screenshots of every state go to /tmp/player-shots/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.page.browser import ROOT, PageServer, launch_chromium, require_browser, settle
from tests.page.helpers import question_wav
from tests.page.probe import (
    ANSWER_RATE,
    arm,
    install,
    silenced_after,
    wait_for_sound,
    wall_ms,
)
from tests.page.streaming import ANSWER, HEARD, UNREACHABLE, chunks_sent

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SHOTS = Path(os.environ.get("VOICEDESK_PLAYER_SHOTS", "/tmp/player-shots"))
PACE = {"first_chunk_s": 0.4, "chunks": 16, "chunk_s": 0.5, "every_s": 0.35}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_browser()
    workdir = tmp_path_factory.mktemp("streaming")
    microphone = workdir / "question.wav"
    microphone.write_bytes(question_wav(HEARD))
    log = workdir / "chunks.jsonl"
    server = PageServer(
        workdir,
        {
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # never called: the engine is the test's
            "OPENAI_API_KEY": "sk-streaming-test",
            "VOICEDESK_DATA_DIR": str(workdir / "data"),
            "VOICEDESK_CUSTOMER": "maria",
            "VOICEDESK_TEST_STREAM_LOG": str(log),
            "VOICEDESK_TEST_PACE": json.dumps(PACE),
        },
        script=ROOT / "tests" / "page" / "streaming_serve.py",
    )
    try:
        server.wait_ready()
        yield server, microphone, log
    finally:
        server.stop()


def test_the_answer_plays_as_it_arrives_and_stops_when_the_person_talks(live):
    from playwright.sync_api import expect, sync_playwright

    server, microphone, log = live
    SHOTS.mkdir(parents=True, exist_ok=True)
    figures = {}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, microphone)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            install(page)
            page.goto(server.url)
            mic = page.get_by_test_id("stAudioInput")
            expect(mic).to_be_visible(timeout=30_000)
            settle(page)
            page.wait_for_function("() => window.voicedeskPlayer?.stats.connected", timeout=10_000)
            page.screenshot(path=SHOTS / "1-first-open.png")

            # Ask by voice; the answer streams slowly.
            mic.get_by_role("button", name="Record", exact=True).click()
            page.wait_for_timeout(3000)
            page.screenshot(path=SHOTS / "2-recording.png")
            arm(page)  # the microphone is done
            mic.get_by_role("button", name="Stop recording").click()
            stopped = wall_ms(page)
            expect(page.get_by_text("Understanding the question").first).to_be_visible(
                timeout=10_000
            )
            page.screenshot(path=SHOTS / "3-thinking.png")

            wait_for_sound(page)
            first_sound = page.evaluate("() => window.__probe.firstSound")
            expect(page.get_by_text(HEARD)).to_be_visible(timeout=5_000)  # heard, shown early
            page.screenshot(path=SHOTS / "4-speaking.png")
            sent = chunks_sent(log)
            assert len(sent) < PACE["chunks"], "the whole answer was generated before any sound"
            assert page.get_by_text("Answered in").count() == 0, "the turn was already over"
            answer_starts = [s for s in page.evaluate("() => window.__probe.starts")
                             if s["rate"] == ANSWER_RATE]  # fmt: skip
            assert answer_starts and answer_starts[0]["peak"] > 0.05, "the first chunk was silence"
            figures["first_sound_after_stop_ms"] = first_sound - stopped

            # The text grows as it streams: part of it is on the page before the turn ends.
            first_words = " ".join(ANSWER.split(" ")[:3])
            expect(page.get_by_text(first_words, exact=False).first).to_be_visible(timeout=5_000)
            assert page.get_by_text("Answered in").count() == 0, "shown only once finished"

            # "Stop speaking": silent at once, and the server stops generating the answer.
            stop = page.get_by_role("button", name="Stop speaking")
            expect(stop).to_be_visible()
            pressed = wall_ms(page)
            stop.click()
            figures["stop_button_to_silent_ms"] = silenced_after(page, pressed)
            page.screenshot(path=SHOTS / "5-interrupted.png")
            expect(page.get_by_text("Answered in")).to_be_visible(timeout=20_000)
            assert len(chunks_sent(log)) < PACE["chunks"], "the server went on generating"
            settle(page)
            players = page.evaluate("""() => Array.from(document.querySelectorAll(
                '[data-testid="stChatMessage"] audio')).map(a => !a.paused)""")
            assert not any(players), "the stopped answer started again as a whole"

            # A typed question, then record pressed while it speaks: silent at once.
            before = len(chunks_sent(log))
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill("And how many did she win?")
            box.press("Enter")
            page.wait_for_function(
                "() => window.voicedeskPlayer.stats.state === 'speaking'", timeout=20_000
            )
            wait_for_sound(page)
            pressed = wall_ms(page)
            mic.get_by_role("button", name="Record", exact=True).click()
            figures["record_to_silent_ms"] = silenced_after(page, pressed)
            page.screenshot(path=SHOTS / "6-recording-over-the-answer.png")
            assert len(chunks_sent(log)) - before < PACE["chunks"], "the server went on"
            mic.get_by_role("button", name="Stop recording").click()
            wait_for_sound(page)  # the new question is answered, as it arrives
            expect(page.get_by_test_id("stChatMessage")).to_have_count(6, timeout=30_000)
            expect(page.get_by_text("Answered in")).to_be_visible(timeout=30_000)
            settle(page)

            # A failure: one sentence, and no sound.
            box.fill("Please fail this one")
            box.press("Enter")
            expect(page.get_by_text(UNREACHABLE)).to_be_visible(timeout=20_000)
            settle(page)
            page.screenshot(path=SHOTS / "7-error.png")
            assert "Traceback" not in page.content()
        finally:
            browser.close()
    print("\nstreamed answer figures (ms):", {k: round(v, 1) for k, v in figures.items()})
    assert figures["record_to_silent_ms"] < 1000 and figures["stop_button_to_silent_ms"] < 1000
