"""What a voice mode is, and what the engine lends it for one question.

The engine (assistant/turn.py) keeps what every mode shares: checking the input, the tools with
their limits and the customer binding, the conversation, events and the trace. A mode speaks
one API: it turns a `Question` into events (text and audio as they arrive, stages) and ends in
an `Answer`, from which the engine makes the Reply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from assistant.models import Event, Usage

MAX_TOOL_ROUNDS = 3  # then one last call with tools refused: at most 4 model calls a turn
Delivery = Literal["streamed", "whole"]


class NeutralTool(Protocol):
    """A tool as any API sees it: a name, a description, a JSON schema of its arguments."""

    name: str
    description: str

    def parameters(self) -> dict[str, Any]: ...


class ToolCallRequest(Protocol):
    """A call the model asked for (model_reply.ToolRequest): `id`, `function.name`,
    `function.arguments` (the JSON text as sent)."""

    id: str
    function: Any


@dataclass(frozen=True)
class Question:
    """One question, checked, with what the mode needs to answer it."""

    system: str  # the instructions
    context: list[dict[str, Any]]  # the conversation so far, as role/content messages
    wav: bytes | None  # the recording (normalised WAV), or None for a typed question
    text: str | None  # the typed question
    voice: str
    tools: Sequence[NeutralTool]
    heard: Callable[[], str | None]  # the question's words if already transcribed; never waits


class Turn(Protocol):
    """What the engine lends a mode while it answers: the event sink, stages, usage, tools."""

    usage: Usage

    def emit(self, event: Event) -> None: ...

    def cancelled(self) -> bool:
        """The person stopped the answer (barge-in): stop generating it, keep what was said."""
        ...

    def stage(self, name: str, label: str) -> AbstractContextManager[None]: ...

    def run_tools(self, calls: Sequence[ToolCallRequest], round_no: int) -> list[str]:
        """Run one round's calls (bounded, bound to the customer); the JSON result of each."""
        ...


@dataclass(frozen=True)
class Answer:
    """The spoken answer a mode ends in."""

    transcript: str
    audio_wav: bytes  # b"" for an answer in text only
    delivery: Delivery
    audio_id: str | None = None
    expires_at: int | None = None
    warning: str | None = None  # one sentence for the agent (text only, cut)
    heard: str | None = None  # the question's words, when the mode heard them itself
    cost_usd: float | None = None  # the turn's cost, when the mode prices it (None: the engine)
    extra: dict[str, Any] = field(default_factory=dict)  # more for the trace (Reply.extra)


class VoiceMode(Protocol):
    name: str
    provider: str  # "openai", "azure", "offline"
    model: str

    def answer(self, question: Question, turn: Turn) -> Answer:
        """Answer, emitting text_delta/audio_chunk events as the answer arrives; raise
        TurnError (one sentence) when it cannot."""
        ...
