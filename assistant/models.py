"""The values a turn produces: stages, tool calls, usage and the Reply itself."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal[
    "stage_start", "stage_end", "tool_start", "tool_end",  # what the trace shows as it happens
    "heard",  # data: the question's words, as soon as they are transcribed
    "text_delta",  # data: the next piece of the answer's text
    "audio_chunk",  # data: the next piece of the answer's audio, PCM16 mono 24 kHz (bytes)
]
ANSWER_SAMPLE_RATE = 24_000  # of every audio_chunk, whatever the voice mode


@dataclass(frozen=True)
class Event:
    """Reported while a turn runs, so a page can show each stage as it happens and play the
    answer as it arrives."""

    kind: EventKind
    stage: str  # "audio", "understand", "tool", "compose", "transcribe", "answer"
    label: str  # human words: "Checking the recording", "Looking up maria's games"
    ms: float | None = None  # set on *_end
    ok: bool = True
    data: str | bytes | None = None  # heard / text_delta: str; audio_chunk: bytes


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    ms: float


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    label: str
    arguments: dict[str, Any] | str  # the raw string when it was not valid JSON
    ok: bool
    summary: str
    result: dict[str, Any]
    ms: float
    round: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": self.arguments,
            "ok": self.ok,
            "summary": self.summary,
            "ms": round(self.ms, 1),
        }


ActionKind = Literal["grievance", "other_player", "other_ticket"]
# drafted/held: waiting for the agent; confirmed: running now; filed/queued/done: ran; failed:
# ran and did not work (the agent may confirm again); withdrawn: the agent said no.
ActionState = Literal[
    "drafted", "held", "confirmed", "filed", "queued", "done", "failed", "withdrawn"
]
WAITING: frozenset[str] = frozenset({"drafted", "held", "failed"})


@dataclass
class Action:
    """A tool call the model asked for that waits for the agent: a grievance to file, or a call
    about someone other than the customer being helped. Confirming runs `tool` with
    `arguments` exactly as shown (after the agent's edits)."""

    id: str
    kind: ActionKind
    tool: str
    arguments: dict[str, Any]
    state: ActionState
    reason: str  # one sentence for the agent: why it waits, or what came of it
    player: str | None = None  # whom the call is about
    duplicate_of: str | None = None  # an open ticket that may already cover it
    result: dict[str, Any] | None = None  # the tool's result once run
    # Held while the state changes, so an action runs once however often it is confirmed.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def waiting(self) -> bool:
        return self.state in WAITING

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.tool,
            "arguments": self.arguments,
            "state": self.state,
            "reason": self.reason,
            "player": self.player,
            "duplicate_of": self.duplicate_of,
        }


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_prompt_tokens: int = 0
    audio_completion_tokens: int = 0
    cost_usd: float = 0.0
    model_calls: int = 0
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's cache (cheaper)
    cached_audio_tokens: int = 0  # of cached_tokens, audio

    def as_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "audio_prompt_tokens": self.audio_prompt_tokens,
            "audio_completion_tokens": self.audio_completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cached_audio_tokens": self.cached_audio_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "model_calls": self.model_calls,
        }


@dataclass
class Reply:
    """A finished turn: what the assistant said, its audio, and how it got there."""

    input_transcript: str | None
    transcript: str
    audio_wav: bytes
    audio_id: str | None
    expires_at: int | None
    tool_calls: list[ToolCall]
    stages: list[Stage]
    usage: Usage
    provider: str
    model: str
    customer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)  # calls waiting for the agent

    @property
    def timings_ms(self) -> dict[str, float]:
        timings: dict[str, float] = {}
        for stage in self.stages:
            timings[stage.name] = round(timings.get(stage.name, 0.0) + stage.ms, 1)
        return timings

    def as_json(self, audio_file: str | None = None) -> dict[str, Any]:
        return {
            "input_transcript": self.input_transcript,
            "tool_calls": [call.as_json() for call in self.tool_calls],
            "transcript": self.transcript,
            "audio_file": audio_file,
            "audio_id": self.audio_id,
            "timings_ms": self.timings_ms,
            "usage": self.usage.as_json(),
            "provider": self.provider,
            "model": self.model,
            "customer": self.customer,
            "delivery": self.extra.get("delivery"),  # "streamed" or "whole"
            "actions": [action.as_json() for action in self.actions],
        }
