"""The `get_player_summary` tool on a statistics file of 1,000,000 transactions, with and without the
indexes data/schema.sql chooses.

The file is the demo data at that size (ops.demo_data.write_stats_db, seed 7): the same
players, so the busiest have tens of thousands of games. Every player is looked up, in a
shuffled order, `repeats` times, through the product's SqliteStats backend, which reads the
pre-summed player_game_totals. The naive design sums the transactions on every question with
no index (the copy has the schema's CREATE INDEX indexes dropped; primary keys stay); the
details also give the summing query with the covering index, the design before the totals.
"""

from __future__ import annotations

import random
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import median, percentile, rounded
from ops.demo_data import schema_statements, write_stats_db
from tools import player_stats
from tools.backends.sqlite_stats import PLAYER_SUMMARY_FROM_TRANSACTIONS_SQL, SqliteStats


class SummingStats(SqliteStats):
    """The same backend, summing the transactions on every question."""

    summary_sql = PLAYER_SUMMARY_FROM_TRANSACTIONS_SQL


def chosen_indexes() -> list[str]:
    names = []
    for statement in schema_statements()[1]:
        found = re.match(r"CREATE\s+INDEX\s+(\w+)", statement, re.IGNORECASE)
        if found:
            names.append(found.group(1))
    return names


def without_indexes(source: Path, target: Path) -> list[str]:
    """Copy the file and drop the chosen indexes; return their names."""
    shutil.copyfile(source, target)
    dropped = chosen_indexes()
    conn = sqlite3.connect(target)
    try:
        for name in dropped:
            conn.execute(f"DROP INDEX {name}")  # names from our own schema file
        conn.execute("ANALYZE")  # the planner's statistics must not describe the dropped index
        conn.commit()
        conn.execute("VACUUM")
    finally:
        conn.close()
    return dropped


def lookups(backend: SqliteStats, names: list[str], repeats: int, seed: int) -> list[float]:
    """Milliseconds of the get_player_summary tool (arguments validated, as the registry
    does, then run) for each name, `repeats` times, in a shuffled order."""
    tool = player_stats.make_tool(backend)
    order = [name for _ in range(repeats) for name in names]
    random.Random(seed).shuffle(order)
    samples = []
    for name in order:
        started = time.perf_counter()
        result = tool.call(tool.args_model.model_validate({"user_name": name}))
        samples.append((time.perf_counter() - started) * 1000)
        if not result.ok:
            raise RuntimeError(f"get_player_summary failed for {name}: {result.summary}")
    return samples


def run(transactions: int = 1_000_000, repeats: int = 20, naive_repeats: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path, naive_path = Path(tmp) / "stats.sqlite", Path(tmp) / "naive.sqlite"
        started = time.perf_counter()
        write_stats_db(path, transactions, seed=7)
        built_s = time.perf_counter() - started
        dropped = without_indexes(path, naive_path)
        indexed, naive = SqliteStats(path), SummingStats(naive_path)
        summing = SummingStats(path)
        names = indexed.player_names()
        games = _games_per_player(path)
        for name in names:  # warm-up: connections open, pages cached, as in a running app
            _check(indexed.player_summary(name), name)
        samples = lookups(indexed, names, repeats, seed=1)
        _check(naive.player_summary(names[0]), names[0])
        naive_samples = lookups(naive, names, naive_repeats, seed=2)
        summing_samples = lookups(summing, names, naive_repeats, seed=3)
    p95 = percentile(samples, 95)
    naive_p95 = percentile(naive_samples, 95)
    return {
        "player_summary_ms_p95_1m": rounded(p95),
        "player_summary_naive_ms_p95_1m": rounded(naive_p95),
        "details": {
            "transactions": transactions,
            "players": len(names),
            "lookups": len(samples),
            "naive_lookups": len(naive_samples),
            "player_summary_ms_p50": rounded(percentile(samples, 50)),
            "naive_ms_p50": rounded(percentile(naive_samples, 50)),
            "summing_with_covering_index_ms_p95": rounded(percentile(summing_samples, 95)),
            "speedup_p95": rounded(naive_p95 / p95, 1) if p95 else None,
            "games_per_player_median": median(games),
            "games_per_player_max": max(games),
            "indexes_dropped_for_naive": dropped,
            "build_s": rounded(built_s, 1),
        },
    }


def _games_per_player(path: Path) -> list[int]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT COUNT(t.id) FROM players p LEFT JOIN transactions t "
            "ON t.user_name = p.user_name GROUP BY p.user_name"
        ).fetchall()
    finally:
        conn.close()
    return [count for (count,) in rows]


def _check(summary: Any, name: str) -> None:
    if summary is None:
        raise RuntimeError(f"the statistics file has no player {name}")
