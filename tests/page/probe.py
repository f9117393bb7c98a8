"""What a person would hear from the page, read by a probe put in the page before it loads (not
the player's own report). Shared by the streaming browser test and the first-sound benchmark
(bench/first_sound.py).

The probe wraps Web Audio: it records every source started (wall-clock time, when it is due to
play, and whether its buffer holds sound), and taps every connection to the speakers with an
analyser polled every 2 ms, so "first sound" and "silent again" are what reached the output.
Only the answer's 24 kHz audio counts: st.audio_input uses Web Audio too. A whole answer plays
in an <audio> element instead: the probe notes its `playing` events (capture phase). It also
notes every pointerdown (capture phase, before the page's own handlers), so a barge-in is timed
from the press itself rather than from the test's click call.

`read` also gives the latest recording's upload (st.audio_input's request to
/_stcore/upload_file, from the page's resource timing).

Times are wall-clock milliseconds in the page (`performance.timeOrigin + performance.now()`);
`arm()` starts a new measurement: only what happens after it counts as the answer's sound.
"""

from __future__ import annotations

from typing import Any

SILENT = 1e-4  # peak level below which the speakers are silent
ANSWER_RATE = 24000  # the player's AudioContext (ANSWER_SAMPLE_RATE in assistant/models.py)
PROBE = """
(() => {
  const probe = window.__probe = {starts: [], taps: [], playing: [], lastSound: null,
                                  silentSince: null, sound: false, pointerDown: null};
  const wall = () => performance.timeOrigin + performance.now();
  performance.setResourceTimingBufferSize(100000);  // every upload of a long session
  probe.arm = () => {
    probe.armed = true; probe.armedAt = wall();
    probe.firstSound = undefined; probe.firstStart = undefined; probe.firstPlaying = undefined;
  };
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (when, ...rest) {
    let peak = 0;
    if (this.buffer) {
      const data = this.buffer.getChannelData(0);
      for (let i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i]));
    }
    const delay = Math.max(0, (when || 0) - this.context.currentTime);
    const entry = {wall: wall(), plays: wall() + delay * 1000, peak,
                   rate: this.context.sampleRate};
    probe.starts.push(entry);
    if (probe.armed && entry.rate === RATE && probe.firstStart === undefined) {
      probe.firstStart = entry;
    }
    return start.call(this, when, ...rest);
  };
  const connect = AudioNode.prototype.connect;
  AudioNode.prototype.connect = function (target, ...rest) {
    if (target instanceof AudioDestinationNode && !(this instanceof AnalyserNode)) {
      const tap = this.context.createAnalyser();
      tap.fftSize = 256;
      connect.call(this, tap);
      connect.call(tap, target);
      probe.taps.push(tap);
      return target;
    }
    return connect.call(this, target, ...rest);
  };
  const data = new Float32Array(256);
  setInterval(() => {
    let peak = 0;
    for (const tap of probe.taps) {
      if (tap.context.sampleRate !== RATE) continue;  // the microphone's own Web Audio
      tap.getFloatTimeDomainData(data);
      for (let i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i]));
    }
    probe.sound = peak > SILENT;
    if (probe.sound) {
      probe.lastSound = wall(); probe.silentSince = null;
      if (probe.firstSound === undefined && probe.armed) probe.firstSound = wall();
    } else if (probe.silentSince === null) {
      probe.silentSince = wall();  // the first look that found the speakers silent
    }
  }, 2);
  document.addEventListener("playing", (event) => {
    if (!(event.target instanceof HTMLMediaElement)) return;
    probe.playing.push({wall: wall(), armed: !!probe.armed});
    if (probe.armed && probe.firstPlaying === undefined) probe.firstPlaying = wall();
  }, true);
  window.addEventListener("pointerdown", () => { probe.pointerDown = wall(); }, true);
})();
""".replace("SILENT", repr(SILENT)).replace("RATE", str(ANSWER_RATE))
READ = """() => {
  const p = window.__probe;
  const uploads = performance.getEntriesByType("resource")
    .filter(e => e.name.includes("/_stcore/upload_file"));
  const up = uploads[uploads.length - 1];
  return {upload: up ? {start: performance.timeOrigin + up.startTime,
                        end: performance.timeOrigin + up.responseEnd} : null,firstSound: p.firstSound ?? null, firstPlaying: p.firstPlaying ?? null,
          firstStart: p.firstStart ?? null, sound: p.sound, lastSound: p.lastSound,
          silentSince: p.silentSince,
          pointerDown: p.pointerDown, armedAt: p.armedAt ?? null};
}"""
PAUSE_MEDIA = "() => document.querySelectorAll('audio, video').forEach(m => m.pause())"


def install(page: Any) -> None:
    """Put the probe in `page` before it loads (call before `page.goto`)."""
    page.add_init_script(PROBE)


def arm(page: Any) -> None:
    """From now on, sounds count as the answer's (the microphone is done)."""
    page.evaluate("() => window.__probe.arm()")


def read(page: Any) -> dict[str, Any]:
    return page.evaluate(READ)


def wall_ms(page: Any) -> float:
    return page.evaluate("() => performance.timeOrigin + performance.now()")


def wait_for_sound(page: Any, timeout_ms: int = 20_000) -> None:
    """Until the answer's Web Audio reaches the speakers."""
    page.wait_for_function("() => window.__probe.sound", timeout=timeout_ms)


def wait_for_answer_sound(page: Any, timeout_ms: int = 60_000) -> None:
    """Until the armed answer is heard, streamed (Web Audio) or whole (an <audio> playing)."""
    page.wait_for_function(
        "() => window.__probe.firstSound !== undefined"
        " || window.__probe.firstPlaying !== undefined",
        timeout=timeout_ms,
        polling=20,
    )


def silenced_after(page: Any, pressed_wall: float) -> float:
    """Milliseconds from `pressed_wall` to the last sound heard, once the speakers are silent
    for good (checked over the following 400 ms); 0 when no sound was heard after it. The probe
    looks every 2 ms when the page's main thread is free, so this is a lower bound; `read(page)
    ["silentSince"]`, the first look that found silence, is the upper one."""
    page.wait_for_function("() => !window.__probe.sound", timeout=5_000)
    page.wait_for_timeout(400)
    probe = read(page)
    if probe["sound"]:
        raise AssertionError("the answer went on playing after it was stopped")
    return max(0.0, probe["lastSound"] - pressed_wall)


def silence_everything(page: Any) -> None:
    """Between measured turns: stop whatever still plays (the harness's doing, not timed)."""
    page.evaluate(PAUSE_MEDIA)
    page.evaluate("() => window.voicedeskPlayer && window.voicedeskPlayer.stop()")
