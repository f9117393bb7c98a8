"""Player statistics from an embedded SQLite file, created on first use by the given `create`.

The SQL is portable on purpose (`?` parameters, no TOP/LIMIT, no engine functions): the ODBC
backend runs the very same statements on SQLite-ODBC, PostgreSQL and Azure SQL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from tools.base import ToolUnavailable
from tools.player_stats import GameTotals, PlayerSummary

# One row per game the player played, or a single row with a NULL game for a player with no
# games yet; no row at all when there is no such player. It reads the pre-summed
# player_game_totals (a primary-key range), not the transactions themselves.
PLAYER_SUMMARY_SQL = """
SELECT p.display_name,
       g.game,
       g.games_played,
       g.entry_fee_cents,
       g.points,
       g.cash_won_cents,
       g.last_played
FROM players p
LEFT JOIN player_game_totals g ON g.user_name = p.user_name
WHERE p.user_name = ?
ORDER BY g.games_played DESC, g.game
"""

# The same answer summed from the transactions on every question: the straightforward design,
# kept for the benchmark's comparison and for checking the totals.
PLAYER_SUMMARY_FROM_TRANSACTIONS_SQL = """
SELECT p.display_name,
       t.game,
       COUNT(t.game) AS games_played,
       SUM(t.entry_fee_cents) AS entry_fee_cents,
       SUM(t.points) AS points,
       SUM(t.cash_won_cents) AS cash_won_cents,
       MAX(t.played_at) AS last_played
FROM players p
LEFT JOIN transactions t ON t.user_name = p.user_name
WHERE p.user_name = ?
GROUP BY p.display_name, t.game
ORDER BY games_played DESC, game
"""

# Run after every load, in the load's transaction (portable: SQLite, PostgreSQL, Azure SQL).
TOTALS_REFRESH_SQL = (
    "DELETE FROM player_game_totals",
    "INSERT INTO player_game_totals (user_name, game, games_played, entry_fee_cents, points, "
    "cash_won_cents, last_played) SELECT user_name, game, COUNT(*), SUM(entry_fee_cents), "
    "SUM(points), SUM(cash_won_cents), MAX(played_at) FROM transactions GROUP BY user_name, game",
)

PLAYER_NAMES_SQL = "SELECT user_name FROM players ORDER BY user_name"

# A cheap query that proves the file is there and has the schema.
HEALTH_SQL = "SELECT COUNT(*) FROM players"


def summary_from_rows(user_name: str, rows: list[tuple]) -> PlayerSummary | None:
    """Rows of PLAYER_SUMMARY_SQL (from any driver) to a PlayerSummary; cents become dollars."""
    if not rows:
        return None
    games = [
        GameTotals(
            game=str(game),
            games_played=int(played),
            entry_fees=int(fees or 0) / 100,
            points_earned=int(points or 0),
            cash_won=int(cash or 0) / 100,
            last_played=str(last),
        )
        for _, game, played, fees, points, cash, last in rows
        if game is not None
    ]
    return PlayerSummary(user_name=user_name, display_name=str(rows[0][0]), games=games)


class SqliteStats:
    """`PlayerStatsBackend` over `<data_dir>/stats.sqlite`, read-only, one connection a thread."""

    kind = "embedded"

    summary_sql = PLAYER_SUMMARY_SQL

    def __init__(self, path: Path, create: Callable[[Path], object] | None = None):
        self.path = Path(path)
        self.where = str(self.path)
        self._create = create  # writes the file when it is missing (the demo data); None: don't
        self._create_lock = threading.Lock()
        self._local = threading.local()

    # --- the protocol ---------------------------------------------------------------------

    def player_summary(self, user_name: str) -> PlayerSummary | None:
        rows = self._query(self.summary_sql, (user_name,))
        return summary_from_rows(user_name, rows)

    def player_names(self) -> list[str]:
        return [name for (name,) in self._query(PLAYER_NAMES_SQL, ())]

    def check(self) -> None:
        self._query(HEALTH_SQL, ())

    # --- plumbing -------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except (sqlite3.Error, OSError):
            self._drop_connection()
            raise ToolUnavailable(
                f"The player statistics file {self.path} cannot be read; run "
                "'python -m assistant demo-data' to rebuild it."
            ) from None

    def _connection(self) -> sqlite3.Connection:
        """This thread's read-only connection; reopened when the file was replaced."""
        self._ensure_file()
        stat = os.stat(self.path)
        identity = (stat.st_ino, stat.st_mtime_ns)
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.identity == identity:
            return conn
        self._drop_connection()
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        self._local.conn, self._local.identity = conn, identity
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _ensure_file(self) -> None:
        if self.path.exists() or self._create is None:
            return
        with self._create_lock:  # one thread builds it; the rename makes it appear whole
            if not self.path.exists():
                self._create(self.path)
