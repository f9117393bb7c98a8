"""An outbox file SQLite cannot read: keep it aside, untouched, and take out what can be read.

Nothing here deletes anything: a damaged file is renamed next to the new one, and rows that
cannot be read as grievances are copied, as they are, to a side file before they leave the table.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

MAX_MISSES = 200  # rowids in a row that cannot be read before we stop looking


def set_aside(path: Path) -> Path:
    """Rename a damaged outbox (and its journal) to `<name>.damaged-<time>`; return the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    path.rename(aside)
    for suffix in ("-journal", "-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(aside.with_name(aside.name + suffix))
    return aside


def readable_rows(path: Path) -> list[dict[str, Any]]:
    """The outbox rows SQLite can still read from a damaged file: all at once, else one by one."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        db.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in db.execute("SELECT * FROM outbox")]
        except sqlite3.Error:
            pass
        rows, rowid, misses = [], 0, 0
        while misses < MAX_MISSES:
            rowid += 1
            try:
                row = db.execute("SELECT * FROM outbox WHERE rowid = ?", (rowid,)).fetchone()
            except sqlite3.Error:
                row = None
            if row is None:
                misses += 1
            else:
                rows.append(dict(row))
                misses = 0
        return rows
    finally:
        db.close()


def keep_rows(side_file: Path, rows: list[dict[str, Any]]) -> None:
    """Append unreadable rows, as they are, to a JSON-lines side file."""
    with side_file.open("a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, default=repr) + "\n")
