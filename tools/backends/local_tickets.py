"""Grievance tickets in an embedded SQLite store with Jira-like keys (GRV-12).

Safe under threads (one connection per thread) and under several processes (WAL, a busy
timeout, and write transactions taken with BEGIN IMMEDIATE so a check-then-insert is atomic).
The demo's seeded tickets are upserted by their seed name and never touch users' tickets.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tools.base import ToolUnavailable
from tools.grievances import Ticket, category_label, summary_line

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tickets (
    number          INTEGER PRIMARY KEY AUTOINCREMENT,
    seed            TEXT UNIQUE,          -- set only on the demo's seeded tickets
    user_name       TEXT NOT NULL,
    category        TEXT NOT NULL,
    summary         TEXT NOT NULL,
    description     TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,        -- normalised description, to spot repeats
    status          TEXT NOT NULL,
    status_category TEXT NOT NULL,
    priority        TEXT NOT NULL,
    created         TEXT NOT NULL,        -- ISO 8601 UTC, 'YYYY-MM-DDTHH:MM:SSZ'
    updated         TEXT NOT NULL,
    due_date        TEXT,
    latest_comment  TEXT,
    agent           TEXT
)""",
    "CREATE INDEX IF NOT EXISTS ix_tickets_user ON tickets (user_name, created)",
)

# Every statement is a constant with bound parameters; nothing is ever formatted into SQL.
_SELECT = (
    "SELECT number, user_name, category, summary, description, status, status_category, "
    "priority, created, updated, due_date, latest_comment FROM tickets "
)
SELECT_REPEAT_SQL = (
    _SELECT + "WHERE user_name = ? AND fingerprint = ? AND created >= ? ORDER BY number DESC"
)
SELECT_BY_NUMBER_SQL = _SELECT + "WHERE number = ?"
SELECT_FOR_USER_SQL = _SELECT + "WHERE user_name = ? ORDER BY created DESC, number DESC"
INSERT_SQL = (
    "INSERT INTO tickets (user_name, category, summary, description, fingerprint, status, "
    "status_category, priority, created, updated, due_date, agent) "
    "VALUES (?, ?, ?, ?, ?, 'Open', 'To Do', ?, ?, ?, ?, ?)"
)
# Seeds: looked up by name, then updated or inserted. (An INSERT ... ON CONFLICT would burn
# an AUTOINCREMENT number on every conflict, so users' keys would jump.)
SEED_FIND_SQL = "SELECT number FROM tickets WHERE seed = ?"
SEED_INSERT_SQL = (
    "INSERT INTO tickets (user_name, category, summary, description, fingerprint, status, "
    "status_category, priority, created, updated, due_date, latest_comment, seed) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SEED_UPDATE_SQL = (
    "UPDATE tickets SET user_name = ?, category = ?, summary = ?, description = ?, "
    "fingerprint = ?, status = ?, status_category = ?, priority = ?, created = ?, updated = ?, "
    "due_date = ?, latest_comment = ? WHERE seed = ?"
)

# Money problems are the most urgent, and get the shortest due date.
PRIORITY = {
    "wallet": "High",
    "reward_points": "Medium",
    "gaming_experience": "Medium",
    "usage_history": "Low",
    "other": "Low",
}
DUE_DAYS = {"wallet": 3}
DEFAULT_DUE_DAYS = 7
DEDUPE_WINDOW = timedelta(minutes=10)



def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(description: str) -> str:
    """The description as compared for repeats: case, spacing and end punctuation ignored."""
    return " ".join(description.casefold().split()).rstrip(" .!?")


def make_summary(category: str, description: str, width: int = 80) -> str:
    """A Jira-style one-line summary: 'Wallet: Charged twice for ...', cut at a word."""
    label = category_label(category)
    return f"{label}: {summary_line(description, width - len(label) - 2)}"


class LocalGrievances:
    """`GrievanceBackend` over `<data_dir>/tickets.sqlite`."""

    kind = "embedded"

    def __init__(
        self,
        path: Path,
        project_key: str = "GRV",
        clock: Callable[[], datetime] | None = None,
        seeds: Sequence[Mapping[str, Any]] = (),
    ):
        self.path = Path(path)
        self.seeds = tuple(seeds)  # demo tickets present from first use (keyed by their "seed")
        self.where = str(self.path)
        self.project_key = (project_key or "GRV").upper()
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._local = threading.local()
        self._ready = False
        self._ready_lock = threading.Lock()

    # --- the protocol ---------------------------------------------------------------------

    def register(
        self, category: str, description: str, user_name: str, agent: str | None = None
    ) -> Ticket:
        description = description.strip()
        now = self._clock()
        created = _iso(now)
        fp = fingerprint(description)
        due = (now + timedelta(days=DUE_DAYS.get(category, DEFAULT_DUE_DAYS))).date()

        def work(conn: sqlite3.Connection) -> tuple:
            since = _iso(now - DEDUPE_WINDOW)
            repeat = conn.execute(SELECT_REPEAT_SQL, (user_name, fp, since)).fetchone()
            if repeat:
                return repeat
            summary = make_summary(category, description)
            priority = PRIORITY.get(category, "Low")
            cursor = conn.execute(
                INSERT_SQL,
                (user_name, category, summary, description, fp, priority,
                 created, created, due.isoformat(), agent),
            )  # fmt: skip
            return conn.execute(SELECT_BY_NUMBER_SQL, (cursor.lastrowid,)).fetchone()

        return self._ticket(self._write(work))

    def get(self, key: str) -> Ticket | None:
        prefix, _, number = key.strip().upper().partition("-")
        if prefix != self.project_key or not number.isdigit():
            return None
        row = self._read(SELECT_BY_NUMBER_SQL, (int(number),))
        return self._ticket(row[0]) if row else None

    def list_for(self, user_name: str) -> list[Ticket]:
        rows = self._read(SELECT_FOR_USER_SQL, (user_name,))
        return [self._ticket(row) for row in rows]

    def check(self) -> None:
        self._read("SELECT COUNT(*) FROM tickets", ())

    # --- seeds ----------------------------------------------------------------------------

    def reseed(self) -> int:
        """Upsert every seeded ticket (restoring its demo state); return how many."""
        self._ensure_ready()
        return self._write(lambda conn: _upsert_seeds(conn, self.seeds, overwrite=True))

    # --- plumbing -------------------------------------------------------------------------

    def _ticket(self, row: tuple) -> Ticket:
        number, *fields = row
        return Ticket(f"{self.project_key}-{number}", *fields)

    def _read(self, sql: str, params: tuple) -> list[tuple]:
        self._ensure_ready()
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error:
            raise self._unavailable() from None

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `work` in one write transaction, taken up front so checks and inserts are
        atomic across threads and processes."""
        self._ensure_ready()
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.Error:
            raise self._unavailable() from None

    def _unavailable(self) -> ToolUnavailable:
        return ToolUnavailable(
            f"The grievance store {self.path} cannot be used; check that the data folder is "
            "writable (VOICEDESK_DATA_DIR)."
        )

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def _ensure_ready(self) -> None:
        """Create the store and its seeded tickets once; safe when threads or processes race."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = self._connection()
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in SCHEMA:
                        conn.execute(statement)
                    _upsert_seeds(conn, self.seeds, overwrite=False)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError):
                raise self._unavailable() from None
            self._ready = True


def _upsert_seeds(
    conn: sqlite3.Connection, seeds: Sequence[Mapping[str, Any]], overwrite: bool
) -> int:
    """Insert missing seeded tickets by seed name; with `overwrite`, reset existing ones."""
    for seed in seeds:
        values = (
            seed["user_name"],
            seed["category"],
            seed.get("summary") or make_summary(seed["category"], seed["description"]),
            seed["description"],
            fingerprint(seed["description"]),
            seed["status"],
            seed["status_category"],
            seed["priority"],
            seed["created"],
            seed["updated"],
            seed.get("due_date"),
            seed.get("latest_comment"),
            seed["seed"],
        )
        if conn.execute(SEED_FIND_SQL, (seed["seed"],)).fetchone() is None:
            conn.execute(SEED_INSERT_SQL, values)
        elif overwrite:
            conn.execute(SEED_UPDATE_SQL, values)
    return len(seeds)
