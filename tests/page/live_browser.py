"""Live mode in real Chromium: the page server with its live relay (sessions opened by the
opener named in OPENER), a fake microphone saying a script, and probes of what the tab sent and
what a person would hear. Shared by tests/page/test_live_browser.py and bench/live_page.py."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

from tests.page.browser import ROOT, PageServer, launch_chromium, require_browser
from tests.page.helpers import question_wav
from tests.page.live_script import SPEECH_RMS
from tests.page.probe import install
from wavcodec import read_wav_pcm, wav_bytes

OPENER = "tests.page.live_script:open_scripted"  # the one thing to change for the real engine
FRAME_MS = 20.0  # the page's microphone frames
# What the tab sent on the live socket (wall time, level), and every moment the speakers fell
# silent (the last sound before it), read from the sound probe (tests/page/probe.py).
MIC_PROBE = """
(() => {
  const sends = window.__micSends = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (data instanceof ArrayBuffer && this.url.includes("/voicedesk/live")) {
      const s = new Int16Array(data);
      let sum = 0;
      for (let i = 0; i < s.length; i++) sum += s[i] * s[i];
      sends.push({wall: performance.timeOrigin + performance.now(),
                  rms: Math.sqrt(sum / Math.max(1, s.length))});
    }
    return send.call(this, data);
  };
  const falls = window.__silences = [];
  let was = false;
  setInterval(() => {
    const probe = window.__probe;
    if (!probe) return;
    if (was && !probe.sound) {  // the last sound heard, and when silence was first seen
      falls.push({last: probe.lastSound, seen: performance.timeOrigin + performance.now()});
    }
    was = probe.sound;
  }, 2);
})();
"""


def conversation_wav(script) -> bytes:
    rate, parts = 22050, []
    for question, silence_s in script:
        if question is not None:
            samples, rate = read_wav_pcm(question_wav(question))
            parts.append(samples)
        parts.append(np.zeros(int(rate * silence_s), dtype=np.float32))
    return wav_bytes(np.concatenate(parts), rate)


@contextlib.contextmanager
def live_page(workdir: Path, script, pace: dict, sessions: int = 1000, opener: str = OPENER):
    """The page server (live sessions opened by OPENER) and a fake microphone saying `script`."""
    require_browser()
    microphone = workdir / "conversation.wav"
    microphone.write_bytes(conversation_wav(script))
    log = workdir / "live.jsonl"
    server = PageServer(
        workdir,
        {
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # never called: the session is scripted
            "OPENAI_API_KEY": "sk-live-test",
            "VOICEDESK_DATA_DIR": str(workdir / "data"),
            "VOICEDESK_CUSTOMER": "maria",
            "VOICEDESK_TEST_LIVE_OPENER": opener,
            "VOICEDESK_TEST_LIVE_LOG": str(log),
            "VOICEDESK_TEST_LIVE_PACE": json.dumps(pace),
            "VOICEDESK_TEST_LIVE_SESSIONS": str(sessions),
        },
        script=ROOT / "tests" / "page" / "live_serve.py",
    )
    try:
        server.wait_ready()
        yield server, microphone, log
    finally:
        server.stop()


def open_page(playwright, server, microphone, viewport=(1366, 800)):
    browser = launch_chromium(playwright, microphone)
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    install(page)
    page.add_init_script(MIC_PROBE)
    page.goto(server.url)
    return browser, page


def wait_state(page, *states: str, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(
        "(states) => states.includes(window.voicedeskLive?.state)", arg=list(states),
        timeout=timeout_ms, polling=10,
    )  # fmt: skip


def speech_onset(lines: list[dict], sends: list[dict], turn: int) -> float:
    """When the tab sent the first loud frame of the question the session heard as `turn`: the
    server's log only says roughly where (another process's clock), the sends say exactly."""
    heard = next(line["wall"] * 1000 for line in lines if line.get("speech_start") == turn)
    return next(start for start in onsets(sends) if abs(start - heard) < 1000)


def onsets(sends: list[dict], quiet_frames: int = 15) -> list[float]:
    """When each stretch of speech the tab sent began: its first loud frame after at least
    `quiet_frames` quiet ones (a word's own stops are not a new start), less its length."""
    found, quiet = [], quiet_frames
    for send in sends:
        if send["rms"] > SPEECH_RMS:
            if quiet >= quiet_frames:
                found.append(send["wall"] - FRAME_MS)
            quiet = 0
        else:
            quiet += 1
    return found


def silent_after(silences: list[dict], onset: float) -> float | None:
    """Ms from `onset` until the speakers were next found silent (an upper bound: the last
    sound heard before it is at most a few ms earlier)."""
    later = [s["seen"] for s in silences if s["last"] is not None and s["last"] >= onset - 200]
    return round(later[0] - onset, 1) if later else None
