"""A live session over any realtime upstream: the person talks, the service's voice activity
detection ends each turn, answers stream back, and talking over an answer stops it.

What every voice mode shares stays in the engine (assistant/turn.py): each question gets the
engine's turn state, so tool calls run through the same registry, per-question limits, customer
binding and grievance drafts as typed and recorded questions, and every finished answer lands
in the same `Conversation`. The realtime wire format lives in assistant/live/wire.py; faults
read as assistant/live/faults.py says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from assistant.history import Conversation, Exchange
from assistant.live import faults, wire
from assistant.live.base import LIVE_SAMPLE_RATE, LiveEvent, Upstream, UpstreamClosed
from assistant.models import Reply, Stage
from assistant.modes.base import MAX_TOOL_ROUNDS
from assistant.pricing import cost_usd
from assistant.turn import TurnEngine
from wavcodec import wav_bytes

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[Upstream]]
BYTES_PER_MS = LIVE_SAMPLE_RATE * 2 // 1000
RECONNECT_DELAYS_S = (0.2, 1.0)  # a dropped connection is tried again twice, then given up
WATCH_EVERY_S = 0.25
CLOSE_WAIT_S = 5.0  # closing the upstream never waits longer than this


def _cue() -> bytes:
    """The audible cue while tools run: two soft, short chimes (PCM16 24 kHz, 0.35 s)."""
    rate = LIVE_SAMPLE_RATE
    t = np.arange(int(rate * 0.12)) / rate
    chime = 0.12 * np.sin(2 * math.pi * 880 * t) * np.hanning(len(t))
    gap = np.zeros(int(rate * 0.05))
    second = 0.12 * np.sin(2 * math.pi * 1175 * t) * np.hanning(len(t))
    samples = np.concatenate([chime, gap, second, gap])
    return np.clip(np.rint(samples * 32767), -32768, 32767).astype("<i2").tobytes()


TOOL_CUE = _cue()
STOPPED = "Stopped when you spoke; ask again to hear the rest."


@dataclass
class LiveOptions:
    """What a session is told by the factory: who answers and how it is priced and bounded."""

    provider: str  # "openai", "azure", "voicelive", "offline"
    model: str  # the live model or deployment
    price_model: str
    voice: str
    transcribe_model: str | None
    idle_s: float
    max_s: float
    customer: str | None = None
    agent: str | None = None
    words: faults.Words | None = None


@dataclass
class _Answer:
    """One question and its answer, while it runs."""

    turn: Any  # the engine's per-question state (assistant.turn._TurnState)
    input_item: str | None
    speech_start: float
    speech_end: float | None = None
    response_id: str | None = None
    in_progress: bool = False
    calls: dict[str, dict[str, str]] = field(default_factory=dict)
    rounds: int = 0
    pcm: bytearray = field(default_factory=bytearray)
    words: list[str] = field(default_factory=list)
    item_id: str | None = None  # the answer's audio item
    first_audio: float | None = None
    tools_running: bool = False
    tool_ms: float = 0.0
    tool_ms_before_sound: float = 0.0  # of tool_ms, the lookups done before the first sound


@dataclass
class _Playing:
    """The latest answer's audio as the person hears it, for the truncation point."""

    item_id: str
    started: float
    sent_ms: float = 0.0


class RealtimeSession:
    """A LiveSession (assistant/live/base.py) over any Upstream. Use `await start()` first."""

    def __init__(
        self,
        engine: TurnEngine,
        conversation: Conversation,
        connect: Connect,
        options: LiveOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.conversation = conversation
        self.options = options
        self.words = options.words or faults.words_for(options.provider, options.model)
        self._connect = connect
        self._clock = clock
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue()
        self._upstream: Upstream | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._answer: _Answer | None = None
        self._playing: _Playing | None = None
        self._played: dict[str, int] = {}  # item id -> ms the tab says it played
        self._heard: dict[str, str] = {}  # input item id -> the person's words
        self._exchanges: dict[str, Exchange] = {}  # input item id -> its exchange
        # The latest answer written in full, by its audio item, with its audio: it may still be
        # playing when the person talks over it (answers are written faster than they play).
        self._spoken: dict[str, tuple[Exchange, bytes]] = {}
        self._cut: tuple[str, Exchange, bytes] | None = None  # talked over: heard how much?
        self._tools = wire.tool_entries(engine.registry.tools.values())
        self._started = clock()
        self._last_speech = self._started
        self._closed = False
        self._reconnecting = False
        self.connections = 0  # how many times the upstream was (re)connected

    # -- the LiveSession protocol ------------------------------------------------------------

    async def start(self) -> None:
        """Connect and configure; a refused connection is an error and a closed event."""
        self._emit("state", "connecting")
        try:
            await self._open()
        except UpstreamClosed as exc:
            await self._end(exc.sentence, error=True)
            return
        except BaseException:  # cancelled (the tab went away) or broken: leave nothing open
            self._closed = True
            await self._close_upstream()
            raise
        self._emit("state", "listening")
        self._spawn(self._read())
        self._spawn(self._watch())

    async def send_audio(self, pcm16: bytes) -> None:
        if self._closed or self._reconnecting or self._upstream is None or not pcm16:
            return
        with contextlib.suppress(UpstreamClosed):  # the reader sees the drop and reconnects
            await self._upstream.send(wire.append_audio(pcm16))

    async def events(self) -> AsyncIterator[LiveEvent]:
        while True:
            event = await self._queue.get()
            yield event
            if event.kind == "closed":
                return

    async def played(self, item_id: str, audio_end_ms: int) -> None:
        if isinstance(item_id, str) and isinstance(audio_end_ms, int) and audio_end_ms >= 0:
            self._played[item_id] = audio_end_ms
            cut, self._cut = self._cut, None
            if cut is not None and cut[0] == item_id:
                _, exchange, pcm = cut
                heard = pcm[: audio_end_ms * BYTES_PER_MS]
                if len(heard) < len(pcm):  # stopped before its end: keep what was heard
                    _stopped(exchange.reply, heard)

    async def close(self) -> None:
        await self._end("closed")

    # -- connecting ----------------------------------------------------------------------------

    async def _open(self) -> None:
        upstream = await self._connect()
        self.connections += 1
        if self._closed:  # closed while connecting: this connection must not outlive it
            await asyncio.wait_for(upstream.close(), CLOSE_WAIT_S)
            raise UpstreamClosed("closed", retryable=False)
        self._upstream = upstream
        instructions = wire.instructions(
            self.engine.system_prompt, self.conversation.context_messages(self.options.customer)
        )
        await upstream.send(
            wire.session_update(
                instructions=instructions, tools=self._tools, voice=self.options.voice,
                transcribe_model=self.options.transcribe_model,
            )
        )  # fmt: skip

    async def _reconnect(self) -> bool:
        """After a drop: say so, and connect again with the conversation so far re-seeded."""
        self._reconnecting = True
        self._emit("error", faults.dropped(self.words))
        self._emit("state", "connecting")
        answer, self._answer = self._answer, None
        if answer is not None and _worth_keeping(answer):
            self._finish(answer, stopped=True)  # what was heard of it stays in the conversation
        self._playing = None
        await self._close_upstream()
        last: UpstreamClosed | None = None
        for delay in RECONNECT_DELAYS_S:
            await asyncio.sleep(delay)
            if self._closed:
                return False
            try:
                await self._open()
            except UpstreamClosed as exc:
                last = exc
                await self._close_upstream()  # connected, then lost while configuring
                if not exc.retryable:
                    break
                continue
            self._reconnecting = False
            self._emit("state", "listening")
            return True
        await self._end(last.sentence if last else faults.unreachable(self.words), error=True)
        return False

    # -- reading the upstream ------------------------------------------------------------------

    async def _read(self) -> None:
        while not self._closed:
            upstream = self._upstream
            if upstream is None:
                return
            try:
                event = await upstream.recv()
            except UpstreamClosed as exc:
                if self._closed:
                    return
                log.info("live upstream closed: retryable=%s", exc.retryable)
                if not exc.retryable:
                    await self._end(exc.sentence, error=True)
                    return
                if not await self._reconnect():
                    return
                continue
            try:
                await self._handle(event)
            except UpstreamClosed:
                continue  # a send failed: the next recv sees the drop
            except Exception:  # one odd event must not end the session
                log.exception("live event not handled: %s", _kind(event))

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = _kind(event)
        handler = _HANDLERS.get(kind)
        if handler is not None:
            await handler(self, event)

    async def _on_speech_started(self, event: dict[str, Any]) -> None:
        now = self._clock()
        self._last_speech = now
        answer = self._answer
        if answer is not None and (answer.in_progress or answer.tools_running):
            # Talking over the answer (or over the cue: the lookup finishes, but its answer
            # is not asked for).
            await self._barge_in(answer)
        elif self._is_playing(now):  # over an answer that has arrived but is still playing
            await self._barge_in(answer)
        item = event.get("item_id")
        self._answer = self._new_answer(item if isinstance(item, str) else None, now)
        self._emit("state", "hearing")

    async def _on_speech_stopped(self, event: dict[str, Any]) -> None:
        self._last_speech = self._clock()
        if self._answer is not None and self._answer.speech_end is None:
            self._answer.speech_end = self._clock()

    async def _on_heard_delta(self, event: dict[str, Any]) -> None:
        text = wire.text_of(event, "delta")
        if text:
            self._emit("heard_delta", text)

    async def _on_heard(self, event: dict[str, Any]) -> None:
        words = wire.text_of(event, "transcript").strip()
        item = event.get("item_id")
        if not words or not isinstance(item, str):
            return
        self._heard[item] = words
        exchange = self._exchanges.get(item)
        if exchange is not None:  # the answer finished before its question's words arrived
            exchange.user_text = words
            exchange.reply.input_transcript = words
        self._emit("heard", words)

    async def _on_response_created(self, event: dict[str, Any]) -> None:
        response = event.get("response") if isinstance(event.get("response"), dict) else {}
        if self._answer is None:  # a response the service started by itself
            self._answer = self._new_answer(None, self._clock())
        self._answer.response_id = (
            response.get("id") if isinstance(response.get("id"), str) else None
        )
        self._answer.in_progress = True

    def _current(self, response_id: Any) -> _Answer | None:
        """The answer in progress, if `response_id` is its response's (late events of a
        response cancelled by barge-in are dropped, not added to the next answer)."""
        answer = self._answer
        if answer is None or not answer.in_progress:
            return None
        if answer.response_id is not None and response_id != answer.response_id:
            return None
        return answer

    async def _on_audio(self, event: dict[str, Any]) -> None:
        answer = self._current(event.get("response_id"))
        pcm = wire.audio_of(event)
        if answer is None or pcm is None:
            if pcm is None:
                log.warning("an answer's audio chunk was not valid base64; dropped")
            return
        now = self._clock()
        item = event.get("item_id") if isinstance(event.get("item_id"), str) else None
        if answer.first_audio is None:
            answer.first_audio = now
            answer.tool_ms_before_sound = answer.tool_ms
            self._emit("state", "speaking")
        if item and (self._playing is None or self._playing.item_id != item):
            self._playing = _Playing(item, now)
        answer.item_id = item or answer.item_id
        answer.pcm += pcm
        if self._playing is not None:
            self._playing.sent_ms += len(pcm) / BYTES_PER_MS
        self._queue.put_nowait(LiveEvent("audio", audio=pcm, item_id=item))

    async def _on_answer_text(self, event: dict[str, Any]) -> None:
        text = wire.text_of(event, "delta")
        answer = self._current(event.get("response_id"))
        if answer is not None and text:
            answer.words.append(text)
            item = event.get("item_id")
            item = item if isinstance(item, str) else None
            self._queue.put_nowait(LiveEvent("answer_delta", text, item_id=item))

    async def _on_call(self, event: dict[str, Any]) -> None:
        answer = self._current(event.get("response_id"))
        call = {k: event.get(k) for k in ("call_id", "name", "arguments")}
        if answer is not None and all(isinstance(v, str) for v in call.values()):
            answer.calls.setdefault(call["call_id"], call)

    async def _on_response_done(self, event: dict[str, Any]) -> None:
        response = event.get("response") if isinstance(event.get("response"), dict) else {}
        answer = self._current(response.get("id"))
        if answer is None:
            return
        answer.in_progress = False
        wire.add_usage(answer.turn.usage, response)
        for call in wire.function_calls(response):
            answer.calls.setdefault(call["call_id"], call)
        status = response.get("status")
        if status == "completed" and answer.calls:
            calls, answer.calls = list(answer.calls.values()), {}
            if answer.rounds >= MAX_TOOL_ROUNDS:  # asked for tools after being told not to
                self._emit(
                    "error", "The assistant could not settle on an answer; please ask again."
                )
                self._answer = None
                self._emit("state", "listening")
                return
            answer.tools_running = True
            self._emit("state", "looking_up")
            self._queue.put_nowait(LiveEvent("audio", audio=TOOL_CUE))
            self._spawn(self._run_tools(answer, calls))
            return
        if status in ("failed", "incomplete") and not (answer.pcm or answer.words):
            log.info("live response ended %s without an answer", status)
            self._answer = None
            self._emit("state", "listening")
            return
        self._finish(answer, stopped=status == "cancelled")
        if self._answer is answer:
            self._answer = None
        self._emit("state", "listening")

    async def _on_error(self, event: dict[str, Any]) -> None:
        kind, code, _ = wire.error_fields(event)
        log.warning("live service error: type=%s code=%s", kind[:64], code[:64])
        sentence, final = faults.from_error_event(self.words, kind, code)
        if sentence is None:
            return
        if final:
            await self._end(sentence, error=True)
            return
        self._emit("error", sentence)

    # -- tools -----------------------------------------------------------------------------------

    async def _run_tools(self, answer: _Answer, calls: list[dict[str, str]]) -> None:
        """All of a response's calls through the engine's policy, in a worker thread; then every
        output, then one response.create (tools refused after the last allowed round)."""
        requests = [_request(call) for call in calls]
        started, began_on = self._clock(), self._upstream
        try:
            with answer.turn.stage("tool", "Looking it up"):
                outputs = await asyncio.to_thread(answer.turn.run_tools, requests, answer.rounds)
        finally:
            answer.tools_running = False
            answer.tool_ms += (self._clock() - started) * 1000
        answer.rounds += 1
        upstream = self._upstream
        if self._closed or upstream is None or upstream is not began_on:
            return  # reconnected meanwhile: the new connection never saw these calls
        try:
            for call, output in zip(calls, outputs, strict=True):
                await upstream.send(wire.function_output(call["call_id"], output))
            if self._answer is answer:  # not talked over meanwhile
                tools_allowed = answer.rounds < MAX_TOOL_ROUNDS
                await upstream.send(wire.response_create(tools_allowed=tools_allowed))
        except UpstreamClosed:
            pass  # the reader reconnects

    # -- barge-in ------------------------------------------------------------------------------

    def _is_playing(self, now: float) -> bool:
        playing = self._playing
        if playing is None:
            return False
        heard = self._played.get(playing.item_id)
        if heard is not None and heard >= playing.sent_ms:
            return False
        return (now - playing.started) * 1000 < playing.sent_ms

    def _heard_ms(self, now: float) -> int:
        """How much of the playing answer was heard: what the tab said, else the time it has
        been playing; never more than was sent."""
        playing = self._playing
        if playing is None:
            return 0
        reported = self._played.get(playing.item_id)
        heard = reported if reported is not None else (now - playing.started) * 1000
        return int(min(heard, playing.sent_ms))

    async def _barge_in(self, answer: _Answer | None) -> None:
        """The person spoke over the answer: stop it at once, then tell the service what was
        heard of it."""
        now = self._clock()
        playing = self._playing
        item = playing.item_id if playing else None
        if item is not None or (answer is not None and answer.in_progress):
            self._queue.put_nowait(LiveEvent("interrupted", item_id=item))
        heard_ms = self._heard_ms(now)
        upstream = self._upstream
        if upstream is not None:
            if answer is not None and answer.in_progress:
                await upstream.send(wire.cancel(answer.response_id))
            if item is not None:
                await upstream.send(wire.truncate(item, heard_ms))
        self._playing = None
        written = self._spoken.pop(item, None) if item is not None else None
        # Finished already, maybe still playing: the tab says how much it played (`played`).
        self._cut = (item, *written) if written is not None else None
        if answer is not None:
            answer.in_progress = False
            if _worth_keeping(answer):
                self._finish(answer, stopped=True, heard_ms=heard_ms)
            self._answer = None

    # -- finishing an answer -------------------------------------------------------------------

    def _new_answer(self, input_item: str | None, now: float) -> _Answer:
        turn = self.engine.new_turn(customer=self.options.customer, agent=self.options.agent)
        return _Answer(turn=turn, input_item=input_item, speech_start=now)

    def _finish(self, answer: _Answer, *, stopped: bool, heard_ms: int | None = None) -> Reply:
        now = self._clock()
        pcm = bytes(answer.pcm)
        said = "".join(answer.words).strip()
        if stopped:
            if heard_ms is not None:
                pcm = pcm[: heard_ms * BYTES_PER_MS]
            said = f"{said} …" if said else ""
        turn = answer.turn
        turn.usage.cost_usd = cost_usd(
            turn.usage, self.options.price_model, self.engine.settings.voicedesk_prices
        )
        spoke_at = answer.speech_end or answer.speech_start
        extra: dict[str, Any] = {"delivery": "streamed", "mode": "live"}
        if answer.first_audio is not None:
            extra["first_sound_s"] = round(max(0.0, answer.first_audio - spoke_at), 3)
        if stopped:
            extra["warning"] = STOPPED
        stages = [*self._stages(answer, now), *turn.stages]
        reply = Reply(
            input_transcript=self._heard.get(answer.input_item or ""),
            transcript=said,
            audio_wav=wav_bytes(pcm, LIVE_SAMPLE_RATE) if pcm else b"",
            audio_id=answer.item_id,
            expires_at=None,
            tool_calls=turn.tool_calls,
            stages=stages,
            usage=turn.usage,
            provider=self.options.provider,
            model=self.options.model,
            customer=self.options.customer,
            extra=extra,
            actions=turn.binding.actions,
        )
        exchange = self.conversation.add(reply.input_transcript, reply, spoken=True)
        if answer.input_item:
            self._exchanges[answer.input_item] = exchange
        self._spoken = {answer.item_id: (exchange, pcm)} if answer.item_id and not stopped else {}
        log.info(
            "live answer done provider=%s tools=%s ms=%s stopped=%s",
            reply.provider, [c.name for c in reply.tool_calls], reply.timings_ms, stopped,
        )  # fmt: skip
        self._queue.put_nowait(LiveEvent("answer_done", reply=reply, item_id=answer.item_id))
        return reply

    @staticmethod
    def _stages(answer: _Answer, now: float) -> list[Stage]:
        stages = []
        if answer.speech_end is not None:
            stages.append(Stage("hear", "Hearing the question",
                                (answer.speech_end - answer.speech_start) * 1000))  # fmt: skip
        # The stages follow one another (the page adds them up): the lookup is its own stage
        # ("tool"), so neither the wait for the first sound nor the rest of the answer holds it.
        begun = after = answer.speech_end or answer.speech_start
        if answer.first_audio is not None:
            waited = (answer.first_audio - begun) * 1000 - answer.tool_ms_before_sound
            stages.append(Stage("first_sound", "Until the answer was heard", max(0.0, waited)))
            after = answer.first_audio
        rest = (now - after) * 1000 - (answer.tool_ms - answer.tool_ms_before_sound)
        stages.append(Stage("answer", "Answering", max(0.0, rest)))
        return stages

    # -- lifecycle -------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Ends an idle session and one that has gone on too long (each bills by the minute)."""
        while not self._closed:
            await asyncio.sleep(WATCH_EVERY_S)
            now = self._clock()
            if now - self._started >= self.options.max_s:
                minutes = _minutes(self.options.max_s)
                await self._end(f"The live session reached its limit of {minutes}; "
                                "press Live to start again.")  # fmt: skip
                return
            answer = self._answer
            working = answer is not None and (answer.in_progress or answer.tools_running)
            busy = working or self._is_playing(now)
            if not busy and now - self._last_speech >= self.options.idle_s:
                minutes = _minutes(self.options.idle_s)
                await self._end(f"The live session ended after {minutes} without speech.")
                return

    async def _end(self, why: str, *, error: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if error:
            self._emit("error", why)
        self._emit("state", "closed")
        self._emit("closed", why)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        await self._close_upstream()

    async def _close_upstream(self) -> None:
        upstream, self._upstream = self._upstream, None
        if upstream is None:
            return
        try:
            await asyncio.wait_for(upstream.close(), CLOSE_WAIT_S)
        except Exception:  # closing must never fail the caller; the service times it out
            log.warning("closing the live upstream failed", exc_info=True)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    def _emit(self, kind: str, text: str = "") -> None:
        self._queue.put_nowait(LiveEvent(kind, text))  # type: ignore[arg-type]


_HANDLERS: dict[str, Callable[[RealtimeSession, dict[str, Any]], Awaitable[None]]] = {
    "input_audio_buffer.speech_started": RealtimeSession._on_speech_started,
    "input_audio_buffer.speech_stopped": RealtimeSession._on_speech_stopped,
    "conversation.item.input_audio_transcription.delta": RealtimeSession._on_heard_delta,
    "conversation.item.input_audio_transcription.completed": RealtimeSession._on_heard,
    "response.created": RealtimeSession._on_response_created,
    "response.output_audio.delta": RealtimeSession._on_audio,
    "response.output_audio_transcript.delta": RealtimeSession._on_answer_text,
    "response.output_text.delta": RealtimeSession._on_answer_text,
    "response.function_call_arguments.done": RealtimeSession._on_call,
    "response.done": RealtimeSession._on_response_done,
    "error": RealtimeSession._on_error,
}


def _worth_keeping(answer: _Answer) -> bool:
    """An answer cut short still lands in the conversation when anything came of it: words or
    audio the person heard, or tool calls (a drafted grievance must reach the agent)."""
    return bool(answer.pcm or answer.words or answer.tools_running or answer.turn.tool_calls)


def _kind(event: Any) -> str:
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) else ""


def _request(call: dict[str, str]) -> Any:
    """A realtime function call in the shape the engine's tool runner reads."""
    return SimpleNamespace(
        id=call["call_id"],
        function=SimpleNamespace(name=call["name"], arguments=call["arguments"]),
    )


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    return f"{seconds / 60:.0f} minutes"


def _log_failure(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        exc = task.exception()
        if exc is not None:
            log.error("live session task failed", exc_info=exc)


def _stopped(reply: Reply, heard: bytes) -> None:
    """An answer kept in the conversation whole, cut to what was heard of it."""
    reply.transcript = f"{reply.transcript} …" if reply.transcript else ""
    reply.audio_wav = wav_bytes(heard, LIVE_SAMPLE_RATE) if heard else b""
    reply.extra["warning"] = STOPPED
