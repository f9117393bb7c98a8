"""Spoken answers from tool results: short enough to listen to, grounded on what the tools said.

Each tool result is the `{"ok", "summary", "data" | "error"}` JSON of a `tool` message. The
summary is already one plain line; the answer says the fact the question asked for where the
data holds it (a total, one game, the last game, the entry fees, a how-to's steps), a help
passage speaks better than its title, and a ticket gets its next step. Everything else falls
back to the summary. The details stay on screen, in the trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import partial
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


def answer(outcomes: list[ToolOutcome], question: str = "", limit: int = ANSWER_WORDS) -> str:
    """One short spoken paragraph for all the results of a turn, in the order they were asked;
    `question` is the user's words, which say what the answer must lead with."""
    if not outcomes:
        return "I have nothing to report yet."
    budget = max(16, limit // len(outcomes))
    parts = [trim_words(_one(outcome, question.lower()), budget) for outcome in outcomes]
    return " ".join(p for p in parts if p)


def _one(outcome: ToolOutcome, question: str) -> str:
    result = outcome.result
    summary = _clean(str(result.get("summary") or ""))
    if not result.get("ok", True):
        return summary or "That did not work, and I could not find out why."
    data = result.get("data") or {}
    if outcome.name == "get_player_summary" and isinstance(data, dict) and data.get("games"):
        return stats_answer(data, question) or summary
    passages = data.get("passages") if isinstance(data, dict) else None
    if passages:
        if HOW_TO.search(question):
            steps = spoken_steps(str(passages[0].get("text") or ""))
            if steps:
                return steps
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


# ---- a player's figures: the fact asked for ----------------------------------------------

GAME_WORDS = {  # the platform's games, as people say them
    "chess": "chess", "poker": "poker", "ludo": "ludo", "rummy": "rummy", "carrom": "carrom",
    "snakes and ladders": "snakes_and_ladders", "snakes & ladders": "snakes_and_ladders",
}  # fmt: skip
PERIOD = re.compile(
    r"\b(?:last|this|past|previous)\s+(?:week|month|year|weekend|few days|\d+ days)\b"
    r"|\b(?:yesterday|today|recently|lately|in (?:january|february|march|april|may|june|july"
    r"|august|september|october|november|december))\b"
)
LAST_PLAYED = re.compile(
    r"\blast (?:play|played|game|time|match)|\bwhen did\b.*\bplay|\bmost recent|\blatest game"
)
FEES = re.compile(r"\bentry fees?\b|\bfees?\b|\bstakes?\b|\bspen[dt]\b|\bpaid\b|\bpay\b")
POINTS = re.compile(r"\bpoints?\b")
WON = re.compile(r"\bwon\b|\bwin(?:nings|s)?\b|\bcash\b|\bearn(?:ed|ings)?\b|\bprize")
HOW_TO = re.compile(
    r"\bhow (?:do|can|should|would) (?:i|you|we|they|he|she)\b|\bhow to\b|\bsteps?\b"
    r"|\bwhat (?:do|should) (?:i|they|he|she) do\b|\bturn (?:on|off)\b|\bset up\b"
)
STEP = re.compile(r"^(\d+)\.\s*$|^(\d+)\.\s+(.*)$")


def stats_answer(data: dict[str, Any], question: str) -> str:
    """The figure asked for, summed over the games it covers, in one or two sentences."""
    name = str(data.get("display_name") or data.get("user_name") or "The player")
    games = [g for g in data.get("games") or [] if isinstance(g, dict)]
    asked_game = next((g for word, g in GAME_WORDS.items() if re.search(rf"\b{word}\b", question)),
                      None)  # fmt: skip
    if asked_game:
        games = [g for g in games if g.get("game") == asked_game]
        if not games:
            played = _and([str(g.get("game", "")).replace("_", " ") for g in data["games"]])
            return f"{name} hasn't played {asked_game.replace('_', ' ')}, only {played}."
    caveat = "I only have all-time totals. " if PERIOD.search(question) else ""
    where = f" at {asked_game.replace('_', ' ')}" if asked_game else ""
    if LAST_PLAYED.search(question):
        last = max(games, key=lambda g: str(g.get("last_played") or ""))
        when = _day(str(last.get("last_played") or ""))
        return f"{caveat}{name} last played {last.get('game', '').replace('_', ' ')} on {when}."
    total = partial(_total, games)
    if FEES.search(question):
        return f"{caveat}{name} has paid ${total('entry_fees'):,.2f} in entry fees{where}."
    if POINTS.search(question):
        return f"{caveat}{name} has earned {int(total('points_earned')):,} points{where}."
    if WON.search(question) and not re.search(r"\bgames? (?:has|have|did) \w+ won", question):
        return f"{caveat}{name} has won ${total('cash_won'):,.2f}{where}."
    count = int(total("games_played"))
    noun = "game" if count == 1 else "games"
    if asked_game or len(games) == 1:
        game = str(games[0].get("game", "")).replace("_", " ")
        return f"{caveat}{name} has played {count} {game} {noun}."
    each = _and([f"{int(g.get('games_played') or 0)} {str(g.get('game')).replace('_', ' ')}"
                 for g in games])  # fmt: skip
    return f"{caveat}{name} has played {count} {noun} in all: {each}."


def _total(games: list[dict[str, Any]], field: str) -> float:
    return sum(float(g.get(field) or 0) for g in games)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _day(stamp: str) -> str:
    """'2026-10-26T19:40:12' -> '26 October 2026', as said aloud; else the text as it is."""
    try:
        day = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp or "a day I do not know"
    return f"{day.day} {day:%B %Y}"


def spoken_steps(text: str) -> str:
    """A how-to passage's numbered steps, each by its first sentence: 'Step 1: ... Step 2: ...'.
    Empty when the passage has no numbered steps (then its opening sentences are said)."""
    steps: list[tuple[str, str]] = []
    waiting: str | None = None  # a number on its own line: its text is the next line
    for line in (raw.strip() for raw in text.splitlines()):
        match = STEP.match(line)
        if match and match.group(1):
            waiting = match.group(1)
        elif match:
            steps.append((match.group(2), match.group(3)))
            waiting = None
        elif waiting and line:
            steps.append((waiting, line))
            waiting = None
    if len(steps) < 2:
        return ""
    said = [f"Step {n}: {_SENTENCE_END.split(_clean(words))[0].rstrip('.')}." for n, words in steps]
    return " ".join(said)


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
