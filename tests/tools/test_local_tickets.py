"""LocalGrievances against a real SQLite store: keys, seeds, dedupe, threads and processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from assistant import PROJECT_ROOT, service
from ops.demo_data import SEED_GRIEVANCES
from tests.support import isolate_env, make_settings
from tools.backends.local_tickets import LocalGrievances, fingerprint, make_summary
from tools.base import ToolUnavailable
from tools.grievances import summary_line


class Clock:
    """A settable UTC clock, so the ten-minute window and due dates can be checked exactly."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 2, 9, 30, 0, tzinfo=timezone.utc))


@pytest.fixture
def store(tmp_path, clock):
    return LocalGrievances(tmp_path / "tickets.sqlite", clock=clock, seeds=SEED_GRIEVANCES)


def count_rows(store) -> int:
    return sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM tickets").fetchone()[0]


def test_from_settings_uses_the_data_dir_and_project_key_without_io(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    settings = make_settings(tmp_path / "data", jira_project_key="HELP")
    store = service.local_grievances(settings)
    assert store.kind == "embedded" and store.project_key == "HELP"
    assert store.where == str(tmp_path / "data" / "tickets.sqlite")
    assert not (tmp_path / "data").exists()
    ticket = store.register("other", "The lobby music is too loud.", "dev")
    assert ticket.key.startswith("HELP-")
    assert service.local_grievances(make_settings(tmp_path / "x")).project_key == "GRV"


def test_seeded_tickets_appear_on_first_use(store):
    store.check()
    assert count_rows(store) == len(SEED_GRIEVANCES)
    maria = store.list_for("maria")
    assert [(t.category, t.status, t.status_category) for t in maria] == [
        ("wallet", "In Progress", "In Progress")
    ]
    assert maria[0].latest_comment and maria[0].priority == "High"
    assert [(t.category, t.status) for t in store.list_for("dev")] == [
        ("reward_points", "Resolved")
    ]
    assert store.list_for("sam") == []


def test_seeded_keys_follow_the_seed_file_order(store):
    store.check()
    for number, seed in enumerate(SEED_GRIEVANCES, start=1):
        ticket = store.get(f"GRV-{number}")
        assert ticket.user_name == seed["user_name"] and ticket.description == seed["description"]


def test_register_opens_a_ticket_with_sensible_fields(store, clock):
    ticket = store.register("wallet", "I was charged twice for a $5 rummy table.", "sam")
    assert ticket.key == f"GRV-{len(SEED_GRIEVANCES) + 1}"
    assert (ticket.user_name, ticket.category) == ("sam", "wallet")
    assert (ticket.status, ticket.status_category, ticket.priority) == ("Open", "To Do", "High")
    assert ticket.created == ticket.updated == "2026-11-02T09:30:00Z"
    assert ticket.due_date == "2026-11-05"  # wallet: three days
    assert ticket.summary == "Wallet: I was charged twice for a $5 rummy table"
    assert ticket.latest_comment is None and ticket.queued is False
    other = store.register("usage_history", "Yesterday's ludo games are missing.", "sam")
    assert other.due_date == "2026-11-09" and other.priority == "Low"  # others: seven days


@pytest.mark.parametrize(
    ("category", "priority"),
    [("wallet", "High"), ("reward_points", "Medium"), ("gaming_experience", "Medium"),
     ("usage_history", "Low"), ("other", "Low")],
)  # fmt: skip
def test_priority_follows_the_category(store, category, priority):
    assert store.register(category, f"A problem about {category}.", "dev").priority == priority


def test_the_same_grievance_within_ten_minutes_is_not_duplicated(store, clock):
    first = store.register("wallet", "My withdrawal of $40 is stuck.", "dev")
    clock.now += timedelta(minutes=9, seconds=59)
    again = store.register("wallet", "  my withdrawal of $40   is STUCK ", "dev")
    assert again == first
    other_player = store.register("wallet", "My withdrawal of $40 is stuck.", "maria")
    assert other_player.key != first.key
    clock.now += timedelta(minutes=1, seconds=1)
    later = store.register("wallet", "My withdrawal of $40 is stuck.", "dev")
    assert later.key != first.key
    assert count_rows(store) == len(SEED_GRIEVANCES) + 3


def test_get_accepts_its_own_keys_only(store):
    ticket = store.register("other", "Please change my avatar back.", "sam")
    number = ticket.key.split("-")[1]
    assert store.get(ticket.key) == ticket
    assert store.get(f"grv-{number}") == ticket
    assert store.get(f"ABC-{number}") is None
    assert store.get("GRV-99999") is None
    assert store.get("GRV-") is None and store.get("nonsense") is None
    assert store.get("LOCAL-3f2a9c") is None


def test_list_is_newest_first_and_only_the_players(store, clock):
    keys = []
    for text in ("First problem.", "Second problem.", "Third problem."):
        keys.append(store.register("other", text, "maria").key)
        clock.now += timedelta(minutes=1)
    listed = store.list_for("maria")
    assert [t.key for t in listed][:3] == keys[::-1]
    assert listed[-1].category == "wallet"  # her seeded ticket, from October, comes last
    assert {t.user_name for t in listed} == {"maria"}


def test_reseeding_is_idempotent_and_never_touches_user_tickets(store, clock):
    mine = store.register("wallet", "Deposit of $25 missing.", "sam")
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("UPDATE tickets SET status = 'Open' WHERE seed IS NOT NULL")
    assert store.reseed() == len(SEED_GRIEVANCES)
    assert store.reseed() == len(SEED_GRIEVANCES)
    assert store.get(mine.key) == mine
    assert store.list_for("maria")[0].status == "In Progress"  # restored
    assert count_rows(store) == len(SEED_GRIEVANCES) + 1
    nxt = store.register("other", "Next one.", "sam")
    assert int(nxt.key.split("-")[1]) == int(mine.key.split("-")[1]) + 1  # no gaps in keys


def test_a_second_instance_does_not_seed_twice(store, tmp_path):
    store.check()
    LocalGrievances(store.path, seeds=SEED_GRIEVANCES).check()
    assert count_rows(store) == len(SEED_GRIEVANCES)


def test_descriptions_are_stored_exactly(store):
    text = 'Robert\'); DROP TABLE tickets;-- charged me "twice" 💸'
    ticket = store.register("wallet", text, "dev")
    assert store.get(ticket.key).description == text
    assert count_rows(store) == len(SEED_GRIEVANCES) + 1


def test_threads_registering_the_same_grievance_make_one_ticket(store):
    def register(_):
        return store.register("wallet", "Charged twice for poker.", "maria").key

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(register, range(16)))
    assert len(keys) == 1


def test_threads_registering_different_grievances_get_distinct_keys(store):
    def register(i):
        return store.register("other", f"Problem number {i}.", "dev").key

    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(register, range(40)))
    assert len(set(keys)) == 40


def test_two_processes_share_the_store_safely(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from tools.backends.local_tickets import LocalGrievances
        from ops.demo_data import SEED_GRIEVANCES
        store = LocalGrievances(Path(sys.argv[1]), seeds=SEED_GRIEVANCES)
        for i in range(25):
            store.register("other", f"{sys.argv[2]} problem {i}", "dev")
            store.register("wallet", "Same double charge from both.", "maria")
        """
    )
    path = tmp_path / "tickets.sqlite"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), name], cwd=PROJECT_ROOT)
        for name in ("alpha", "beta")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    store = LocalGrievances(path, seeds=SEED_GRIEVANCES)
    descriptions = [t.description for t in store.list_for("dev")]
    assert len(descriptions) == 50 + 1  # plus dev's seeded ticket
    assert len([t for t in store.list_for("maria") if t.status == "Open"]) == 1
    assert count_rows(store) == len(SEED_GRIEVANCES) + 51


def test_the_store_uses_wal(store):
    store.check()
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_an_unusable_location_is_reported_in_one_sentence(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = LocalGrievances(blocker / "tickets.sqlite")
    with pytest.raises(ToolUnavailable, match="writable") as caught:
        store.check()
    assert "\n" not in str(caught.value)
    with pytest.raises(ToolUnavailable):
        store.register("other", "Anything.", "dev")


def test_summary_and_fingerprint_helpers():
    assert fingerprint("  Charged  TWICE!  ") == fingerprint("charged twice")
    long = "My " + "very " * 40 + "long complaint. Second sentence."
    summary = make_summary("reward_points", long)
    assert summary.startswith("Reward points: My very") and len(summary) <= 80
    assert summary.endswith("…")


def test_a_ticket_summary_is_the_customers_words_without_the_request_around_them():
    said = "Um, please file a complaint for her: she was charged twice for a $5 rummy table on Monday."
    ticket_summary = make_summary("wallet", said)
    assert ticket_summary == "Wallet: She was charged twice for a $5 rummy table on Monday"
    assert summary_line("My deposit of $50 vanished yesterday, can you register a grievance") == (
        "My deposit of $50 vanished yesterday"
    )
    assert summary_line("She says that her reward points were never credited, thanks") == (
        "Her reward points were never credited"
    )
    assert summary_line("I want to report a cheater in poker who folds to one player") == (
        "A cheater in poker who folds to one player"
    )
    assert summary_line("File a complaint. The app crashed in ludo and she lost 200 points.") == (
        "The app crashed in ludo and she lost 200 points"
    )
    assert summary_line("The report button does not work") == "The report button does not work"
