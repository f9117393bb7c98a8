"""One spoken turn: recording in, tools run, spoken answer out. No Streamlit here."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import openai

from assistant import PROJECT_ROOT, actions
from assistant.audio import AudioError, Recording, normalise
from assistant.binding import Binding, Grants, PlayerDirectory, valid_customer
from assistant.client import ModelClient
from assistant.config import ConfigError, Settings
from assistant.errors import TurnError
from assistant.history import Conversation
from assistant.models import Action, Event, Reply, Stage, ToolCall, Usage
from assistant.modes.audio_chat import AudioChatMode
from assistant.modes.base import MAX_TOOL_ROUNDS, Answer, Question, VoiceMode
from assistant.pricing import cost_usd
from tools.base import NO_CONTEXT, ToolContext, ToolResult
from tools.registry import Dispatch, ToolRegistry

log = logging.getLogger(__name__)

__all__ = ["MAX_TOOL_ROUNDS", "MAX_TYPED_CHARS", "EventSink", "TurnEngine", "load_prompt"]
MAX_CALLS_PER_ROUND = 6  # a model asking for more is told no, per extra call
MAX_TYPED_CHARS = 2000
MAX_HEARD_CHARS = 10_000  # a transcript longer than 10 minutes of speech is not believed
TRANSCRIPT_WAIT_S = 10.0

EventSink = Callable[[Event], None]


def _ready_text(future: Future[str | None] | None) -> Callable[[], str | None]:
    """The transcript if it has already arrived, without ever waiting for it."""

    def text() -> str | None:
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result()

    return text


def load_prompt(name: str = "system") -> str:
    return (PROJECT_ROOT / "prompts" / f"{name}.md").read_text(encoding="utf-8").strip()


@dataclass
class _TurnState:
    """What one turn accumulates while it runs."""

    on_event: EventSink | None
    binding: Binding
    runner: Callable[[_TurnState, Sequence[Any], int], list[Dispatch]]
    stages: list[Stage] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    tools: ToolContext = NO_CONTEXT  # handed to every tool call of the turn

    # Events from other threads (the transcription), handed to the sink by the next `emit`: the
    # sink is only ever called on the thread that asked (a page draws from that thread alone).
    posted: queue.SimpleQueue[Event] = field(default_factory=queue.SimpleQueue)

    def emit(self, event: Event | None = None) -> None:
        """Hand `event` to the sink, after any event posted from another thread."""
        while True:
            try:
                self._deliver(self.posted.get_nowait())
            except queue.Empty:
                break
        if event is not None:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a broken progress display must not break the turn
            log.exception("event sink failed")

    def cancelled(self) -> bool:
        # The page's sink carries a threading.Event it sets when the person talks over the answer.
        cancel = getattr(self.on_event, "cancel", None)
        return bool(cancel is not None and cancel.is_set())

    def run_tools(self, calls: Sequence[Any], round_no: int) -> list[str]:
        """Run one round's calls; the JSON result each carries back to the model."""
        return [d.result.to_json() for d in self.runner(self, calls, round_no)]

    @contextmanager
    def stage(self, name: str, label: str) -> Iterator[None]:
        self.emit(Event("stage_start", name, label))
        started = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.stages.append(Stage(name, label, ms))
            self.emit(Event("stage_end", name, label, ms=ms, ok=ok))


class TurnEngine:
    """Long-lived (one per process): holds the model client and the tools; conversations are
    passed in, so one engine serves every session without sharing their state."""

    def __init__(
        self,
        settings: Settings,
        client: ModelClient,
        registry: ToolRegistry,
        mode: VoiceMode | None = None,
    ):
        self.settings = settings
        self.client = client
        self.mode: VoiceMode = mode or AudioChatMode(client)
        self.registry = registry
        self.system_prompt = load_prompt("system")
        self.directory = PlayerDirectory(registry)
        self._background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="transcribe")

    def ask(
        self,
        conversation: Conversation,
        *,
        audio: bytes | None = None,
        text: str | None = None,
        voice: str | None = None,
        customer: str | None = None,
        agent: str | None = None,
        on_event: EventSink | None = None,
        grants: Grants | None = None,
    ) -> Reply:
        """Answer one question (a recording or typed text). On success the exchange is added to
        `conversation`; on failure a TurnError is raised and the conversation is left as it was.
        Tool calls act for `customer` (see assistant/binding.py); `grants` is what the agent
        allowed beyond that for this question."""
        voice = voice or self.settings.voicedesk_voice
        try:
            customer = valid_customer(customer if customer is not None else conversation.customer)
        except ValueError as exc:
            raise TurnError(str(exc), code="customer", retryable=False) from None
        state = self.new_turn(customer=customer, agent=agent, grants=grants, on_event=on_event)
        try:
            self.settings.check_voice(voice, self.settings.voicedesk_model)
        except ConfigError as exc:
            raise TurnError(str(exc), code="voice", retryable=False) from None
        recording = self._check_input(state, audio, text)
        # A mode that hears the question itself (cascade) says what it heard in its Answer.
        hears = getattr(self.mode, "hears", False)
        transcript_future = self._start_transcription(recording) if recording and not hears else None
        if transcript_future is not None:  # the page shows the question as soon as it is heard
            transcript_future.add_done_callback(lambda done: _say_heard(state, done))
        question = Question(
            system=self.system_prompt,
            context=conversation.context_messages(customer),
            wav=recording.wav if recording else None,
            text=text,
            voice=voice,
            tools=list(self.registry.tools.values()),
            heard=_ready_text(transcript_future),
        )
        answer = self.mode.answer(question, state)
        state.emit()  # the question's words, if they were heard after the last event
        input_transcript = (
            text if recording is None else answer.heard or self._await_transcript(transcript_future)
        )
        reply = self._reply(state, answer, input_transcript, customer)
        conversation.add(
            input_transcript, reply, spoken=recording is not None,
            audio=recording.wav if recording else None,
        )  # fmt: skip
        if self.settings.voicedesk_keep_audio:
            self._keep_audio(recording, reply)
        log.info(
            "turn done provider=%s tools=%s ms=%s tokens=%s",
            reply.provider, [c.name for c in reply.tool_calls], reply.timings_ms,
            reply.usage.prompt_tokens + reply.usage.completion_tokens,
        )  # fmt: skip
        return reply

    def new_turn(
        self,
        *,
        customer: str | None,
        agent: str | None = None,
        grants: Grants | None = None,
        on_event: EventSink | None = None,
    ) -> _TurnState:
        """One question's state: its trace, usage, and `run_tools` with the per-question limits
        and the customer binding. `ask` uses it; so does a mode that runs its own loop (live)."""
        state = _TurnState(
            on_event, Binding(customer, grants or Grants(), self.directory), self._run_tools
        )
        state.tools = ToolContext(agent=agent)
        return state

    def _keep_audio(self, recording: Recording | None, reply: Reply) -> None:
        """Only when VOICEDESK_KEEP_AUDIO asks: recordings are otherwise kept in memory only."""
        folder = self.settings.voicedesk_data_dir / "audio"
        stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if recording is not None:
                (folder / f"{stamp}-question.wav").write_bytes(recording.wav)
            if reply.audio_wav:
                (folder / f"{stamp}-answer.wav").write_bytes(reply.audio_wav)
        except OSError:
            log.warning("could not keep the audio in %s", folder, exc_info=True)

    # -- input ---------------------------------------------------------------------------------

    def _check_input(
        self, state: _TurnState, audio: bytes | None, text: str | None
    ) -> Recording | None:
        if audio is None:
            if not text or not text.strip():
                raise TurnError(
                    "Please record or type a question first.", code="empty", retryable=False
                )
            if len(text) > MAX_TYPED_CHARS:
                raise TurnError(
                    f"That question is too long; please keep it under {MAX_TYPED_CHARS:,} characters.",
                    code="too_long", retryable=False,
                )  # fmt: skip
            return None
        with state.stage("audio", "Checking the recording"):
            try:
                return normalise(audio, max_seconds=self.settings.voicedesk_max_seconds)
            except AudioError as exc:
                raise TurnError(exc.sentence, code=f"audio_{exc.code}", retryable=False) from None

    def _start_transcription(self, recording: Recording) -> Future[str | None] | None:
        """Transcribe the user's words for the history, concurrently with the first model call."""
        model = self.client.transcribe_model
        if not model:
            return None

        def transcribe() -> str | None:
            try:
                result = self.client.api.audio.transcriptions.create(
                    model=model, file=("question.wav", recording.wav, "audio/wav")
                )
            except openai.OpenAIError as exc:
                log.warning("transcription failed: %s", type(exc).__name__)
                return None
            text = result if isinstance(result, str) else getattr(result, "text", None)
            if not isinstance(text, str) or len(text) > MAX_HEARD_CHARS:
                # Not a transcript of one question: kept nowhere, so never sent back either.
                log.warning("transcript not used: %s", _size(text))
                return None
            return text.strip() or None

        return self._background.submit(transcribe)

    @staticmethod
    def _await_transcript(future: Future[str | None] | None) -> str | None:
        if future is None:
            return None
        try:
            return future.result(timeout=TRANSCRIPT_WAIT_S)
        except Exception:  # the answer matters more than the history's copy of the question
            log.warning("transcript not ready in time")
            return None

    # -- tools -------------------------------------------------------------------------------------

    def _run_tools(self, state: _TurnState, calls: list[Any], round_no: int) -> list[Dispatch]:
        """Run a round's tool calls concurrently; every call gets a result, never an exception."""
        pending: list[tuple[Any, Future[Dispatch] | Dispatch]] = []
        for index, call in enumerate(calls):
            name, raw = call.function.name, call.function.arguments
            answered = self._refuse(name, raw, index) or self._prepare(state, name, raw)
            if isinstance(answered, Dispatch):
                pending.append((call, answered))
                continue
            label, future = self.registry.start(*answered, context=state.tools)
            state.emit(Event("tool_start", "tool", label))
            pending.append((call, future))
        results = []
        for call, job in pending:
            name, raw = call.function.name, call.function.arguments
            dispatch = job
            if not isinstance(job, Dispatch):
                dispatch = state.binding.after(
                    self.registry.tools[name], self.registry.wait(job, name, raw)
                )
            results.append(dispatch)
            state.tool_calls.append(
                ToolCall(
                    id=call.id, name=name, label=dispatch.label, arguments=dispatch.arguments,
                    ok=dispatch.result.ok, summary=dispatch.result.summary,
                    result=dispatch.result.as_dict(), ms=dispatch.ms, round=round_no,
                )
            )  # fmt: skip
            if not isinstance(job, Dispatch):
                state.emit(
                    Event("tool_end", "tool", dispatch.label, ms=dispatch.ms, ok=dispatch.result.ok)
                )
        return results

    def _prepare(self, state: _TurnState, name: str, raw: str | None) -> tuple[Any, Any] | Dispatch:
        """The validated call to run, or the Dispatch that answers it: invalid, or held by the
        customer binding (another player, a draft, a per-question limit)."""
        prepared = self.registry.prepare(name, raw)
        if isinstance(prepared, Dispatch):
            return prepared
        return state.binding.before(*prepared) or prepared

    @staticmethod
    def _refuse(name: str, raw: str | None, index: int) -> Dispatch | None:
        """Bound what one answer can make us do, whatever the model (or a hostile passage) asks."""
        if index >= MAX_CALLS_PER_ROUND:
            return Dispatch(name, raw or "", ToolResult.failure(
                f"Only {MAX_CALLS_PER_ROUND} tool calls are run per step; this one was skipped.",
                error="too_many_calls"), f"Skipped {name}", 0.0)  # fmt: skip
        return None

    # -- actions the agent confirms ----------------------------------------------------------------

    def confirm(
        self,
        conversation: Conversation,
        action_id: str,
        *,
        agent: str | None = None,
        edits: dict[str, Any] | None = None,
    ) -> Action:
        """Run a waiting action as the agent's own act (see assistant/actions.py)."""
        return actions.confirm(self.registry, conversation, action_id, agent=agent, edits=edits)

    # -- the answer ------------------------------------------------------------------------------

    def _reply(
        self,
        state: _TurnState,
        answer: Answer,
        input_transcript: str | None,
        customer: str | None,
    ) -> Reply:
        extra: dict[str, Any] = {**answer.extra, "delivery": answer.delivery}
        if answer.warning:
            extra["warning"] = answer.warning
        state.usage.cost_usd = (
            answer.cost_usd
            if answer.cost_usd is not None
            else cost_usd(state.usage, self.client.price_model, self.settings.voicedesk_prices)
        )
        return Reply(
            input_transcript=input_transcript,
            transcript=answer.transcript,
            audio_wav=answer.audio_wav,
            audio_id=answer.audio_id,
            expires_at=answer.expires_at,
            tool_calls=state.tool_calls,
            stages=state.stages,
            usage=state.usage,
            provider=self.mode.provider,
            model=self.mode.model,
            customer=customer,
            extra=extra,
            actions=state.binding.actions,
        )


def _say_heard(state: _TurnState, done: Future[str | None]) -> None:
    """A `heard` event with the question's words, posted from the transcription's thread."""
    if done.cancelled() or done.exception() is not None:
        return
    words = done.result()
    if isinstance(words, str) and words and len(words) <= MAX_HEARD_CHARS:
        state.posted.put(Event("heard", "transcribe", "Heard the question", data=words))


def _size(text: Any) -> str:
    return f"{len(text):,} characters" if isinstance(text, str) else f"a {type(text).__name__}"
