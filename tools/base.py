"""What every tool is made of: typed arguments, a handler, a one-line summary of its result."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class ToolResult:
    """The JSON a `tool` message carries back to the model. Errors are data, never raised."""

    ok: bool
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def success(cls, summary: str, **data: Any) -> ToolResult:
        return cls(ok=True, summary=summary, data=data)

    @classmethod
    def failure(cls, summary: str, error: str) -> ToolResult:
        return cls(ok=False, summary=summary, error=error)

    def as_dict(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, "summary": self.summary, "data": self.data}
        return {"ok": False, "summary": self.summary, "error": self.error or self.summary}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class ToolContext:
    """Who a call is made for, handed to every call by the engine. The registry is shared by
    every session of the process, so this travels with the call, never in a global."""

    agent: str | None = None  # the signed-in staff member (named on the grievances they file)


NO_CONTEXT = ToolContext()


class ToolUnavailable(Exception):
    """A backend cannot serve right now. Its message is one plain sentence for the user."""


def unavailable(exc: ToolUnavailable) -> ToolResult:
    """The one answer for a backend that cannot serve: its sentence, code backend_unavailable."""
    return ToolResult.failure(str(exc), error="backend_unavailable")


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each secret replaced by "[secret]": servers and proxies may echo credentials
    back in error details, and those details reach the model, the answer and the logs."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "[secret]")
    return text


@dataclass(frozen=True)
class Tool:
    """One tool the model may call.

    `run` receives validated arguments and the call's ToolContext and returns a ToolResult; a
    backend that cannot serve may raise ToolUnavailable, which `call` answers for every tool. `label` turns the
    arguments into the human name of the step shown while it runs ("Looking up maria's games").
    The rest is what the engine needs to keep the tool to the customer being helped: which
    argument names the player, whether a call changes something (the agent confirms it first),
    how many calls one question may make, and whose data a result is.
    """

    name: str
    description: str
    args_model: type[BaseModel]
    run: Callable[[Any, ToolContext], ToolResult]
    label: Callable[[Any], str]
    player_argument: str | None = None  # e.g. "user_name": the call is about that player
    acts: bool = False  # it changes something (files a ticket): drafted for the agent to confirm
    per_question: int | None = None  # at most this many calls per question
    owner: Callable[[ToolResult], str | None] | None = None  # the player a result belongs to
    # What is true when the registry stops waiting: the call goes on in its thread, so a tool
    # that changes something says what becomes of it. None: "<name> did not answer in N s".
    timeout_sentence: str | None = None
    # The system behind the tool, for its lane (tools/lanes.py): "the help-centre search".
    service: str = "this tool"

    def call(self, args: Any, context: ToolContext = NO_CONTEXT) -> ToolResult:
        """Run the tool; a backend that cannot serve becomes its failure result, never raised."""
        try:
            return self.run(args, context)
        except ToolUnavailable as exc:
            return unavailable(exc)

    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as every API takes it (each voice mode wraps it in
        its own API's shape: assistant/chatcmpl.py for Chat Completions)."""
        params = self.args_model.model_json_schema()
        params.pop("title", None)
        for prop in params.get("properties", {}).values():
            prop.pop("title", None)
        return params

    def schema(self) -> dict[str, Any]:
        """The Chat Completions `tools[]` entry (the current tools API, not `functions`)."""
        return {
            "type": "function",
            "function": {
                "name": self.name, "description": self.description,
                "parameters": self.parameters(),
            },
        }  # fmt: skip
