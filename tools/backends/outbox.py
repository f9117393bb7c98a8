"""A durable local outbox for grievances on their way to the ticket system.

Every registration is written here first (write-ahead, committed before anything is sent), so a
grievance survives Jira being down, a timeout, or the process being killed. Each entry carries a
unique marker that goes into the remote ticket; before an entry that may already have been sent
is sent again, the sender looks the marker up remotely. That is how delivery is exactly once
even though Jira has no idempotency key.

Entries are claimed before sending (a lease with the owner's host and pid), so two threads or
processes never send the same entry at once, and a claim held by a dead process is void at once.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        self._ready = False

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=FULL")  # committed means on disk
            if not self._ready:
                conn.executescript(_SCHEMA)
                self._ready = True
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
        is the same grievance said twice: it is returned, and nothing new is stored.
        """
        now = time.time()
        with self._db(write=True) as db:
            row = db.execute(
                "SELECT * FROM outbox WHERE fingerprint = ? AND created_at >= ? "
                "ORDER BY created_at DESC LIMIT 1",
                (fingerprint, now - window_s),
            ).fetchone()
            if row is not None:
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
            if row is None or row["state"] != "pending":
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
            row = db.execute("SELECT * FROM outbox WHERE ref = ?", (ref.upper(),)).fetchone()
        return _entry(row) if row else None

    def pending(self, limit: int | None = None) -> list[Entry]:
        """Entries still to deliver, oldest first."""
        sql = "SELECT * FROM outbox WHERE state = 'pending' ORDER BY created_at"
        with self._db() as db:
            if limit is None:
                rows = db.execute(sql).fetchall()
            else:
                rows = db.execute(sql + " LIMIT ?", (limit,)).fetchall()
        return [_entry(r) for r in rows]

    def pending_count(self) -> int:
        if not self.path.exists():
            return 0
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(
        ref=row["ref"],
        marker=row["marker"],
        fingerprint=row["fingerprint"],
        payload=json.loads(row["payload"]),
        created_at=row["created_at"],
        state=row["state"],
        remote_key=row["remote_key"],
        attempts=row["attempts"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )


def flush_outbox(settings: Any) -> tuple[int, int, str]:
    """`python -m assistant outbox flush`: deliver every queued grievance that can be delivered.

    Returns (delivered, remaining, one sentence). Nothing is ever dropped: what cannot be
    delivered now stays queued. Exit 0 when `remaining` is 0, else 1.
    """
    path = Path(settings.voicedesk_data_dir) / OUTBOX_FILE
    waiting = Outbox(path).pending_count()
    if not settings.jira_server:
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
    from tools.backends.jira_tickets import JiraGrievances

    return JiraGrievances.from_settings(settings).flush()


def _grievances(n: int) -> str:
    return f"{n} grievance{' is' if n == 1 else 's are'}"
