"""SqliteStats against a real SQLite file built by the demo-data generator."""

from __future__ import annotations

import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant import service
from ops import demo_data
from ops.demo_data import write_stats_db
from tests.support import isolate_env, make_settings
from tools.backends.sqlite_stats import (
    PLAYER_NAMES_SQL,
    PLAYER_SUMMARY_SQL,
    SqliteStats,
)
from tools.base import ToolUnavailable


@pytest.fixture
def settings(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    return make_settings(tmp_path / "data")


@pytest.fixture
def stats(settings):
    backend = service.sqlite_stats(settings)
    backend.check()  # builds the file
    return backend


def expected_totals(path, user_name):
    """The same figures computed independently, one aggregate at a time."""
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT game, COUNT(*), SUM(entry_fee_cents), SUM(points), SUM(cash_won_cents), "
        "MAX(played_at) FROM transactions WHERE user_name = ? GROUP BY game",
        (user_name,),
    ).fetchall()
    return {g: (n, fee / 100, pts, cash / 100, last) for g, n, fee, pts, cash, last in rows}


def test_constructor_does_no_io_and_first_use_creates_the_file(settings):
    backend = service.sqlite_stats(settings)
    assert backend.kind == "embedded"
    assert backend.where == str(settings.voicedesk_data_dir / "stats.sqlite")
    assert not settings.voicedesk_data_dir.exists()
    assert backend.player_summary("maria") is not None
    assert (settings.voicedesk_data_dir / "stats.sqlite").is_file()


def test_summary_has_one_entry_per_game_in_dollars(stats):
    summary = stats.player_summary("maria")
    assert summary.display_name == "Maria Lopez"
    got = {
        g.game: (g.games_played, g.entry_fees, g.points_earned, g.cash_won, g.last_played)
        for g in summary.games
    }
    assert got == expected_totals(stats.path, "maria")
    assert [g.game for g in summary.games] == ["chess", "poker"]  # most played first
    assert summary.games_played == sum(v[0] for v in got.values())


def test_every_player_summary_matches_the_raw_rows(stats):
    for name in stats.player_names():
        summary = stats.player_summary(name)
        got = {g.game: g.games_played for g in summary.games}
        assert got == {g: v[0] for g, v in expected_totals(stats.path, name).items()}


def test_new_player_and_unknown_player(stats, settings):
    sam = stats.player_summary("sam")
    assert sam.display_name == "Sam Okafor" and 1 <= sam.games_played <= 10
    assert stats.player_summary("nobody_here") is None
    assert stats.player_summary("MARIA") is None  # user names are stored lower-case


def test_a_player_without_games_has_an_empty_summary(tmp_path):
    path = tmp_path / "stats.sqlite"
    write_stats_db(path, transactions=0)
    summary = SqliteStats(path).player_summary("maria")
    assert summary.display_name == "Maria Lopez" and summary.games == []


def test_player_names_are_sorted_and_complete(stats):
    names = stats.player_names()
    assert names == sorted(names)
    assert {"maria", "dev", "sam"} <= set(names) and len(names) >= 60


def test_the_summary_reads_the_totals_by_key_never_the_transactions(stats):
    conn = sqlite3.connect(stats.path)
    plan = " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + PLAYER_SUMMARY_SQL, ("x",)))
    assert "SEARCH g USING INDEX sqlite_autoindex_player_game_totals_1 (user_name=?)" in plan
    assert "transactions" not in plan and "SCAN" not in plan


def test_summing_the_transactions_would_read_the_covering_index(stats):
    from tools.backends.sqlite_stats import PLAYER_SUMMARY_FROM_TRANSACTIONS_SQL as SUMMED

    conn = sqlite3.connect(stats.path)
    plan = " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + SUMMED, ("x",)))
    assert "COVERING INDEX ix_transactions_player_game" in plan


def test_statements_stay_in_the_portable_subset():
    for sql in (PLAYER_SUMMARY_SQL, PLAYER_NAMES_SQL):
        upper = sql.upper()
        assert not re.search(r"\b(LIMIT|TOP|GETDATE|NOW|IFNULL|ISNULL|STRFTIME)\b", upper)
        assert not re.search(r"[:@$]\w", sql)  # only ? placeholders
    assert PLAYER_SUMMARY_SQL.count("?") == 1


def test_connections_are_read_only(stats):
    stats.player_summary("maria")
    conn = stats._connection()  # this thread's connection, as the backend uses it
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM players")


def test_threads_share_one_lazily_built_file(settings, monkeypatch):
    builds = []
    real = demo_data.write_stats_db

    def counting(*args, **kwargs):
        builds.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(demo_data, "write_stats_db", counting)
    backend = service.sqlite_stats(settings)
    names = ["maria", "dev", "sam", "priya.sharma"] * 8
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(backend.player_summary, names))
    assert len(builds) == 1
    assert all(r is not None for r in results)
    assert len({str(r) for r in results if r.user_name == "maria"}) == 1


def test_a_regenerated_file_is_picked_up(stats):
    before = stats.player_summary("priya.sharma").games_played
    write_stats_db(stats.path, transactions=30_000)
    after = stats.player_summary("priya.sharma").games_played
    assert after > before
    assert stats.player_summary("maria").games_played == 75  # personas stay the same


def test_a_broken_file_is_reported_in_one_sentence(tmp_path):
    path = tmp_path / "stats.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    backend = SqliteStats(path)
    with pytest.raises(ToolUnavailable) as caught:
        backend.check()
    message = str(caught.value)
    assert "demo-data" in message and message.endswith(".") and "\n" not in message
    with pytest.raises(ToolUnavailable):
        backend.player_summary("maria")
