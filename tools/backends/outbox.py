"""A durable local outbox for grievances on their way to the ticket system.

Every registration is written here first (write-ahead, committed before anything is sent), so a
grievance survives Jira being down, a timeout, or the process being killed. Each entry carries a
unique marker that goes into the remote ticket; before an entry that may already have been sent
is sent again, the sender looks the marker up remotely. That is how delivery is exactly once
even though Jira has no idempotency key.

Entries are claimed before sending (a lease with the owner's host and pid), so two threads or
processes never send the same entry at once, and a claim held by a dead process is void at once.

A damaged file is moved aside (kept) and what can be read is carried into a new one; a row that
is not a readable grievance is copied to a side file and leaves the table; an outbox that cannot
be written is kept in memory, and each is said in one logged sentence (`notice`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.backends.outbox_repair import keep_rows, readable_rows, set_aside

if TYPE_CHECKING:  # the Jira backend imports this module
    from tools.backends.jira_tickets import JiraGrievances

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
DEDUP_WINDOW_S = 600.0  # the same grievance said twice within 10 minutes is one ticket
KEEP_DELIVERED_S = 30 * 24 * 3600.0  # delivered entries are kept a month, for lookups by ref

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    ref           TEXT PRIMARY KEY,  -- what the user is told while queued: LOCAL-3F2A9C
    marker        TEXT NOT NULL UNIQUE,  -- put into the remote ticket; found again by search
    fingerprint   TEXT NOT NULL,     -- same player + same words -> same fingerprint
    payload       TEXT NOT NULL,     -- JSON, what the sender needs to create the ticket
    created_at    REAL NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'delivered')),
    remote_key    TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       REAL,              -- last time a send started: it may have reached the server
    last_error    TEXT,
    claimed_by    TEXT,
    claimed_until REAL,
    delivered_at  REAL
);
CREATE INDEX IF NOT EXISTS ix_outbox_fingerprint ON outbox (fingerprint, created_at);
CREATE INDEX IF NOT EXISTS ix_outbox_state ON outbox (state, created_at);
"""


@dataclass(frozen=True)
class Entry:
    ref: str
    marker: str
    fingerprint: str
    payload: dict[str, Any]
    created_at: float
    state: str
    remote_key: str | None
    attempts: int
    sent_at: float | None
    last_error: str | None

    @property
    def pending(self) -> bool:
        return self.state == "pending"


def owner_id() -> str:
    """Who holds a claim: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust its lease
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    """SQLite file in the data dir; one short-lived connection per operation (thread-safe)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.notice: str | None = None  # the last thing an operator should know, one sentence
        self._ready = False
        self._ready_lock = threading.Lock()
        self._memory: str | None = None  # the in-memory database used when the file cannot be
        self._keeper: sqlite3.Connection | None = None  # written; this keeps it alive

    @property
    def in_memory(self) -> bool:
        return self._memory is not None

    def _connect(self) -> sqlite3.Connection:
        if self._memory is not None:
            conn = sqlite3.connect(self._memory, uri=True, timeout=10, isolation_level=None)
        else:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _prepare(self) -> None:
        """On first use: create the schema, or repair a damaged file, or fall back to memory."""
        with self._ready_lock:
            if self._ready:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._create_schema()
            except sqlite3.OperationalError as exc:
                if _busy(exc):
                    raise
                self._use_memory(str(exc))
            except OSError as exc:
                self._use_memory(exc.strerror or type(exc).__name__)
            except sqlite3.DatabaseError:  # not a database, or malformed
                self._recover()
            self._ready = True

    def _create_schema(self) -> None:
        conn = self._connect()
        try:
            conn.executescript(_SCHEMA)
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the outbox failed its integrity check")
        finally:
            conn.close()

    def _recover(self) -> None:
        aside = set_aside(self.path)
        rows = readable_rows(aside)
        self._create_schema()
        conn = self._connect()
        try:
            for row in rows:
                values = {**row, "attempts": row.get("attempts") or 0, "claimed_by": None}
                conn.execute(_RECOVER_SQL, [values.get(c) for c in _COLUMNS])
            recovered = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        finally:
            conn.close()
        self._say(
            f"The grievance outbox was damaged, so it is kept as {aside.name} and the "
            f"{recovered} entr{'y' if recovered == 1 else 'ies'} that could be read "
            "went into a new one."
        )

    def _use_memory(self, reason: str) -> None:
        self._memory = f"file:voicedesk-outbox-{uuid.uuid4().hex}?mode=memory&cache=shared"
        self._keeper = self._connect()
        self._keeper.executescript(_SCHEMA)
        self._say(
            f"The grievance outbox at {self.path} cannot be written ({reason}), so queued "
            "grievances are kept in memory only, until the ticket system takes them."
        )

    def _say(self, sentence: str) -> None:
        self.notice = sentence
        log.warning(sentence)

    def _set_rows_aside(self, rows: list[sqlite3.Row]) -> None:
        """Rows that are not readable grievances: copied to a side file, then out of the table."""
        side = self.path.with_name(self.path.name + ".damaged-rows.jsonl")
        keep_rows(side, [dict(row) for row in rows])
        with self._db(write=True) as db:
            db.executemany("DELETE FROM outbox WHERE rowid = ?", [(r["rowid"],) for r in rows])
        self._say(
            f"{len(rows)} outbox entr{'y was' if len(rows) == 1 else 'ies were'} damaged, so "
            f"{'it is' if len(rows) == 1 else 'they are'} kept in {side.name} and the rest "
            "go on."
        )

    def _entries(self, rows: list[sqlite3.Row]) -> list[Entry]:
        entries, damaged = [], []
        for row in rows:
            try:
                entries.append(_entry(row))
            except (ValueError, TypeError, KeyError):
                damaged.append(row)
        if damaged:
            self._set_rows_aside(damaged)
        return entries

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self._prepare()
        conn = self._connect()
        try:
            conn.execute("PRAGMA synchronous=FULL")  # committed means on disk
            if write:
                conn.execute("BEGIN IMMEDIATE")  # one writer: check-then-insert is atomic
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                yield conn
        finally:
            conn.close()

    def add(
        self,
        payload: dict[str, Any],
        fingerprint: str,
        lease_s: float,
        window_s: float = DEDUP_WINDOW_S,
    ) -> tuple[Entry, bool]:
        """Store a new entry claimed by this process, or return the same grievance's entry.

        Returns (entry, is_new). An entry with the same fingerprint created within `window_s`
        is the same grievance said twice: it is returned, and nothing new is stored. When the
        file cannot be written (read-only, disk full), the entry is kept in memory instead.
        """
        try:
            return self._add(payload, fingerprint, lease_s, window_s)
        except sqlite3.OperationalError as exc:
            if _busy(exc) or self.in_memory:
                raise
            self._use_memory(str(exc))
            return self._add(payload, fingerprint, lease_s, window_s)

    def _add(
        self, payload: dict[str, Any], fingerprint: str, lease_s: float, window_s: float
    ) -> tuple[Entry, bool]:
        now = time.time()
        with self._db(write=True) as db:
            row = db.execute(
                "SELECT * FROM outbox WHERE fingerprint = ? AND created_at >= ? "
                "ORDER BY created_at DESC LIMIT 1",
                (fingerprint, now - window_s),
            ).fetchone()
            if row is not None and _readable(row):
                return _entry(row), False
            db.execute(
                "DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ?",
                (now - KEEP_DELIVERED_S,),
            )
            marker = uuid.uuid4().hex
            while True:
                ref = "LOCAL-" + secrets.token_hex(3).upper()
                if db.execute("SELECT 1 FROM outbox WHERE ref = ?", (ref,)).fetchone() is None:
                    break
            db.execute(
                "INSERT INTO outbox (ref, marker, fingerprint, payload, created_at, state, "
                "claimed_by, claimed_until) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (ref, marker, fingerprint, json.dumps(payload), now, owner_id(), now + lease_s),
            )
            row = db.execute("SELECT * FROM outbox WHERE ref = ?", (ref,)).fetchone()
        return _entry(row), True

    def claim(self, ref: str, lease_s: float) -> Entry | None:
        """Take a pending entry for sending; None when it is delivered or someone else holds it."""
        now = time.time()
        with self._db(write=True) as db:
            row = db.execute("SELECT * FROM outbox WHERE ref = ?", (ref,)).fetchone()
            if row is None or row["state"] != "pending" or not _readable(row):
                return None
            holder, until = row["claimed_by"], row["claimed_until"]
            if holder and until and until > now and _owner_alive(holder):
                return None
            db.execute(
                "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE ref = ?",
                (owner_id(), now + lease_s, ref),
            )
            return _entry(db.execute("SELECT * FROM outbox WHERE ref = ?", (ref,)).fetchone())

    def sending(self, ref: str) -> None:
        """Record, durably, that a send is starting: from now on it may exist remotely."""
        with self._db(write=True) as db:
            db.execute(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE ref = ?",
                (time.time(), ref),
            )

    def delivered(self, ref: str, remote_key: str) -> None:
        with self._db(write=True) as db:
            db.execute(
                "UPDATE outbox SET state = 'delivered', remote_key = ?, delivered_at = ?, "
                "last_error = NULL, claimed_by = NULL, claimed_until = NULL WHERE ref = ?",
                (remote_key, time.time(), ref),
            )

    def release(self, ref: str, error: str) -> None:
        """Give an entry back after a failed send; it stays pending."""
        with self._db(write=True) as db:
            db.execute(
                "UPDATE outbox SET last_error = ?, claimed_by = NULL, claimed_until = NULL "
                "WHERE ref = ? AND state = 'pending'",
                (error, ref),
            )

    def get(self, ref: str) -> Entry | None:
        with self._db() as db:
            row = db.execute("SELECT rowid, * FROM outbox WHERE ref = ?", (ref.upper(),)).fetchone()
        entries = self._entries([row]) if row else []
        return entries[0] if entries else None

    def pending(self, limit: int | None = None) -> list[Entry]:
        """Entries still to deliver, oldest first (damaged ones are set aside, see above)."""
        sql = "SELECT rowid, * FROM outbox WHERE state = 'pending' ORDER BY created_at"
        with self._db() as db:
            if limit is None:
                rows = db.execute(sql).fetchall()
            else:
                rows = db.execute(sql + " LIMIT ?", (limit,)).fetchall()
        return self._entries(rows)

    def pending_count(self) -> int:
        if not self.in_memory and not self.path.exists():
            return 0
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]


_COLUMNS = (
    "ref", "marker", "fingerprint", "payload", "created_at", "state", "remote_key", "attempts",
    "sent_at", "last_error", "claimed_by", "claimed_until", "delivered_at",
)  # fmt: skip
# Rows carried out of a damaged file; one that breaks a constraint stays only in the kept file.
_RECOVER_SQL = (
    f"INSERT OR IGNORE INTO outbox ({', '.join(_COLUMNS)}) "  # noqa: S608 (constant names)
    f"VALUES ({', '.join('?' * len(_COLUMNS))})"
)
_PAYLOAD_TEXT = ("category", "description", "user_name", "created")


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Another connection holds the file: wait or fail, but it is not unwritable."""
    return "locked" in str(exc) or "busy" in str(exc)


def _readable(row: sqlite3.Row) -> bool:
    try:
        _entry(row)
    except (ValueError, TypeError, KeyError):
        return False
    return True


def _entry(row: sqlite3.Row) -> Entry:
    """An entry from its row; ValueError, TypeError or KeyError when it is not a grievance."""
    payload = json.loads(row["payload"])
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(k), str) for k in _PAYLOAD_TEXT
    ):
        raise ValueError("the payload is not a grievance")
    if not all(isinstance(row[k], str) for k in ("ref", "marker", "fingerprint")):
        raise ValueError("the entry's keys are not text")
    return Entry(
        ref=row["ref"],
        marker=row["marker"],
        fingerprint=row["fingerprint"],
        payload=payload,
        created_at=float(row["created_at"]),
        state=row["state"],
        remote_key=row["remote_key"],
        attempts=row["attempts"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )


def flush_outbox(path: Path, jira: JiraGrievances | None) -> tuple[int, int, str]:
    """`python -m assistant outbox flush`: deliver every queued grievance that can be delivered.

    `jira` is None when no Jira is configured. Returns (delivered, remaining, one sentence).
    Nothing is ever dropped: what cannot be delivered now stays queued. Exit 0 when `remaining`
    is 0, else 1.
    """
    waiting = Outbox(path).pending_count()
    if jira is None:
        if waiting:
            return (
                0,
                waiting,
                (
                    f"{_grievances(waiting)} waiting in the outbox, but JIRA_SERVER is not set; "
                    "set the Jira settings and run this again."
                ),
            )
        return 0, 0, "The outbox is empty; nothing to deliver."
    return jira.flush()


def _grievances(n: int) -> str:
    return f"{n} grievance{' is' if n == 1 else 's are'}"
