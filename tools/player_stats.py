"""`get_player_summary`: a player's per-game totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from pydantic import BaseModel, Field

from tools.base import Tool, ToolContext, ToolResult

USER_NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


@dataclass(frozen=True)
class GameTotals:
    game: str
    games_played: int
    entry_fees: float
    points_earned: int
    cash_won: float
    last_played: str


@dataclass(frozen=True)
class PlayerSummary:
    user_name: str
    display_name: str
    games: list[GameTotals]

    @property
    def games_played(self) -> int:
        return sum(g.games_played for g in self.games)

    def as_dict(self) -> dict:
        return {
            "user_name": self.user_name,
            "display_name": self.display_name,
            "games_played": self.games_played,
            "games": [asdict(g) for g in self.games],
        }


class PlayerStatsBackend(Protocol):
    kind: str  # "embedded" or "cloud"
    where: str  # a host or a file, never a secret

    def player_summary(self, user_name: str) -> PlayerSummary | None: ...

    def player_names(self) -> list[str]: ...

    def check(self) -> None:
        """Raise ToolUnavailable with the fix in one sentence when the backend cannot serve."""


class PlayerSummaryArgs(BaseModel):
    user_name: str = Field(
        description="The player's user name, e.g. 'maria'. Use the customer being helped when the "
        "question is about 'my' or 'their' games.",
        pattern=USER_NAME_PATTERN,
    )


def summarise(summary: PlayerSummary) -> str:
    if not summary.games:
        return f"{summary.display_name} has not played any games yet."
    parts = [
        f"{g.games_played} {g.game} game{'s' if g.games_played != 1 else ''} "
        f"({g.points_earned:,} points, ${g.cash_won:,.2f} won)"
        for g in summary.games
    ]
    return f"{summary.display_name} played " + ", ".join(parts) + "."


def make_tool(backend: PlayerStatsBackend) -> Tool:
    def run(args: PlayerSummaryArgs, context: ToolContext) -> ToolResult:
        user_name = args.user_name.lower()
        summary = backend.player_summary(user_name)
        if summary is None:
            return ToolResult.failure(
                f"There is no player called {user_name}.", error="unknown_player"
            )
        return ToolResult.success(summarise(summary), **summary.as_dict())

    return Tool(
        name="get_player_summary",
        description=(
            "Look up a player's game statistics: for each game they play (chess, ludo, poker, "
            "rummy, ...) the number of games played, entry fees paid, points earned, cash won and "
            "when they last played. Use it for questions like 'how many games did I play', "
            "'my points', 'how much have I won', 'my stats' or 'my history'."
        ),
        args_model=PlayerSummaryArgs,
        run=run,
        label=lambda a: f"Looking up {a.user_name}'s games",
        player_argument="user_name",
        service="the player statistics",
    )
