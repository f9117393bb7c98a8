"""`search_help_center`: the best passages of the help-centre manuals for a question."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from pydantic import BaseModel, Field

from tools.base import Tool, ToolContext, ToolResult


@dataclass(frozen=True)
class Passage:
    """The one passage shape every search backend returns (local index or Azure AI Search)."""

    id: str
    title: str
    section: str
    source: str  # the manual's file name, e.g. "wallet-and-payments.md"
    text: str
    score: float
    caption: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class HelpSearchBackend(Protocol):
    kind: str
    where: str

    def search(self, query: str, top: int = 3) -> list[Passage]: ...

    def check(self) -> None: ...


class SearchArgs(BaseModel):
    query: str = Field(
        description="What to look for in the help centre, in the customer's words, e.g. "
        "'turn on two-step verification' or 'game crashes on launch'.",
        min_length=1,
        max_length=500,
    )


def make_tool(backend: HelpSearchBackend) -> Tool:
    def run(args: SearchArgs, context: ToolContext) -> ToolResult:
        passages = backend.search(args.query, top=3)
        if not passages:
            return ToolResult.success(
                f"The help centre has nothing on '{args.query}'.", passages=[]
            )
        best = passages[0]
        return ToolResult.success(
            f"Best match: '{best.title}' — {best.section}.",
            passages=[p.as_dict() for p in passages],
        )

    return Tool(
        name="search_help_center",
        description=(
            "Search the help-centre manuals (account and security: passwords, sign-in and "
            "two-step verification; wallet and payments: deposits, withdrawals and limits; rewards "
            "and points: how they are earned and when they expire; troubleshooting when the app "
            "or a game will not open, crashes, freezes or lags; fair play and reporting cheaters; "
            "the beta programme; parental controls; contacting support) for how-to questions and "
            "policies. Use it for 'how do I ...', 'how long does ...', 'why can't I ...', "
            "'what should I do ...' and 'what is the rule for ...' questions."
        ),
        args_model=SearchArgs,
        run=run,
        label=lambda a: "Searching the help centre",
        service="the help-centre search",
    )
