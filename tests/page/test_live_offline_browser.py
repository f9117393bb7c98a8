"""Live mode end to end with the REAL chain, no keys: real Chromium, the page as `make run`
serves it (serve.py: the live relay opening sessions through the engine's factory,
`page.live_relay:open_with_factory`), the local engine's realtime server (Silero VAD, Whisper,
the router and its tools, Piper), the demo data, customer maria.

The microphone is steered by the test: an init script hands the page a MediaStream from an
AudioContext whose Piper-voiced questions the test starts on demand, so "speak while the answer
plays" happens while it plays, whatever the CPU's speed. Everything from getUserMedia on (the
page's worklet, the socket, the relay, the session, the player) is the page's own.

What Whisper hears depends on the CPU, so nothing is asserted on its words: two exchanges, each
heard (non-empty), answered aloud (the sound probe, tests/page/probe.py) with a tool in its
trace; then a question spoken over a long answer silences it and is answered in turn.
Screenshots of each state go to test-output/page/live-offline-*.png."""

from __future__ import annotations

import base64
import re
import tempfile
import time
from pathlib import Path

import pytest

from tests.localspeech.cases import Case
from tests.page.browser import CHROMIUM, ROOT, PageServer, require_browser, screenshots_dir, settle
from tests.page.live_browser import MIC_PROBE
from tests.page.probe import install

pytestmark = [pytest.mark.browser, pytest.mark.offline_models, pytest.mark.timeout(600)]

GAMES = "How many games did maria play?"
GRIEVANCES = "Does maria have any open grievances?"
HOW_TO = "How do I turn on two-step verification?"  # a 15 s answer of numbered steps
NEXT = "What games does maria play?"
ANSWER_S = 120_000  # ms allowed for one answer: Whisper and Piper on 2 busy cores

# A microphone the test speaks into: `__mic.say(name)` plays a loaded clip into the stream the
# page's getUserMedia gets; silence otherwise (as a quiet room).
MIC = """
(() => {
  const mic = window.__mic = {clips: {}, ctx: null, dest: null, said: []};
  const ready = async () => {
    if (!mic.ctx) {
      mic.ctx = new AudioContext({sampleRate: 16000});
      mic.dest = mic.ctx.createMediaStreamDestination();
    }
    if (mic.ctx.state !== "running") await mic.ctx.resume();
    return mic.ctx;
  };
  mic.load = async (name, b64) => {
    const ctx = await ready();
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    mic.clips[name] = await ctx.decodeAudioData(bytes.buffer);
    return mic.clips[name].duration;
  };
  mic.say = async (name) => {
    const ctx = await ready();
    const source = ctx.createBufferSource();
    source.buffer = mic.clips[name];
    source.connect(mic.dest);
    const at = performance.timeOrigin + performance.now();
    mic.said.push({name, at, ends: at + source.buffer.duration * 1000});
    source.start();
    return at;
  };
  // Every 10 ms the answer was heard while the tab said it was only listening.
  window.__mislabelled = 0;
  setInterval(() => {
    const live = window.voicedeskLive, probe = window.__probe;
    if (live && probe && probe.sound && live.state === "listening") window.__mislabelled += 1;
  }, 10);
  // Sounds the answer player started while the tab said it was looking up: the tools' cue.
  window.__cues = 0;
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (...args) {
    if (this.context.sampleRate === 24000 && window.voicedeskLive?.state === "looking_up") {
      window.__cues += 1;
    }
    return start.apply(this, args);
  };
  navigator.mediaDevices.getUserMedia = async () => {
    await ready();
    return new MediaStream(mic.dest.stream.getAudioTracks().map((track) => track.clone()));
  };
})();
"""


@pytest.fixture(scope="module")
def voices():
    """The four questions, voiced by Piper (16 kHz WAV), cached between runs."""
    from tests.localspeech.conftest import require_models
    from tests.localspeech.fixtures import SpokenCase, Synthesiser

    require_models()
    synthesiser = Synthesiser(Path(tempfile.gettempdir()) / "voicedesk-offline-voices")
    return {
        text: synthesiser.wav(SpokenCase(Case(f"live-{n}", text, None, [], None), "piper", None))
        for n, text in enumerate((GAMES, GRIEVANCES, HOW_TO, NEXT))
    }


@pytest.fixture
def server(tmp_path):
    require_browser()
    served = PageServer(
        tmp_path,
        {
            "VOICEDESK_PROVIDER": "offline",  # no keys: the local engine, live too
            "VOICEDESK_DATA_DIR": str(tmp_path / "data"),
            "VOICEDESK_CUSTOMER": "maria",
            "HF_HUB_OFFLINE": "1",
        },
        script=ROOT / "serve.py",  # LIVE's own opener: page.live_relay:open_with_factory
    )
    try:
        served.wait_ready(60)
        yield served
    finally:
        served.stop()


def shoot(page, name: str) -> None:
    page.screenshot(path=screenshots_dir() / f"live-offline-{name}.png")


def wait_state(page, state: str, timeout_ms: int = ANSWER_S) -> None:
    """Until the tab has been in `state` since `mark_states` (a short state is not missed)."""
    page.wait_for_function(
        "(s) => window.voicedeskLive.stats.states.slice(window.__mark || 0).includes(s)",
        arg=state, timeout=timeout_ms, polling=10,
    )  # fmt: skip


def mark_states(page) -> None:
    page.evaluate("() => { window.__mark = window.voicedeskLive.stats.states.length; }")


def say(page, question: str) -> float:
    mark_states(page)
    return page.evaluate("(name) => window.__mic.say(name)", question)


def messages(page) -> list[str]:
    return page.locator('[data-testid="stChatMessage"]').all_inner_texts()


def answered(page, exchanges: int) -> list[str]:
    """Until the conversation shows `exchanges` question-and-answer pairs; their texts."""
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= n",
        arg=2 * exchanges, timeout=ANSWER_S,
    )  # fmt: skip
    settle(page)
    return messages(page)


def heard_after(page, wall: float, timeout_ms: int = ANSWER_S) -> None:
    """Until the answer's audio reached the speakers after `wall` (the probe, not the page)."""
    page.wait_for_function(
        "(at) => window.__probe.lastSound !== null && window.__probe.lastSound > at",
        arg=wall, timeout=timeout_ms, polling=10,
    )  # fmt: skip


def assert_exchange(texts: list[str], n: int) -> None:
    """Exchange `n` (from 0) in the conversation: the question heard (words, not the
    placeholder) and an answer in words (each message opens with its avatar's icon name)."""
    question, answer = (texts[2 * n + k].split("\n\n", 1)[-1] for k in (0, 1))
    assert question.strip() and "no transcript" not in question, f"question {n + 1} not heard"
    words = answer.split("Behind the answer")[0].strip()
    assert len(words) > 10, f"answer {n + 1} has no words: {answer!r}"


def tools_in_trace(page, n: int) -> str:
    """Open answer `n`'s "Behind the answer" panel: the tool calls it shows, as
    `get_player_summary(user_name="maria")`."""
    answer = page.locator('[data-testid="stChatMessage"]').nth(2 * n + 1)
    answer.get_by_text("Behind the answer").click()
    call = answer.get_by_text(re.compile(r"^[a-z]+(_[a-z]+)+\(.*\)$")).first
    call.wait_for(timeout=30_000)
    settle(page)
    return call.inner_text()


def test_live_with_the_local_engine_answers_two_questions_and_stops_when_talked_over(
    server, voices
):
    from playwright.sync_api import expect, sync_playwright

    began = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            install(page)
            page.add_init_script(MIC_PROBE)
            page.add_init_script(MIC)
            page.goto(server.url)
            start = page.get_by_role("button", name="Start live")
            expect(start).to_be_visible(timeout=60_000)
            settle(page)
            for text, wav in voices.items():
                seconds = page.evaluate(
                    "([n, b]) => window.__mic.load(n, b)", [text, base64.b64encode(wav).decode()]
                )
                assert seconds > 1.0, "a question was not voiced"

            # The session opens (the first one starts the local realtime server and its models).
            start.click()
            wait_state(page, "listening", timeout_ms=180_000)
            shoot(page, "1-listening")

            # Two questions, the second once the first is answered: both heard and answered.
            spoke = say(page, GAMES)
            wait_state(page, "hearing")
            shoot(page, "2-hearing-you")
            wait_state(page, "looking_up")
            shoot(page, "3-looking-up")
            wait_state(page, "speaking")
            heard_after(page, spoke)
            page.wait_for_function(  # the answer is heard, and the tab says so
                "() => window.__probe.sound && window.voicedeskLive.state === 'speaking'",
                timeout=10_000, polling=10,
            )  # fmt: skip
            shoot(page, "4-speaking")
            assert page.evaluate("() => window.__cues") > 0, "no cue while it looked up"
            assert_exchange(answered(page, 1), 0)
            wait_state(page, "listening")

            spoke = say(page, GRIEVANCES)
            heard_after(page, spoke + 500)
            texts = answered(page, 2)
            assert_exchange(texts, 0)
            assert_exchange(texts, 1)
            # The answers arrive faster than they play: the tab said "Speaking" until they were
            # over (a few ms of the speakers' own echo aside), never "Listening" over them.
            assert page.evaluate("() => window.__mislabelled") <= 3, "Listening while speaking"

            # A long answer; the next question is spoken while it plays.
            wait_state(page, "listening")
            say(page, HOW_TO)
            wait_state(page, "speaking")
            page.wait_for_function("() => window.__probe.sound", timeout=ANSWER_S, polling=5)
            page.wait_for_timeout(1000)  # well into the answer
            over = say(page, NEXT)
            page.wait_for_function(
                "() => window.voicedeskLive.stats.interrupted >= 1", timeout=30_000, polling=5
            )
            page.wait_for_function("() => !window.__probe.sound", timeout=5_000, polling=5)
            shoot(page, "5-interrupted")
            page.wait_for_timeout(400)
            probe = page.evaluate("() => window.__probe")
            assert not probe["sound"], "the answer went on playing after it was talked over"
            stopped = probe["lastSound"]
            live = page.evaluate("() => window.voicedeskLive.stats")
            assert live["played"] and 0 < live["played"][0]["ms"] < 12_000, live["played"]

            # The question spoken over it is answered, and heard.
            wait_state(page, "speaking")
            heard_after(page, stopped + 500)
            shoot(page, "6-next-answer")
            texts = answered(page, 4)
            assert_exchange(texts, 2)
            assert "…" in texts[5], "the answer talked over is not kept as stopped"
            assert_exchange(texts, 3)
            page.get_by_role("button", name="End live").click()
            page.wait_for_function("() => window.voicedeskLive.state === 'closed'")
            settle(page)
            # Each of the first two answers ran a tool, shown in its trace.
            calls = [tools_in_trace(page, n) for n in (0, 1)]
            shoot(page, "7-ended-trace")
            assert "Traceback" not in page.content()
        finally:
            browser.close()
    assert "Traceback" not in server.log()
    print(f"\nlive offline: barge-in {round(stopped - over)} ms after the speech began "
          f"(upper bound: the clip's own lead-in counts); tools {calls}; "
          f"{time.monotonic() - began:.0f} s")  # fmt: skip
