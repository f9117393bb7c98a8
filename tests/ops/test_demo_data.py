"""The demo data generator: realistic, deterministic, stable personas, any size, atomic file."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter, defaultdict

import pytest

from assistant import service
from assistant.config import ConfigError
from ops import demo_data
from ops.demo_data import (
    DEFAULT_TRANSACTIONS,
    GAMES,
    SEED_GRIEVANCES,
    iter_players,
    iter_transactions,
    main_demo_data,
    schema_statements,
    write_stats_db,
)
from tests.support import isolate_env, make_settings

CATEGORIES = {"wallet", "reward_points", "gaming_experience", "usage_history", "other"}


def per_game(rows, user_name):
    """game -> (games, fees, points, cash) for one player, from raw transaction tuples."""
    totals = defaultdict(lambda: [0, 0, 0, 0])
    for _, user, game, _, fee, points, cash in rows:
        if user == user_name:
            t = totals[game]
            t[0], t[1], t[2], t[3] = t[0] + 1, t[1] + fee, t[2] + points, t[3] + cash
    return {game: tuple(t) for game, t in totals.items()}


def test_players_are_many_varied_and_valid():
    players = list(iter_players())
    names = [p[0] for p in players]
    assert len(players) >= 60
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9_.-]{1,64}", n) for n in names)
    assert len({p[1] for p in players}) > 50  # display names vary too
    assert len({p[2] for p in players}) >= 10  # countries
    assert {p[4] for p in players} == {"bronze", "silver", "gold", "platinum"}
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", p[3]) for p in players)


def test_personas_have_their_names_and_games():
    players = {p[0]: p for p in iter_players()}
    assert players["maria"][1] == "Maria Lopez"
    assert players["dev"][1] == "Dev Patel"
    assert players["sam"][1] == "Sam Okafor"
    rows = list(iter_transactions())
    assert set(per_game(rows, "maria")) == {"chess", "poker"}
    assert set(per_game(rows, "dev")) == {"ludo", "rummy"}
    sam_games = sum(v[0] for v in per_game(rows, "sam").values())
    assert 1 <= sam_games <= 10  # a new player with a handful of games


def test_same_seed_gives_the_same_data():
    assert list(iter_players(7)) == list(iter_players(7))
    assert list(iter_transactions(3000, 7)) == list(iter_transactions(3000, 7))


def test_another_seed_gives_other_players_but_the_same_personas():
    rows7, rows8 = list(iter_transactions(3000, 7)), list(iter_transactions(3000, 8))
    assert list(iter_players(7)) != list(iter_players(8))
    assert rows7 != rows8
    for persona in ("maria", "dev", "sam"):
        assert per_game(rows7, persona) == per_game(rows8, persona)


def test_persona_stats_do_not_depend_on_the_size():
    default = list(iter_transactions(DEFAULT_TRANSACTIONS))
    bigger = list(iter_transactions(25_000))
    for persona in ("maria", "dev", "sam"):
        assert per_game(default, persona) == per_game(bigger, persona)
    # The figures a presenter quotes: games per game stay exactly these.
    counts = {p: {g: v[0] for g, v in per_game(default, p).items()} for p in ("maria", "dev")}
    assert counts == {"maria": {"chess": 46, "poker": 29}, "dev": {"ludo": 61, "rummy": 37}}


def test_transactions_are_consistent_and_realistic():
    players = {p[0]: p for p in iter_players()}
    rows = list(iter_transactions())
    assert len(rows) == DEFAULT_TRANSACTIONS
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    times = [r[3] for r in rows]
    assert times == sorted(times)  # ids follow time
    assert times[0] >= "2026-02-01T00:00:00" and times[-1] <= "2026-10-31T23:59:59"
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", t) for t in times)
    for _, user, game, played_at, fee, points, cash in rows:
        assert user in players and game in GAMES
        assert played_at[:10] >= players[user][3]  # nobody plays before joining
        assert fee in GAMES[game].stakes and points > 0 and cash >= 0
        assert cash == 0 or fee > 0  # free tables pay no cash
    assert set(Counter(r[2] for r in rows)) == set(GAMES)
    months = Counter(r[3][:7] for r in rows)
    assert len(months) == 9  # about nine months of play


def test_any_size_on_request(tmp_path):
    assert sum(1 for _ in iter_transactions(10)) == 10  # smaller than the scripted histories
    assert list(iter_transactions(0)) == []
    written = write_stats_db(tmp_path / "stats.sqlite", transactions=12_345)
    conn = sqlite3.connect(tmp_path / "stats.sqlite")
    assert written == 12_345
    assert conn.execute("SELECT COUNT(*), MAX(id) FROM transactions").fetchone() == (12_345, 12_345)
    with pytest.raises(ValueError):
        next(iter_transactions(-1))


def test_the_file_follows_the_schema_with_its_covering_index(tmp_path):
    write_stats_db(tmp_path / "stats.sqlite")
    conn = sqlite3.connect(tmp_path / "stats.sqlite")
    tables, indexes = schema_statements()
    assert len(tables) == 3 and len(indexes) == 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "ix_transactions_player_game" in names
    columns = [r[1] for r in conn.execute("PRAGMA table_info(transactions)")]
    assert columns == [
        "id", "user_name", "game", "played_at", "entry_fee_cents", "points", "cash_won_cents"
    ]  # fmt: skip
    assert conn.execute("SELECT COUNT(*) FROM players").fetchone()[0] == len(list(iter_players()))
    orphans = (
        "SELECT COUNT(*) FROM transactions WHERE user_name NOT IN (SELECT user_name FROM players)"
    )
    assert conn.execute(orphans).fetchone()[0] == 0


def test_the_totals_match_the_transactions_for_every_player(tmp_path):
    from tools.backends.sqlite_stats import PLAYER_SUMMARY_FROM_TRANSACTIONS_SQL, PLAYER_SUMMARY_SQL

    write_stats_db(tmp_path / "stats.sqlite", transactions=3000)
    conn = sqlite3.connect(tmp_path / "stats.sqlite")
    names = [n for (n,) in conn.execute("SELECT user_name FROM players")]
    for name in names:
        summed = conn.execute(PLAYER_SUMMARY_FROM_TRANSACTIONS_SQL, (name,)).fetchall()
        assert conn.execute(PLAYER_SUMMARY_SQL, (name,)).fetchall() == summed, name


def test_the_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "stats.sqlite"
    write_stats_db(path, transactions=500)
    reader = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    write_stats_db(path, transactions=800)
    # A reader of the old file still sees the old, whole file; a new reader sees the new one.
    assert reader.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 500
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 800
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.sqlite"]  # no temp files


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "stats.sqlite"
    write_stats_db(path, transactions=300)

    def broken(count, seed):
        yield from iter_transactions(100, seed)
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo_data, "iter_transactions", broken)
    with pytest.raises(RuntimeError):
        write_stats_db(path, transactions=1000)
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.sqlite"]


def test_seed_grievances_are_about_real_players():
    assert 8 <= len(SEED_GRIEVANCES) <= 15
    fields = {"user_name", "category", "description", "status", "status_category", "priority",
              "created", "updated", "due_date", "latest_comment"}  # fmt: skip
    for seed in SEED_GRIEVANCES:
        assert fields <= set(seed)
        assert seed["category"] in CATEGORIES
        assert (seed["status"], seed["status_category"]) in {
            ("Open", "To Do"), ("In Progress", "In Progress"), ("Resolved", "Done")
        }  # fmt: skip
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", seed["created"])
    assert len({s["seed"] for s in SEED_GRIEVANCES}) == len(SEED_GRIEVANCES)
    for seed_value in (7, 99):  # whatever seed the players were generated with
        names = {p[0] for p in iter_players(seed_value)}
        assert {s["user_name"] for s in SEED_GRIEVANCES} <= names


def test_seed_grievances_tell_the_personas_stories():
    by_user = defaultdict(list)
    for seed in SEED_GRIEVANCES:
        by_user[seed["user_name"]].append(seed)
    assert [(s["category"], s["status"]) for s in by_user["maria"]] == [("wallet", "In Progress")]
    assert [(s["category"], s["status"]) for s in by_user["dev"]] == [("reward_points", "Resolved")]
    assert by_user["sam"] == []


@pytest.fixture
def settings(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    return make_settings(tmp_path / "data")


def test_main_demo_data_builds_everything_and_reports(settings):
    report = main_demo_data(settings, 2000)
    data_dir = settings.voicedesk_data_dir
    assert "2,000 games" in report and str(data_dir) in report and "\n" not in report
    for name in ("stats.sqlite", "search.sqlite", "tickets.sqlite"):
        assert (data_dir / name).is_file()
    count = sqlite3.connect(data_dir / "stats.sqlite").execute("SELECT COUNT(*) FROM transactions")
    assert count.fetchone()[0] == 2000


def test_regenerating_keeps_user_grievances_and_restores_seeds(settings):
    main_demo_data(settings, 1000)
    store = service.local_grievances(settings)
    mine = store.register("wallet", "My $20 deposit never arrived.", "sam")
    seeded = store.list_for("maria")[0]
    conn = sqlite3.connect(settings.voicedesk_data_dir / "tickets.sqlite")
    with conn:  # someone edits a seeded ticket by hand
        conn.execute("UPDATE tickets SET status = 'Open' WHERE seed IS NOT NULL")
    main_demo_data(settings, 1500)
    again = service.local_grievances(settings)
    assert again.get(mine.key) == mine
    assert again.list_for("maria") == [seeded]
    total = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    assert total == len(SEED_GRIEVANCES) + 1


def test_main_demo_data_refuses_a_negative_size(settings):
    with pytest.raises(ConfigError, match="zero or more"):
        main_demo_data(settings, -5)


def test_main_demo_data_says_when_the_folder_is_not_writable(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="writable"):
        main_demo_data(make_settings(blocker / "data"), 100)
