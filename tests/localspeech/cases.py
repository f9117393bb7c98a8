"""The spoken-question fixtures (questions.yaml) and how a routing decision is checked against one."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from localspeech.router import Decision, route
from tools.grievances import parse_ticket_key

QUESTIONS = Path(__file__).with_name("questions.yaml")
# Never used for tuning: the router is measured on it before and after a change (issue 12).
HELDOUT = Path(__file__).with_name("heldout.yaml")
# The players of the demo data (ops/demo_data.py: its personas and supporting cast).
KNOWN_PLAYERS = (
    "maria", "dev", "sam", "priya.sharma", "jamie_carter", "lucas88", "amaka.eze",
    "rook_raider", "hannah.reid", "arjun_rao", "wanjiru.k",
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    customer: str | None
    expect: Any  # list of {name, args, contains} or "clarify" / "unknown" / "chat" / "repeat"
    variant: str | None
    previous: str | None = None  # the assistant's last answer, for "what did you just say?"


@cache
def load_cases(path: Path = QUESTIONS) -> tuple[Case, ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(
        Case(
            r["id"], r["text"], r.get("customer"), r["expect"], r.get("variant"), r.get("previous")
        )
        for r in raw
    )


def decide(case: Case, heard: str | None = None) -> Decision:
    """The router's decision on a case, from its text or from what was `heard` of it."""
    text = heard if heard is not None else case.text
    return route(text, _tools(), case.customer, players=KNOWN_PLAYERS, last_answer=case.previous)


@cache
def _tools() -> list[dict[str, Any]]:
    return tool_schemas()


def tool_schemas() -> list[dict[str, Any]]:
    from tools import grievances, help_search, player_stats

    return [
        player_stats.make_tool(None).schema(),
        help_search.make_tool(None).schema(),
        *[t.schema() for t in grievances.make_tools(None)],
    ]


def mismatch(case: Case, decision: Decision) -> str | None:
    """None when the decision is exactly what the case expects, else what differs."""
    if case.expect == "repeat":
        if (decision.kind, decision.say) != ("repeat", case.previous):
            return f"expected the last answer again, got {decision.kind}: {decision.say}"
        return None
    if isinstance(case.expect, str):
        if decision.kind != case.expect:
            return f"expected {case.expect}, got {decision.kind} {_calls(decision)}"
        return None
    if decision.kind != "tools":
        return f"expected tools, got {decision.kind}: {decision.say}"
    got = {c.name: c.arguments for c in decision.calls}
    wanted = {e["name"]: e for e in case.expect}
    if set(got) != set(wanted) or len(decision.calls) != len(case.expect):
        return f"expected {sorted(wanted)}, got {_calls(decision)}"
    for name, want in wanted.items():
        args = got[name]
        for key, value in (want.get("args") or {}).items():
            actual = args.get(key)
            if key.endswith("_id") and isinstance(actual, str):
                actual = parse_ticket_key(actual, "GRV")
            if actual != value:
                return f"{name}.{key}: expected {value!r}, got {args.get(key)!r}"
        for key, needed in (want.get("contains") or {}).items():
            text = str(args.get(key, "")).lower()
            absent = [w for w in needed if w.lower() not in text]
            if absent:
                return f"{name}.{key}={text!r} lacks {absent}"
        extra = set(args) - set(want.get("args") or {}) - set(want.get("contains") or {})
        if extra:
            return f"{name}: unexpected arguments {sorted(extra)}"
    return None


def _calls(decision: Decision) -> str:
    return "; ".join(f"{c.name}({c.arguments})" for c in decision.calls)
