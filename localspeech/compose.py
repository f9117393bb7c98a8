"""Spoken answers from tool results: short enough to listen to, grounded on what the tools said.

Each tool result is the `{"ok", "summary", "data" | "error"}` JSON of a `tool` message. The
summary is already one plain line; a help passage speaks better than its title, and a ticket
gets its next step. Everything else falls back to the summary.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ANSWER_WORDS = 40  # about 13 seconds of speech
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_MARKDOWN = re.compile(r"\*\*|__|`|^#+\s*|^\s*(?:[-*]|\d+\.)\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")

NEXT_STEP = {
    "to do": "It is waiting for an agent to pick it up.",
    "in progress": "An agent is working on it.",
    "done": "It is closed.",
}


@dataclass(frozen=True)
class ToolOutcome:
    name: str
    arguments: dict[str, Any]
    content: str  # the tool message's content, normally the JSON of a ToolResult

    @property
    def result(self) -> dict[str, Any]:
        try:
            value = json.loads(self.content)
        except (TypeError, ValueError):
            return {"ok": True, "summary": str(self.content)}
        return value if isinstance(value, dict) else {"ok": True, "summary": str(value)}


def answer(outcomes: list[ToolOutcome], limit: int = ANSWER_WORDS) -> str:
    """One short spoken paragraph for all the results of a turn, in the order they were asked."""
    if not outcomes:
        return "I have nothing to report yet."
    budget = max(16, limit // len(outcomes))
    parts = [trim_words(_one(outcome), budget) for outcome in outcomes]
    return " ".join(p for p in parts if p)


def _one(outcome: ToolOutcome) -> str:
    result = outcome.result
    summary = _clean(str(result.get("summary") or ""))
    if not result.get("ok", True):
        return summary or "That did not work, and I could not find out why."
    data = result.get("data") or {}
    passages = data.get("passages") if isinstance(data, dict) else None
    if passages:
        return _passage(passages[0]) or summary
    ticket = data.get("ticket") if isinstance(data, dict) else None
    if isinstance(ticket, dict) and not ticket.get("queued"):
        step = NEXT_STEP.get(str(ticket.get("status_category", "")).lower())
        if step and outcome.name.startswith("register"):
            return f"{summary} Quote {ticket.get('key')} when you ask about it."
        if step:
            due = ticket.get("due_date")
            if due and step == NEXT_STEP["in progress"]:
                step = f"An agent is working on it; it is due by {due}."
            return _status_first(summary, step)
    return summary or "Done."


def _status_first(summary: str, step: str) -> str:
    """Status, then the next step, then the latest note (the part most often cut)."""
    head, sep, note = summary.partition("; latest note: ")
    head = head.rstrip(".") + "."
    if sep:
        return f"{head} {step} Latest note: {note}"
    return f"{head} {step}"


def _passage(passage: dict[str, Any]) -> str:
    caption = _clean(str(passage.get("caption") or ""))
    if caption:
        return caption
    text = _clean(str(passage.get("text") or ""))
    sentences = _SENTENCE_END.split(text)
    return " ".join(sentences[:2])


def _clean(text: str) -> str:
    text = _LINK.sub(r"\1", text)
    text = _MARKDOWN.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def trim_words(text: str, limit: int) -> str:
    """At most about `limit` words, cut at a sentence, else at a clause, never mid-list silently."""
    if len(text.split()) <= limit:
        return text
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if len(" ".join([*kept, sentence]).split()) > limit:
            break
        kept.append(sentence)
    if kept:
        return " ".join(kept)
    pieces = clauses(text)
    out = ""
    for clause in pieces:
        candidate = f"{out}, {clause}" if out else clause
        if len(candidate.split()) > limit - 2:
            break
        out = candidate
    if not out:
        out = " ".join(text.split()[: limit - 2])
    return out.rstrip(",;:.") + ", and more."


def clauses(text: str) -> list[str]:
    """Split at commas and semicolons outside brackets: '12 chess games (1,200 points), ...'."""
    clauses, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char in ",;" and depth == 0:
            clauses.append(text[start:i].strip())
            start = i + 1
    clauses.append(text[start:].strip())
    return [c for c in clauses if c]


def for_speech(text: str) -> str:
    """What the voice reads: 'GRV-12' as letters and a number, '$45.00' as dollars."""
    text = re.sub(
        r"\b([A-Z]{2,10})-(\d+)\b", lambda m: " ".join(m.group(1)) + " " + m.group(2), text
    )
    text = re.sub(r"\$(\d[\d,]*)\.00\b", r"\1 dollars", text)
    text = re.sub(r"\$(\d[\d,]*)\.(\d{2})\b", r"\1 dollars \2", text)
    text = re.sub(r"\$(\d[\d,]*)\b", r"\1 dollars", text)
    return text.replace("_", " ")
