"""A deterministic, realistic PlayArena data set: players, game transactions, seeded grievances.

Rows follow data/schema.sql in column order, so the same generators load SQLite here and
Azure SQL or PostgreSQL elsewhere. Three demo personas (`maria`, `dev`, `sam`) and a small
supporting cast have scripted, stable histories whatever the seed or the size asked for;
everyone else is drawn from a seeded random generator.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from assistant import PROJECT_ROOT
from tools.backends.sqlite_stats import TOTALS_REFRESH_SQL

DATA_DIR = PROJECT_ROOT / "data"
SCHEMA_PATH = DATA_DIR / "schema.sql"
SEED_GRIEVANCES_PATH = DATA_DIR / "seed_grievances.json"

DEFAULT_TRANSACTIONS = 6000
GENERATED_PLAYERS = 66  # plus 3 personas and 8 supporting players: 77 in all

# The demo window: nine months of play, in UTC. Fixed so that every regeneration agrees.
WINDOW_START = datetime(2026, 2, 1)
WINDOW_DAYS = 273  # up to and including 2026-10-31

PlayerRow = tuple[str, str, str, str, str]  # user_name, display_name, country, joined_on, tier
TransactionRow = tuple[int, str, str, str, int, int, int]  # id, user_name, game, played_at, ...


@dataclass(frozen=True)
class Game:
    name: str
    stakes: tuple[int, ...]  # entry fees offered, in cents (0 = free table)
    win_rate: float  # chance an average player wins a paid table
    payout: tuple[float, float]  # what a win pays, as a multiple of the entry fee (after rake)
    base_points: int


GAMES = {
    g.name: g
    for g in (
        Game("chess", (0, 50, 100, 200, 500), 0.48, (1.8, 1.8), 12),
        Game("poker", (100, 200, 500, 1000, 2500), 0.22, (2.5, 6.0), 15),
        Game("ludo", (0, 25, 50, 100, 200), 0.26, (3.4, 3.4), 8),
        Game("rummy", (50, 100, 250, 500, 1000), 0.34, (2.2, 3.6), 10),
        Game("carrom", (0, 50, 100, 300), 0.47, (1.8, 1.8), 9),
        Game("snakes_and_ladders", (0, 10, 25, 50), 0.25, (3.4, 3.4), 5),
    )
}


def game_points(game: Game, fee_cents: int, won: bool) -> int:
    """Reward points for one game: a base, 1 point per 20 cents staked, a bonus for a win."""
    return game.base_points + fee_cents // 20 + (25 if won else 0)


# --- players -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    user_name: str
    display_name: str
    country: str
    joined_on: str
    tier: str
    # game -> (games, stakes to choose from, win rate); None for the supporting cast, who
    # play through the random stream like everyone else.
    script: dict[str, tuple[int, tuple[int, ...], float]] | None
    first_day: int = 0  # day of the window the scripted history starts on
    games: tuple[str, ...] = ()  # preferred games for the supporting cast


PERSONAS = (
    Persona("maria", "Maria Lopez", "ES", "2024-03-14", "gold",
            {"chess": (46, (100, 200, 500), 0.56), "poker": (28, (500, 1000, 2500), 0.3)}),
    Persona("dev", "Dev Patel", "IN", "2025-06-02", "silver",
            {"ludo": (61, (25, 50, 100), 0.31), "rummy": (37, (100, 250, 500), 0.37)}),
    Persona("sam", "Sam Okafor", "NG", "2026-10-22", "bronze",
            {"ludo": (3, (0, 25), 0.33), "chess": (2, (0, 50), 0.5)}, first_day=263),
)  # fmt: skip

# Players the seeded grievances are about: fixed names, random-stream histories.
SUPPORTING_CAST = (
    Persona("priya.sharma", "Priya Sharma", "IN", "2023-08-19", "platinum", None,
            games=("ludo", "rummy", "carrom")),
    Persona("jamie_carter", "Jamie Carter", "GB", "2024-11-03", "silver", None,
            games=("poker", "chess")),
    Persona("lucas88", "Lucas Silva", "BR", "2025-01-27", "gold", None, games=("poker",)),
    Persona("amaka.eze", "Amaka Eze", "NG", "2025-09-10", "bronze", None,
            games=("ludo", "snakes_and_ladders")),
    Persona("rook_raider", "Ethan Brooks", "US", "2022-05-30", "platinum", None,
            games=("chess",)),
    Persona("hannah.reid", "Hannah Reid", "CA", "2026-03-05", "bronze", None,
            games=("chess", "ludo")),
    Persona("arjun_rao", "Arjun Rao", "IN", "2024-02-12", "gold", None,
            games=("rummy", "poker", "carrom")),
    Persona("wanjiru.k", "Wanjiru Kamau", "KE", "2025-04-22", "silver", None,
            games=("carrom", "ludo")),
)  # fmt: skip

PERSONA_NAMES = frozenset(p.user_name for p in PERSONAS)

# Names by region, with the games people there tend to play (weights in GAMES order).
_REGIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[int, ...]]] = {
    "india": (("IN",),
        ("Aarav", "Ananya", "Rohan", "Isha", "Vikram", "Kavya", "Kabir", "Neha", "Aditya",
         "Meera", "Rahul", "Pooja", "Siddharth", "Divya", "Karan", "Sneha"),
        ("Sharma", "Iyer", "Reddy", "Nair", "Gupta", "Singh", "Mehta", "Kapoor", "Das",
         "Joshi", "Menon", "Bose"),
        (3, 2, 9, 9, 6, 4)),
    "anglo": (("US", "GB", "CA", "AU"),
        ("James", "Emily", "Jack", "Olivia", "Noah", "Chloe", "Liam", "Grace", "Owen",
         "Ruby", "Ryan", "Megan"),
        ("Smith", "Hughes", "Walsh", "Bennett", "Foster", "Morgan", "Turner", "Collins",
         "Murphy", "Price"),
        (7, 8, 3, 2, 1, 2)),
    "west_africa": (("NG", "GH"),
        ("Chinedu", "Ngozi", "Tunde", "Funmi", "Emeka", "Ifeoma", "Kwame", "Abena", "Segun",
         "Yetunde"),
        ("Adeyemi", "Okonkwo", "Balogun", "Nwosu", "Afolabi", "Mensah", "Boateng", "Okoro"),
        (4, 3, 8, 3, 2, 4)),
    "latin": (("BR", "MX", "AR"),
        ("Rafael", "Beatriz", "Thiago", "Camila", "Diego", "Lucía", "Mateo", "Valentina",
         "Joaquín", "Larissa"),
        ("Souza", "Oliveira", "Costa", "Almeida", "Hernández", "Ramírez", "Torres", "Castro"),
        (6, 8, 4, 2, 1, 2)),
    "europe": (("DE", "FR", "PL", "ES"),
        ("Jonas", "Lena", "Felix", "Chloé", "Lukas", "Zofia", "Pablo", "Élodie", "Jakub",
         "Nina"),
        ("Müller", "Schneider", "Dubois", "Moreau", "Nowak", "Kowalski", "Navarro", "Fischer"),
        (9, 7, 3, 2, 1, 1)),
    "se_asia": (("PH", "ID"),
        ("Paolo", "Andrea", "Miguel", "Bea", "Budi", "Siti", "Agus", "Dewi"),
        ("Reyes", "Santos", "Cruz", "Bautista", "Santoso", "Wijaya", "Pratama"),
        (4, 6, 5, 3, 2, 3)),
}  # fmt: skip
_REGION_WEIGHTS = {"india": 30, "anglo": 20, "west_africa": 12, "latin": 14, "europe": 12, "se_asia": 12}  # fmt: skip
_TAG_WORDS = (
    ("rook", "pawn", "ace", "dice", "queen", "knight", "bluff", "striker", "ludo", "royal",
     "lucky", "silent", "grand", "rapid", "golden"),
    ("raider", "master", "hunter", "runner", "wizard", "shark", "legend", "ninja", "king",
     "storm", "fox", "pilot"),
)  # fmt: skip
_TIERS = (("platinum", 0.08), ("gold", 0.25), ("silver", 0.6), ("bronze", 1.0))


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _user_name(rng: random.Random, first: str, last: str) -> str:
    f, la = _ascii(first), _ascii(last)
    style = rng.randrange(7)
    if style == 0:
        return f"{f}.{la}"
    if style == 1:
        return f"{f}_{la}"
    if style == 2:
        return f"{f}{la[0]}{rng.randrange(1, 100)}"
    if style == 3:
        return f"{f}{rng.choice(('', '_'))}{rng.randrange(1985, 2008)}"
    if style == 4:
        return f"{f[0]}{la}"
    if style == 5:
        return f"{rng.choice(_TAG_WORDS[0])}_{rng.choice(_TAG_WORDS[1])}"
    return f"{rng.choice(_TAG_WORDS[0])}{rng.choice(_TAG_WORDS[1])}{rng.randrange(1, 100)}"


@dataclass(frozen=True)
class _Player:
    row: PlayerRow
    weight: float  # relative activity
    games: tuple[str, ...]  # games this player plays, most played first
    stake_bias: float  # 0 = always the lowest stake, 1 = happy at the highest
    skill: float  # added to a game's win rate


def _generated_players(seed: int) -> list[_Player]:
    rng = random.Random(f"players:{seed}")
    taken = set(PERSONA_NAMES) | {p.user_name for p in SUPPORTING_CAST}
    drafts = []
    regions = list(_REGION_WEIGHTS)
    while len(drafts) < GENERATED_PLAYERS:
        region = rng.choices(regions, weights=[_REGION_WEIGHTS[r] for r in regions])[0]
        countries, firsts, lasts, game_weights = _REGIONS[region]
        first, last = rng.choice(firsts), rng.choice(lasts)
        name = _user_name(rng, first, last)
        if name in taken:
            continue
        taken.add(name)
        joined = (
            date(2022, 1, 1) + timedelta(days=rng.randrange(1492))  # before the window
            if rng.random() < 0.8
            else WINDOW_START.date() + timedelta(days=rng.randrange(240))  # during it
        )
        n_games = rng.choices((1, 2, 3), weights=(3, 4, 2))[0]
        games = []
        while len(games) < n_games:
            game = rng.choices(list(GAMES), weights=game_weights)[0]
            if game not in games:
                games.append(game)
        weight = rng.paretovariate(1.6)  # a few players play a lot
        row = (name, f"{first} {last}", rng.choice(countries), joined.isoformat(), "")
        drafts.append((row, weight, tuple(games), rng.random(), rng.uniform(-0.08, 0.1)))
    # Tiers follow activity: the busiest players are platinum.
    ranked = sorted(range(len(drafts)), key=lambda i: -drafts[i][1])
    tiers = {}
    for rank, i in enumerate(ranked):
        share = (rank + 1) / len(ranked)
        tiers[i] = next(t for t, upto in _TIERS if share <= upto)
    players = []
    for i, (row, weight, games, bias, skill) in enumerate(drafts):
        players.append(_Player((*row[:4], tiers[i]), weight, games, bias, skill))  # type: ignore[arg-type]
    return players


def _cast_players() -> list[_Player]:
    rng = random.Random("cast")
    return [
        _Player(
            (p.user_name, p.display_name, p.country, p.joined_on, p.tier),
            weight=rng.uniform(2.0, 3.5),
            games=p.games,
            stake_bias=rng.uniform(0.3, 0.7),
            skill=rng.uniform(0.0, 0.08),
        )
        for p in SUPPORTING_CAST
    ]


def iter_players(seed: int = 7) -> Iterator[PlayerRow]:
    """Every player as (user_name, display_name, country, joined_on, tier), schema order."""
    for p in PERSONAS:
        yield (p.user_name, p.display_name, p.country, p.joined_on, p.tier)
    for player in _cast_players() + _generated_players(seed):
        yield player.row


# --- transactions ------------------------------------------------------------------------

# Share of play in each UTC hour: evenings in India (13-18 UTC) and the Americas (0-3 UTC).
_HOURLY = (6, 5, 4, 3, 2, 2, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 12, 11, 10, 9, 8, 8, 7, 7)
_HOUR_CUM = np.concatenate(([0.0], np.cumsum(_HOURLY) / sum(_HOURLY)))
_GROWTH = 0.5  # the platform grows: the last day is 1.5 times as busy as the first
_EPOCH = np.datetime64(WINDOW_START.isoformat(), "s")


def _grow(q: np.ndarray) -> np.ndarray:
    """Quantiles in [0, 1) to day positions, following the growth trend (monotonic)."""
    g = _GROWTH
    return (np.sqrt(1 + 2 * g * (1 + g / 2) * q) - 1) / g * WINDOW_DAYS


def _timestamps(positions: np.ndarray) -> list[str]:
    """Day positions in the window to 'YYYY-MM-DDTHH:MM:SS' texts, monotonic.

    The fraction of each day is spread over the hours by the hour-of-day profile.
    """
    positions = np.clip(positions, 0.0, WINDOW_DAYS - 1e-7)
    days = np.floor(positions)
    hours = np.interp(positions - days, _HOUR_CUM, np.arange(25))
    seconds = days.astype(np.int64) * 86400 + np.minimum(hours * 3600, 86399).astype(np.int64)
    return np.datetime_as_string(_EPOCH + seconds, unit="s").tolist()


def _result(rng: random.Random, game: Game, fee: int, win_rate: float) -> tuple[int, int]:
    """(points, cash won in cents) for one game at a given entry fee."""
    won = rng.random() < win_rate
    cash = 0
    if won and fee:
        low, high = game.payout
        cash = int(round(fee * (low if low == high else rng.uniform(low, high))))
    return game_points(game, fee, won), cash


Row = tuple[str, str, str, int, int, int]  # played_at, user_name, game, fee, points, cash


def _persona_rows(persona: Persona) -> list[Row]:
    """A persona's scripted history, sorted by time: independent of seed and size."""
    rng = random.Random(f"persona:{persona.user_name}")
    drafts = []
    assert persona.script is not None
    span = WINDOW_DAYS - persona.first_day
    for game_name, (count, stakes, win_rate) in persona.script.items():
        game = GAMES[game_name]
        for _ in range(count):
            position = persona.first_day + rng.random() * (span - 1)
            fee = rng.choice(stakes)
            points, cash = _result(rng, game, fee, win_rate)
            drafts.append((position, game_name, fee, points, cash))
    stamps = _timestamps(np.array([d[0] for d in drafts]))
    rows = [(t, persona.user_name, *d[1:]) for t, d in zip(stamps, drafts, strict=True)]
    return sorted(rows)  # type: ignore[arg-type]


# Maria's poker tournament entry on 26 October, the one her wallet grievance is about.
_PINNED: tuple[Row, ...] = (
    ("2026-10-26T19:40:12", "maria", "poker", 1000, game_points(GAMES["poker"], 1000, False), 0),
)


def _scripted_rows() -> list[Row]:
    rows = [row for p in PERSONAS for row in _persona_rows(p)]
    return sorted([*rows, *_PINNED])


class _Population:
    """The cast and generated players as arrays, sorted by join date, for vector draws."""

    def __init__(self, seed: int):
        players = sorted(_cast_players() + _generated_players(seed), key=lambda p: p.row[3])
        start = WINDOW_START.date()
        self.names = [p.row[0] for p in players]
        self.joined_day = np.array([(date.fromisoformat(p.row[3]) - start).days for p in players])
        self.cum_weight = np.cumsum([p.weight for p in players])
        self.stake_bias = np.array([p.stake_bias for p in players])
        self.skill = np.array([p.skill for p in players])
        # Each player's games, the first one most often: ("ludo", "rummy") -> l l l r r.
        self.game_names = list(GAMES)
        picks = [
            [
                self.game_names.index(g)
                for i, g in enumerate(p.games)
                for _ in range(len(p.games) - i + 1)
            ]
            for p in players
        ]
        width = max(len(row) for row in picks)
        self.picks = np.array([row + [row[0]] * (width - len(row)) for row in picks])
        self.pick_count = np.array([len(row) for row in picks])
        games = list(GAMES.values())
        depth = max(len(g.stakes) for g in games)
        self.stakes = np.array([list(g.stakes) + [0] * (depth - len(g.stakes)) for g in games])
        self.top_stake = np.array([len(g.stakes) - 1 for g in games])
        self.win_rate = np.array([g.win_rate for g in games])
        self.payout_low = np.array([g.payout[0] for g in games])
        self.payout_high = np.array([g.payout[1] for g in games])
        self.base_points = np.array([g.base_points for g in games])


_CHUNK = 50_000


def _random_rows(count: int, seed: int) -> Iterator[Row]:
    """`count` games by the cast and generated players, in time order, drawn in vectors."""
    if count <= 0:
        return
    pop = _Population(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20260201]))
    for begin in range(0, count, _CHUNK):
        n = min(_CHUNK, count - begin)
        u = rng.random((7, n))
        positions = _grow((np.arange(begin, begin + n) + u[0]) / count)
        # Only players who had joined by that day; pick one by activity weight.
        eligible = np.maximum(np.searchsorted(pop.joined_day, np.floor(positions), "right"), 1)
        player = np.searchsorted(pop.cum_weight, u[1] * pop.cum_weight[eligible - 1], "right")
        player = np.minimum(player, eligible - 1)
        game = pop.picks[player, (u[2] * pop.pick_count[player]).astype(np.int64)]
        # Stakes: a player with a high bias climbs the ladder more often.
        top = pop.top_stake[game]
        step = (u[3] * (1 + pop.stake_bias[player] * top) + 0.5 * u[4]).astype(np.int64)
        fee = pop.stakes[game, np.minimum(step, top)]
        won = u[5] < pop.win_rate[game] + pop.skill[player]
        low, high = pop.payout_low[game], pop.payout_high[game]
        cash = np.where(won, np.rint(fee * (low + (high - low) * u[6])), 0).astype(np.int64)
        points = pop.base_points[game] + fee // 20 + np.where(won, 25, 0)
        names = [pop.names[i] for i in player.tolist()]
        games = [pop.game_names[i] for i in game.tolist()]
        yield from zip(
            _timestamps(positions),
            names,
            games,
            fee.tolist(),
            points.tolist(),
            cash.tolist(),
            strict=True,
        )


def iter_transactions(count: int = DEFAULT_TRANSACTIONS, seed: int = 7) -> Iterator[TransactionRow]:
    """`count` transactions as (id, user_name, game, played_at, entry_fee_cents, points,
    cash_won_cents), schema order, ids 1.. in time order.

    The personas' scripted games are always included (unless `count` is smaller than them);
    the rest are drawn from the seeded random stream.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    scripted = _scripted_rows()
    others = _random_rows(count - len(scripted), seed)
    merged = heapq.merge(scripted, others)
    for number, (played_at, user, game, fee, points, cash) in enumerate(merged, start=1):
        if number > count:
            return
        yield number, user, game, played_at, fee, points, cash


# --- the SQLite file ---------------------------------------------------------------------


def schema_statements(path: Path = SCHEMA_PATH) -> tuple[list[str], list[str]]:
    """data/schema.sql as (CREATE TABLE statements, CREATE INDEX statements).

    Comments are dropped first (one of them holds a semicolon). Indexes come apart so a bulk
    load can build them after the rows are in, which is several times faster.
    """
    lines = [line.split("--", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()]
    statements = [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    tables = [s for s in statements if not s.upper().startswith("CREATE INDEX")]
    indexes = [s for s in statements if s.upper().startswith("CREATE INDEX")]
    return tables, indexes


_BATCH = 20_000


def write_stats_db(path: Path, transactions: int = DEFAULT_TRANSACTIONS, seed: int = 7) -> int:
    """Build the player-statistics SQLite file atomically; return the transactions written.

    Written to a temporary file beside `path` and renamed over it, so readers see either the
    old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        written = _fill(temp, transactions, seed)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return written


def _fill(target: Path, transactions: int, seed: int) -> int:
    tables, indexes = schema_statements()
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        # A throwaway file until the rename: no journal, no syncs, big pages in memory.
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA threads=2")  # the index build may sort on a helper thread
        conn.execute("BEGIN")
        for statement in tables:
            conn.execute(statement)
        conn.executemany("INSERT INTO players VALUES (?, ?, ?, ?, ?)", iter_players(seed))
        rows = iter_transactions(transactions, seed)
        written = 0
        insert = "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?)"
        while True:
            batch = list(islice(rows, _BATCH))
            if not batch:
                break
            conn.executemany(insert, batch)
            written += len(batch)
        for statement in TOTALS_REFRESH_SQL:
            conn.execute(statement)
        for statement in indexes:
            conn.execute(statement)
        conn.execute("COMMIT")
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")  # lets the planner trust the covering index
        conn.execute("PRAGMA journal_mode=DELETE")  # readers open it read-only, no WAL files
    finally:
        conn.close()
    return written


# --- grievances and the CLI hook ---------------------------------------------------------


def _load_seed_grievances() -> list[dict[str, Any]]:
    with SEED_GRIEVANCES_PATH.open(encoding="utf-8") as handle:
        return json.load(handle)


SEED_GRIEVANCES: list[dict[str, Any]] = _load_seed_grievances()


def main_demo_data(settings: Any, transactions: int | None = None) -> str:
    """(Re)generate the demo data in the data folder; return a one-line report.

    Rebuilds the statistics file and the help-centre index and upserts the seeded
    grievances. Grievances users registered are never touched.
    """
    from assistant import service
    from assistant.config import ConfigError
    from tools.backends.local_search import MANUALS_DIR, build_index
    from tools.base import ToolUnavailable

    count = DEFAULT_TRANSACTIONS if transactions is None else transactions
    if count < 0:
        raise ConfigError("The number of transactions must be zero or more.")
    started = time.perf_counter()
    data_dir = Path(settings.voicedesk_data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        written = write_stats_db(data_dir / "stats.sqlite", count)
        passages = build_index(data_dir / "search.sqlite", MANUALS_DIR)
        seeded = service.local_grievances(settings).reseed()
    except (OSError, sqlite3.Error, ToolUnavailable):
        raise ConfigError(
            f"Could not write the demo data to {data_dir}; check that the folder is writable "
            "or set VOICEDESK_DATA_DIR to one that is."
        ) from None
    players = sum(1 for _ in iter_players())
    manuals = len(list(MANUALS_DIR.glob("*.md")))
    seconds = time.perf_counter() - started
    return (
        f"Wrote {written:,} games by {players} players, indexed {passages} help passages from "
        f"{manuals} manuals and seeded {seeded} grievances in {data_dir} ({seconds:.1f} s)."
    )
