"""The spoken-question fixtures (questions.yaml) and how a routing decision is checked against one."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from localspeech.router import Decision
from tools.grievances import parse_ticket_key

QUESTIONS = Path(__file__).with_name("questions.yaml")


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    customer: str | None
    expect: Any  # list of {name, args, contains} or "clarify" / "unknown" / "chat"
    variant: str | None


@cache
def load_cases() -> tuple[Case, ...]:
    raw = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    return tuple(
        Case(r["id"], r["text"], r.get("customer"), r["expect"], r.get("variant")) for r in raw
    )


def tool_schemas() -> list[dict[str, Any]]:
    from tools import grievances, help_search, player_stats

    return [
        player_stats.make_tool(None).schema(),
        help_search.make_tool(None).schema(),
        *[t.schema() for t in grievances.make_tools(None)],
    ]


def mismatch(case: Case, decision: Decision) -> str | None:
    """None when the decision is exactly what the case expects, else what differs."""
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
