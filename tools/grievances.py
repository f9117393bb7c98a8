"""Grievance tickets: `register_grievance`, `get_grievance_status`, `list_grievances`."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Protocol

from pydantic import BaseModel, Field, field_validator

from tools.base import Tool, ToolContext, ToolResult
from tools.numbers import parse_spoken_number
from tools.player_stats import USER_NAME_PATTERN


class Category(str, Enum):
    wallet = "wallet"
    reward_points = "reward_points"
    gaming_experience = "gaming_experience"
    usage_history = "usage_history"
    other = "other"


# How each category reads to people: ticket summaries, the Jira summary, the page.
CATEGORY_LABELS = {
    Category.wallet: "Wallet",
    Category.reward_points: "Reward points",
    Category.gaming_experience: "Gaming experience",
    Category.usage_history: "Usage history",
    Category.other: "Other",
}


def category_label(category: str) -> str:
    """'reward_points' -> 'Reward points'; anything unknown reads as 'Other'."""
    return CATEGORY_LABELS.get(category, "Other")  # a str-valued Enum key matches its value


# The request around the customer's words, which a ticket's summary leaves out: fillers,
# "please file a complaint (for her)", "she says that". What, when and how much stay.
_FILLER = r"(?:um+|uh+|er+|erm|hmm+|ok(?:ay)?|so|well|right|hi|hello|yes|yeah|hey)\b[,.!]?"
_ASK_ONE = (
    r"(?:(?:can|could|would|will) you\s+|i(?:'d| would) like (?:you )?to\s+|"
    r"i (?:want|need) (?:you )?to\s+|let's\s+|please\s+)"
)
_ASK = rf"{_ASK_ONE}*"
_FILE = r"(?:file|register|raise|open|log|lodge|submit|make|create|put in|start)"
_TICKET = r"(?:a |an |the )?(?:new )?(?:formal )?(?:complaint|grievance|ticket|case|report)"
_FOR = r"(?:\s+(?:for|on behalf of|about|against)\s+(?:her|him|them|me|us|this (?:player|customer)|"
_FOR += r"the (?:player|customer)|[a-z0-9_.\-]+))?"
_REQUEST = rf"{_ASK}(?:{_FILE}\s+{_TICKET}{_FOR}|complain|report(?= (?:that|about|a|an|the)\b))"
_REPORTED = r"(?:(?:she|he|they|the (?:player|customer)|[a-z0-9_.\-]+) (?:says|said|tells me|told me))"
_LEAD = re.compile(
    rf"^\s*(?:{_FILLER}|{_REQUEST}|{_REPORTED}|{_ASK_ONE}+|because|that|about|saying|regarding|"
    r"[,.:;\-–—])\s*",
    re.IGNORECASE,
)
_TAIL = re.compile(
    rf"[\s,.;:\-–—]*(?:(?:and|so)\s+)?(?:{_REQUEST}|please|thanks|thank you)[\s.!?]*$", re.IGNORECASE
)
SUMMARY_CHARS = 80


def summary_line(description: str, width: int = SUMMARY_CHARS) -> str:
    """The customer's words as a ticket's one-line summary: 'please file a complaint, she was
    charged twice for a $5 rummy table yesterday' -> 'She was charged twice for a $5 rummy
    table yesterday'. The first sentence, without the request around it, cut at a word. The
    description keeps every word as said."""
    text = " ".join(description.split())
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    core = first
    for pattern in (_LEAD, _TAIL):
        while (stripped := pattern.sub("", core, count=1)) != core and stripped.strip():
            core = stripped
    if len(core.split()) < 2 and len(text.split()) > len(first.split()):  # only a request said
        return summary_line(text[len(first):], width)
    core = core.strip(" ,;:-–—").rstrip(".!?") or first.rstrip(".!?")
    core = core[:1].upper() + core[1:]
    if len(core) <= width:
        return core
    return core[: width - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


CATEGORY_HELP = (
    "wallet: money, deposits, withdrawals, payments, refunds, a double charge or a missing "
    "payout; reward_points: points, rewards, bonuses or vouchers not credited or expired; "
    "gaming_experience: crashes, lag, freezes, bugs, cheating or unfair play in a game; "
    "usage_history: wrong or missing game history, statistics or match records; "
    "other: anything else."
)


@dataclass(frozen=True)
class Ticket:
    key: str  # "GRV-12" (Jira-like), or "LOCAL-3f2a9c" while queued for Jira
    user_name: str
    category: str
    summary: str
    description: str
    status: str  # "Open", "In Progress", "Resolved", "Queued"
    status_category: str  # "To Do", "In Progress", "Done"
    priority: str
    created: str
    updated: str
    due_date: str | None = None
    latest_comment: str | None = None
    queued: bool = False  # True while waiting in the outbox for the ticket system

    def as_dict(self) -> dict:
        return asdict(self)


class GrievanceBackend(Protocol):
    kind: str
    where: str
    project_key: str

    def register(
        self, category: str, description: str, user_name: str, agent: str | None = None
    ) -> Ticket: ...

    def get(self, key: str) -> Ticket | None: ...

    def list_for(self, user_name: str) -> list[Ticket]: ...

    def check(self) -> None: ...


def parse_ticket_key(text: str, project_key: str) -> str | None:
    """'GRV-12', 'grv 12', 'G R V twelve', '12', 'twelve', '10,091' -> 'GRV-12' / 'GRV-10091'.

    A key of another project ('ABC-7') is kept as it is. Anything that is not a key or a
    number gives None, so nothing else ever reaches a query.
    """
    local = re.fullmatch(r"\s*local[\s_-]*([0-9a-f]{6})\s*", text, re.IGNORECASE)
    if local:  # a grievance still queued for the ticket system (tools/backends/outbox.py)
        return f"LOCAL-{local.group(1).upper()}"
    prefix = project_key.upper()
    spaced = re.sub(r"^([A-Za-z]+)(\d)", r"\1 \2", text.strip())  # "GRV12" -> "GRV 12"
    words = spaced.replace("-", " ").replace("_", " ").split()
    while words and words[0].upper() in _NUMBER_WORDS:  # "ticket 12", "number twelve"
        words = words[1:]
    spelled = 0
    while spelled < len(words) and len(words[spelled]) == 1 and words[spelled].isalpha():
        spelled += 1
    if spelled > 1 and "".join(words[:spelled]).upper() == prefix:
        rest = words[spelled:]
    elif words and words[0].upper() == prefix:
        rest = words[1:]
    else:
        other = re.fullmatch(r"([A-Za-z][A-Za-z0-9]{0,9}) (\d{1,9})", " ".join(words))
        if other:
            return f"{other.group(1).upper()}-{int(other.group(2))}"
        rest = words
    number = parse_spoken_number(" ".join(rest))
    if number is None or not 0 < number < 10**9:
        return None
    return f"{prefix}-{number}"


SERVICE = "the ticket system"
_NUMBER_WORDS = {"NUMBER", "NO", "TICKET", "GRIEVANCE"}


class RegisterArgs(BaseModel):
    category: Category = Field(description=CATEGORY_HELP)
    description: str = Field(
        description="What happened, in the customer's words: what, when, how much, which game.",
        min_length=3,
        max_length=2000,
    )
    user_name: str = Field(
        description="The player the grievance is about; the customer being helped when known.",
        pattern=USER_NAME_PATTERN,
    )


class StatusArgs(BaseModel):
    grievance_id: str = Field(
        description="The grievance's key such as 'GRV-12', or just its number ('12').",
        min_length=1,
        max_length=40,
    )

    @field_validator("grievance_id")
    @classmethod
    def _looks_like_key_or_number(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9 ,._\-]+", value):
            raise ValueError("a grievance id is a key like GRV-12 or a number")
        return value


class ListArgs(BaseModel):
    user_name: str = Field(
        description="The player whose grievances to list; the customer being helped when known.",
        pattern=USER_NAME_PATTERN,
    )


def describe(ticket: Ticket) -> str:
    if ticket.queued:
        kept = "saved and queued" if ticket.status == "Queued" else ticket.status.lower()
        return (
            f"Grievance {ticket.key} is {kept}; it will be sent to the ticket system "
            "as soon as it is reachable."
        )
    line = f"Grievance {ticket.key} ({ticket.category.replace('_', ' ')}) is {ticket.status}"
    if ticket.latest_comment:
        line += f"; latest note: {ticket.latest_comment}"
    return line + "."


def ticket_owner(result: ToolResult) -> str | None:
    """The player a ticket result belongs to (None when the result carries no ticket)."""
    ticket = result.data.get("ticket") if result.ok else None
    return str(ticket.get("user_name") or "").lower() or None if isinstance(ticket, dict) else None


def make_tools(backend: GrievanceBackend) -> list[Tool]:
    def register(args: RegisterArgs, context: ToolContext) -> ToolResult:
        ticket = backend.register(
            args.category.value, args.description, args.user_name.lower(), agent=context.agent
        )
        verb = "queued" if ticket.queued else "registered"
        return ToolResult.success(
            f"Grievance {ticket.key} {verb} for {ticket.user_name} "
            f"({ticket.category.replace('_', ' ')}), status {ticket.status}.",
            ticket=ticket.as_dict(),
        )

    def status(args: StatusArgs, context: ToolContext) -> ToolResult:
        key = parse_ticket_key(args.grievance_id, backend.project_key)
        if key is None:
            return ToolResult.failure(
                f"'{args.grievance_id}' is not a grievance number; it looks like "
                f"{backend.project_key}-12 or just 12.",
                error="invalid_key",
            )
        ticket = backend.get(key)
        if ticket is None:
            return ToolResult.failure(f"There is no grievance {key}.", error="not_found")
        return ToolResult.success(describe(ticket), ticket=ticket.as_dict())

    def list_(args: ListArgs, context: ToolContext) -> ToolResult:
        user_name = args.user_name.lower()
        tickets = backend.list_for(user_name)
        if not tickets:
            return ToolResult.success(f"{user_name} has no grievances.", tickets=[])
        open_count = sum(t.status_category != "Done" for t in tickets)
        return ToolResult.success(
            f"{user_name} has {len(tickets)} grievance{'s' if len(tickets) != 1 else ''}, "
            f"{open_count} open: " + "; ".join(f"{t.key} {t.status}" for t in tickets) + ".",
            tickets=[t.as_dict() for t in tickets],
        )

    return [
        Tool(
            name="register_grievance",
            description=(
                "Register a new grievance (complaint ticket) for a player when they report a "
                "problem and want it looked into, e.g. 'I was charged twice', 'my points were not "
                "credited', 'the game keeps crashing', 'file a complaint'. Only when the customer "
                "asks to report, complain, file a complaint or register a grievance; at most once "
                "per question."
            ),
            args_model=RegisterArgs,
            run=register,
            label=lambda a: "Registering the grievance",
            player_argument="user_name",
            acts=True,
            per_question=1,
            # Written to the outbox (or the ticket store) first, it is delivered once.
            timeout_sentence=(
                "The grievance is still being registered; ask for its status in a minute."
            ),
            service=SERVICE,
        ),
        Tool(
            name="get_grievance_status",
            description=(
                "Get the status of one grievance by its number, e.g. 'what is the status of "
                "grievance GRV-12', 'any news on ticket 12', 'where is my complaint 7'."
            ),
            args_model=StatusArgs,
            run=status,
            label=lambda a: f"Checking grievance {a.grievance_id}",
            owner=ticket_owner,
            service=SERVICE,
        ),
        Tool(
            name="list_grievances",
            description=(
                "List a player's grievances with their status, e.g. 'my open complaints', "
                "'do I have any tickets', 'show my grievances'."
            ),
            args_model=ListArgs,
            run=list_,
            label=lambda a: f"Listing {a.user_name}'s grievances",
            player_argument="user_name",
            service=SERVICE,
        ),
    ]
