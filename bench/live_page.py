"""Live mode in the page: the relay's own time per audio chunk, how many live sessions one
server process holds at once, and barge-in in real Chromium.

Relay: the live route (page/stream_route.py + page/live_relay.py) served by uvicorn in a child
process, with an echo session that answers every microphone frame (20 ms, real time) with a
40 ms audio chunk; N tabs (websockets clients in this process) stream at once. Per chunk: up
(the tab sent it -> the session had it) and down (the session emitted its answer -> the tab had
it), wall clocks of the same machine. Held: the most tabs at once with no chunk lost, none out
of order, and p95 within one frame (20 ms). The clients share 2 cores with the server, so the
figures at many tabs are pessimistic.

Barge-in: the page (serve.py's sockets, tests/page/live_serve.py) with the scripted session of
tests/page/live_script.py, a fake microphone speaking over the answers; from the first loud
microphone frame (less its 20 ms) to the speakers found silent by the probe (an upper bound).
Headline: the tab's own gate (the session here never confirms; the answer pauses and goes on).
In details: the server's `interrupted` alone (gate off), with a session that interrupts on the
first loud frame it receives; a real voice activity detector adds its own detection time there.

    python -m bench.live_page [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import percentile, rounded

FRAME_S = 0.02
FRAME_BYTES = 960  # 20 ms of PCM16 at 24 kHz
ANSWER_BYTES = 1920  # 40 ms
HEAD = struct.Struct("<Id")  # frame number, the tab's send time
ECHO = struct.Struct("<Iddd")  # frame number, sent, the session had it, the session emitted


# --- the server (child process) ---------------------------------------------------------------


class EchoSession:
    """A LiveSession answering each microphone frame with a stamped audio chunk."""

    def __init__(self) -> None:
        from assistant.live.base import LiveEvent

        self.queue: asyncio.Queue = asyncio.Queue()
        self.queue.put_nowait(LiveEvent("state", "listening"))

    async def send_audio(self, pcm16: bytes) -> None:
        from assistant.live.base import LiveEvent

        had = time.time()
        number, sent = HEAD.unpack_from(pcm16)
        stamp = ECHO.pack(number, sent, had, time.time())
        chunk = stamp + bytes(ANSWER_BYTES - len(stamp))
        self.queue.put_nowait(LiveEvent("audio", audio=chunk, item_id="bench"))

    async def events(self):
        while (event := await self.queue.get()) is not None:
            yield event

    async def played(self, item_id: str, audio_end_ms: int) -> None:
        pass

    async def close(self) -> None:
        self.queue.put_nowait(None)


async def open_echo(ticket) -> EchoSession:
    return EchoSession()


def serve(count: int) -> None:
    """Serve the live route on a free port with `count` tokens; print them, then run."""
    import socket

    import uvicorn
    from starlette.applications import Starlette

    from assistant.history import Conversation
    from page.live_relay import LiveDesk, LiveTicket
    from page.stream import StreamHub
    from page.stream_route import routes

    desk = LiveDesk(opener=open_echo)
    app = Starlette(routes=routes(StreamHub(), "", sign_in=lambda: False, live=desk))
    tokens = [
        desk.offer(LiveTicket(f"bench-{n}", None, Conversation(), None, None, None, lambda: None))
        for n in range(count)
    ]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    print(json.dumps({"port": port, "tokens": tokens}), flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error")


# --- the tabs (this process) ------------------------------------------------------------------


async def one_tab(port: int, token: str, seconds: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    frames = int(seconds / FRAME_S)
    up, down, numbers = [], [], []
    async with connect(f"ws://127.0.0.1:{port}/voicedesk/live",
                       origin=f"http://127.0.0.1:{port}", max_size=None) as ws:  # fmt: skip
        await ws.send(json.dumps({"type": "hello", "token": token}))
        while True:  # until the session is open
            said = json.loads(await asyncio.wait_for(ws.recv(), 20.0))
            if said.get("type") == "state" and said.get("text") != "connecting":
                break

        async def receive() -> None:
            async for message in ws:
                if isinstance(message, bytes):
                    got = time.time()
                    number, sent, had, emitted = ECHO.unpack_from(message)
                    up.append((had - sent) * 1000)
                    down.append((got - emitted) * 1000)
                    numbers.append(number)
                    if len(numbers) == frames:
                        return

        receiving = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        start = loop.time()
        for number in range(frames):  # real time, on an absolute schedule
            await asyncio.sleep(max(0.0, start + number * FRAME_S - loop.time()))
            frame = HEAD.pack(number, time.time())
            await ws.send(frame + bytes(FRAME_BYTES - len(frame)))
        try:
            await asyncio.wait_for(receiving, 5.0)
        except asyncio.TimeoutError:
            receiving.cancel()
    return {"up": up, "down": down, "sent": frames, "numbers": numbers}


def relay(tabs_list: list[int], seconds: float) -> dict[str, Any]:
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.live_page", "--serve", str(sum(tabs_list))],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        started = json.loads(child.stdout.readline())
        port, tokens = started["port"], started["tokens"]
        _wait_port(port)
        rounds = []
        for tabs in tabs_list:
            mine, tokens = tokens[:tabs], tokens[tabs:]
            results = asyncio.run(_all(port, mine, seconds))
            chunks = [ms for r in results for ms in r["up"] + r["down"]]
            lost = sum(r["sent"] - len(r["numbers"]) for r in results)
            ordered = all(r["numbers"] == sorted(r["numbers"]) for r in results)
            p95 = percentile(chunks, 95) if chunks else None
            rounds.append({
                "tabs": tabs, "chunks": len(chunks), "lost": lost, "in_order": ordered,
                "p95_ms": rounded(p95, 2), "up_p95_ms": rounded(_p95(results, "up"), 2),
                "down_p95_ms": rounded(_p95(results, "down"), 2),
            })  # fmt: skip
    finally:
        child.terminate()
        child.wait(10)
    held = [r["tabs"] for r in rounds
            if not r["lost"] and r["in_order"] and r["p95_ms"] is not None
            and r["p95_ms"] <= FRAME_S * 1000]  # fmt: skip
    return {
        "live_relay_ms_p95": rounds[0]["p95_ms"],
        "live_sessions_held": max(held) if held else 0,
        "rounds": rounds,
    }


async def _all(port: int, tokens: list[str], seconds: float) -> list[dict[str, Any]]:
    return await asyncio.gather(*(one_tab(port, token, seconds) for token in tokens))


def _p95(results: list[dict], key: str) -> float | None:
    values = [ms for r in results for ms in r[key]]
    return percentile(values, 95) if values else None


def _wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("the relay's server did not start")


# --- barge-in in Chromium ---------------------------------------------------------------------


def browser_unavailable() -> str | None:
    from tests.page.browser import missing

    return missing()


def barge_in(interruptions: int) -> dict[str, Any]:
    from tests.page.live_script import QUESTIONS

    # The tab's gate: a word over a long answer, again and again; the session never confirms.
    words = [(None, 2.0), (QUESTIONS[0], 1.8), *[("Wait.", 1.8)] * interruptions, (None, 6.0)]
    gate_pace = {"answer_s": [3.0 * interruptions + 4.0], "think_s": 0.8, "interrupts": False}
    gate = _browser_run(words, gate_pace, gate=True, expect=interruptions)
    # The server's interruption: each question spoken 1.5 s into the answer before it.
    chain = [(None, 2.0), *[(QUESTIONS[n % len(QUESTIONS)], 2.8) for n in range(interruptions)],
             (QUESTIONS[interruptions % len(QUESTIONS)], 6.0)]  # fmt: skip
    server_pace = {"answer_s": [4.0], "think_s": 0.8}
    server = _browser_run(chain, server_pace, gate=False, expect=interruptions)
    return {
        "live_barge_in_ms_p95": _p95_of(gate["barge_in_ms"]),
        "gate": gate,
        "server_interrupted": server,
        "server_interrupted_barge_in_ms_p95": _p95_of(server["barge_in_ms"]),
    }


def _browser_run(script, pace: dict, *, gate: bool, expect: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests.page.browser import settle
    from tests.page.live_browser import live_page, onsets, open_page, silent_after, wait_state
    from tests.page.live_script import logged
    from tests.page.probe import arm

    counter = "gated" if gate else "interrupted"
    with tempfile.TemporaryDirectory() as tmp, \
            live_page(Path(tmp), script, pace) as (server, microphone, log), \
            sync_playwright() as playwright:  # fmt: skip
        browser, page = open_page(playwright, server, microphone)
        try:
            start = page.get_by_role("button", name="Start live")
            start.wait_for(timeout=30_000)
            settle(page)
            page.evaluate(f"() => {{ window.voicedeskLive.gate.on = {str(gate).lower()}; }}")
            arm(page)
            start.click()
            wait_state(page, "speaking")
            page.wait_for_function(
                f"(n) => window.voicedeskLive.stats.{counter} >= n", arg=expect,
                timeout=int(len(script) * 8_000), polling=20,
            )  # fmt: skip
            page.wait_for_timeout(600)
            sends = page.evaluate("() => window.__micSends")
            silences = page.evaluate("() => window.__silences")
            first = page.evaluate("() => window.__probe.firstSound")
            live = page.evaluate("() => window.voicedeskLive.stats")
            page.get_by_role("button", name="End live").click()
            wait_state(page, "closed")
        finally:
            browser.close()
        lines = logged(log)
    if gate:
        starts = [t for t in onsets(sends) if t > first][:expect]
    else:
        from tests.page.live_browser import speech_onset

        starts = [speech_onset(lines, sends, turn) for turn in range(1, expect + 1)]
    measured = [silent_after(silences, t) for t in starts]
    result = {
        "barge_in_ms": [m for m in measured if m is not None],
        "stops": live[counter],
        "played_reports": sum("played" in line for line in lines),
    }
    if not gate:  # where the time went: the session heard the speech (its clock) after...
        heard = [line["wall"] * 1000 for line in lines if line.get("speech_start", 0) >= 1]
        result["session_heard_after_ms"] = [round(h - t, 1) for h, t in zip(heard, starts, strict=False)]
    return result


def _p95_of(values: list[float]) -> float | None:
    return rounded(percentile(values, 95), 1) if values else None


# --- the section ------------------------------------------------------------------------------


def run(quick: bool = False) -> dict[str, Any]:
    tabs = [1, 4] if quick else [1, 10, 25, 50]
    relayed = relay(tabs, 2.0 if quick else 5.0)
    result: dict[str, Any] = {
        "live_page_relay_ms_p95": relayed["live_relay_ms_p95"],
        "live_sessions_held": relayed["live_sessions_held"],
        "details": {"relay_rounds": relayed["rounds"]},
    }
    reason = browser_unavailable()
    if reason:
        result["live_barge_in_ms_p95"] = None
        result["details"]["live_barge_in_ms_p95_unavailable"] = reason
        return result
    barged = barge_in(2 if quick else 6)
    result["live_barge_in_ms_p95"] = barged.pop("live_barge_in_ms_p95")
    result["details"].update(barged)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the relay's child process
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
