"""The stages of a turn as lines ("Understanding the question — 1.2 s"): built live from the
engine's events, or afterwards from a Reply, so both renderings look the same."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.models import Event, Reply
from page.markup import md_escape

RUNNING, DONE, FAILED = "running", "done", "failed"
ICONS = {
    RUNNING: ":material/progress_activity:",
    DONE: ":material/check:",
    FAILED: ":material/error:",
}


@dataclass
class Line:
    label: str
    kind: str  # "stage" or "tool"
    state: str = RUNNING
    ms: float | None = None

    def markdown(self) -> str:
        icon = ICONS[self.state]
        indent = "&emsp;" if self.kind == "tool" else ""
        label = md_escape(self.label)
        if self.state == RUNNING:
            return f"{indent}{icon} {label}…"
        took = f" — {seconds(self.ms)}" if self.ms is not None else ""
        failed = " (failed)" if self.state == FAILED else ""
        return f"{indent}{icon} {label}{failed}{took}"


class ProgressLog:
    """Lines of a running turn, updated by each Event as it arrives."""

    def __init__(self) -> None:
        self.lines: list[Line] = []

    def apply(self, event: Event) -> None:
        if not event.kind.startswith(("stage", "tool")):  # heard, text and audio: not stages
            return
        kind = "tool" if event.kind.startswith("tool") else "stage"
        if event.kind.endswith("_start"):
            self.lines.append(Line(event.label, kind))
            return
        line = self._running(event.label, kind)
        if line is None:  # an end without a start: show it anyway
            line = Line(event.label, kind)
            self.lines.append(line)
        line.state = DONE if event.ok else FAILED
        line.ms = event.ms

    def _running(self, label: str, kind: str) -> Line | None:
        for line in self.lines:
            if line.state == RUNNING and line.kind == kind and line.label == label:
                return line
        return None

    @property
    def current(self) -> str | None:
        """The label of the newest step still running, for the status header."""
        for line in reversed(self.lines):
            if line.state == RUNNING:
                return line.label
        return None

    def markdown(self) -> str:
        return "  \n".join(line.markdown() for line in self.lines)


MODEL_CALLS = ("understand", "compose", "think")  # audio_chat's model calls, the cascade's


def timeline(reply: Reply) -> list[Line]:
    """The finished turn's lines in the order they happened: each model call's stage, then the
    tools that call asked for (tool calls carry the number of the model call they followed)."""
    lines: list[Line] = []
    model_calls = -1
    for stage in reply.stages:
        lines.append(Line(stage.label, "stage", DONE, stage.ms))
        if stage.name in MODEL_CALLS:
            model_calls += 1
            for call in reply.tool_calls:
                if call.round == model_calls:
                    lines.append(Line(call.label, "tool", DONE if call.ok else FAILED, call.ms))
    return lines


def total_ms(reply: Reply) -> float:
    """Wall time of the turn: stages run one after another, tools run inside the gaps."""
    stages = sum(stage.ms for stage in reply.stages)
    rounds: dict[int, float] = {}
    for call in reply.tool_calls:
        rounds[call.round] = max(rounds.get(call.round, 0.0), call.ms)
    return stages + sum(rounds.values())


def seconds(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"
