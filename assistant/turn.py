"""One spoken turn: recording in, tools run, spoken answer out. No Streamlit here."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
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
from assistant.errors import TurnError, from_openai, log_summary
from assistant.history import Conversation
from assistant.model_reply import MAX_TEXT_CHARS, ModelMessage, read_message
from assistant.models import Action, Event, Reply, Stage, ToolCall, Usage
from assistant.pricing import cost_usd
from tools.base import NO_CONTEXT, ToolContext, ToolResult
from tools.registry import Dispatch, ToolRegistry

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 3  # then one last call with tool_choice="none": at most 4 model calls a turn
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
    stages: list[Stage] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    tools: ToolContext = NO_CONTEXT  # handed to every tool call of the turn

    def emit(self, event: Event) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a broken progress display must not break the turn
            log.exception("event sink failed")

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

    def __init__(self, settings: Settings, client: ModelClient, registry: ToolRegistry):
        self.settings = settings
        self.client = client
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
        state = _TurnState(on_event, Binding(customer, grants or Grants(), self.directory))
        state.tools = ToolContext(agent=agent)
        try:
            self.settings.check_voice(voice, self.settings.voicedesk_model)
        except ConfigError as exc:
            raise TurnError(str(exc), code="voice", retryable=False) from None
        recording = self._check_input(state, audio, text)
        transcript_future = self._start_transcription(recording) if recording else None
        messages = [
            {"role": "system", "content": self.system_prompt},
            *conversation.context_messages(customer),
            self._user_message(recording, text),
        ]
        message = self._converse(state, messages, voice, _ready_text(transcript_future))
        input_transcript = text if recording is None else self._await_transcript(transcript_future)
        reply = self._reply(state, message, input_transcript, customer)
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

    @staticmethod
    def _user_message(recording: Recording | None, text: str | None) -> dict[str, Any]:
        if recording is None:
            return {"role": "user", "content": text.strip() if text else ""}
        data = base64.b64encode(recording.wav).decode("ascii")
        return {
            "role": "user",
            "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}],
        }

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

    # -- the model conversation ------------------------------------------------------------------

    def _converse(
        self,
        state: _TurnState,
        messages: list[dict[str, Any]],
        voice: str,
        heard: Callable[[], str | None],
    ) -> ModelMessage:
        tools = self.registry.schemas()
        question = len(messages) - 1
        for round_no in range(MAX_TOOL_ROUNDS + 1):
            last = round_no == MAX_TOOL_ROUNDS
            words = heard() if round_no else None
            if words:  # after the first call, the question's words stand in for its audio
                messages[question] = {"role": "user", "content": words}
            name, label = (
                ("understand", "Understanding the question")
                if round_no == 0
                else ("compose", "Composing the spoken answer")
            )
            with state.stage(name, label):
                message = self._call_model(
                    state, messages, voice, tools, "none" if last else "auto"
                )
            calls = message.tool_calls
            if not calls:
                return message
            if last:  # the model asked for tools after being told not to: answer without them
                raise TurnError(
                    "The assistant could not settle on an answer; please ask again.",
                    code="tool_loop",
                )
            messages.append(message.echo())
            for call, dispatch in zip(calls, self._run_tools(state, calls, round_no), strict=True):
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": dispatch.result.to_json()}
                )
        raise AssertionError("unreachable")  # the last round always returns or raises

    def _call_model(
        self,
        state: _TurnState,
        messages: list[dict[str, Any]],
        voice: str,
        tools: list[dict[str, Any]],
        tool_choice: str,
    ) -> ModelMessage:
        try:
            response = self.client.api.chat.completions.create(
                model=self.client.model,
                modalities=["text", "audio"],
                audio={"voice": voice, "format": "wav"},
                tools=tools,
                tool_choice=tool_choice,
                messages=messages,
            )
        except openai.OpenAIError as exc:
            summary, with_traceback = log_summary(exc)  # never the body: it may quote the customer
            log.warning("model call failed: %s", summary, exc_info=with_traceback)
            raise from_openai(exc, self.client.provider, self.client.model) from None
        except (ValueError, RecursionError) as exc:  # a body the SDK could not parse (nesting)
            log.warning("model reply could not be parsed: %s", type(exc).__name__)
            raise from_openai(exc, self.client.provider, self.client.model) from None
        choices = getattr(response, "choices", None)
        first = choices[0] if isinstance(choices, list) and choices else None
        if getattr(first, "message", None) is None:
            log.warning("model reply had no choices: %r", type(response).__name__)
            raise from_openai(ValueError("no choices"), self.client.provider, self.client.model)
        self._add_usage(state.usage, getattr(response, "usage", None))
        return read_message(first.message)  # plain and bounded from here on

    @staticmethod
    def _add_usage(total: Usage, usage: Any) -> None:
        total.model_calls += 1
        if usage is None:
            return
        total.prompt_tokens += _count(usage, "prompt_tokens")
        total.completion_tokens += _count(usage, "completion_tokens")
        prompt_details = getattr(usage, "prompt_tokens_details", None)
        completion_details = getattr(usage, "completion_tokens_details", None)
        total.audio_prompt_tokens += _count(prompt_details, "audio_tokens")
        total.audio_completion_tokens += _count(completion_details, "audio_tokens")

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
        message: ModelMessage,
        input_transcript: str | None,
        customer: str | None,
    ) -> Reply:
        audio = message.audio
        extra: dict[str, Any] = {}
        if audio is not None:
            try:
                wav = base64.b64decode(audio.data, validate=True)
            except ValueError:
                raise TurnError(
                    "The spoken answer arrived damaged; please try again.", code="bad_audio"
                ) from None
            transcript, audio_id, expires_at = audio.transcript, audio.id, audio.expires_at
        elif message.content:
            # A reply in text only still answers the question; say that there is no speech.
            wav, transcript, audio_id, expires_at = b"", message.content, None, None
            extra["warning"] = "The model answered in text only, without speech."
        elif message.unreadable:
            raise TurnError(
                "The model sent an answer that could not be read; please try again.",
                code="unreadable_answer",
            )
        else:
            raise TurnError(
                "The model sent an empty answer; please try again.", code="empty_answer"
            )
        if message.cut:
            extra["warning"] = (
                f"The model's answer was cut to its first {MAX_TEXT_CHARS:,} characters."
            )
        state.usage.cost_usd = cost_usd(
            state.usage, self.client.price_model, self.settings.voicedesk_prices
        )
        return Reply(
            input_transcript=input_transcript,
            transcript=transcript,
            audio_wav=wav,
            audio_id=audio_id,
            expires_at=expires_at,
            tool_calls=state.tool_calls,
            stages=state.stages,
            usage=state.usage,
            provider=self.client.provider,
            model=self.client.model,
            customer=customer,
            extra=extra,
            actions=state.binding.actions,
        )


def _count(holder: Any, name: str) -> int:
    """A token count from the reply's usage, or 0 when it is missing or not a count."""
    value = getattr(holder, name, None)
    return value if type(value) is int and value >= 0 else 0


def _size(text: Any) -> str:
    return f"{len(text):,} characters" if isinstance(text, str) else f"a {type(text).__name__}"
