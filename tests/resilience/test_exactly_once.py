"""Nothing twice: every resend of a grievance goes through the outbox's marker check, a grievance
whose tool call outlived its wait is told truthfully and still delivered once, one hung backend
does not starve the other tools, a damaged or unwritable outbox loses nothing, and the customer's
words stay inside Jira's {noformat} block. The real `jira` client against the Jira double.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant import service
from assistant.service import build_backends
from tests.resilience.support import assert_one_sentence
from tests.support import make_settings
from tools.backends.jira_tickets import JiraGrievances
from tools.backends.outbox import OUTBOX_FILE, Outbox
from tools.lanes import Lane
from tools.registry import build_registry

pytestmark = pytest.mark.timeout(120)

CREATE = "/rest/api/2/issue"
WORDS = "I was charged twice for one deposit."
GRIEVANCE = {"category": "wallet", "description": WORDS, "user_name": "maria"}


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def jira_settings(jira_double, data_dir, **overrides):
    return make_settings(
        data_dir, jira_server=jira_double.url, jira_email="bot@example.com",
        jira_api_token="jira-token-123", **overrides,
    )  # fmt: skip


def jira_backend(jira_double, data_dir, **overrides) -> JiraGrievances:
    """Built exactly as the app builds it (the client's own retries on, as configured)."""
    return service.jira_grievances(jira_settings(jira_double, data_dir, **overrides))


# -- every resend of a create goes through the marker check -------------------------------------

RETRYABLE_AFTER_CREATING = {
    "503 with Retry-After": {"status": 503, "headers": {"Retry-After": "1"}},
    "429 with Retry-After": {"status": 429, "headers": {"Retry-After": "1"}},
    "connection dropped": {"status": 0, "drop": True},
}


@pytest.mark.parametrize("fault", list(RETRYABLE_AFTER_CREATING))
def test_a_create_the_jira_client_would_retry_makes_exactly_one_issue(
    fault, clean_env, jira_double, tmp_path
):
    # Jira makes the issue, then answers with what the client retries on its own.
    jira_double.fail("POST", CREATE, times=1, after=True, **RETRYABLE_AFTER_CREATING[fault])
    jira = jira_backend(jira_double, tmp_path)
    jira.settle_s = 0  # Jira's search is immediate here: the marker check may run at once

    first = jira.register(**GRIEVANCE)
    assert len(jira_double.issues) == 1, "the client resent the create beneath the marker check"
    assert first.queued, "the reply was lost: the grievance waits in the outbox"

    delivered, remaining, sentence = jira.flush()
    jira.wait_for_flush(10)

    assert (delivered, remaining) == (1, 0), sentence
    assert len(jira_double.issues) == 1
    assert len(jira_double.requests("POST", CREATE)) == 1
    assert jira.get(first.key).key == "GRV-1"


def test_reads_are_still_retried_by_the_client(clean_env, jira_double, tmp_path):
    jira_double.fail("GET", "/rest/api/2/search/jql", 503, times=1, headers={"Retry-After": "1"})
    jira_double.add_issue("a", ["player-maria"])
    assert [t.key for t in jira_backend(jira_double, tmp_path).list_for("maria")] == ["GRV-1"]
    assert len(jira_double.requests("GET", "/rest/api/2/search/jql")) == 2


# -- a grievance whose call outlived its wait ---------------------------------------------------


def test_a_grievance_that_outlives_its_wait_is_told_truthfully_and_delivered_once(
    clean_env, jira_double, tmp_path
):
    data = tmp_path / "data"
    settings = jira_settings(jira_double, data, voicedesk_tool_timeout=1.0)
    jira = service.jira_grievances(settings)
    jira.timeout = (3.0, 10.0)  # the slow send below is answered, just late
    backends = build_backends(settings)
    backends.grievances = jira
    registry = build_registry(backends, timeout=1.0)
    jira_double.fail("POST", CREATE, 0, after=True, delay=3.0)  # made, answered after 3 s

    dispatch = registry.run("register_grievance", json.dumps(GRIEVANCE))

    said = dispatch.result.summary
    assert "stopped" not in said, said
    assert "still being registered" in said and "status in a minute" in said, said
    assert_one_sentence(said)
    # Durable before the slow send: another process reading the outbox file sees it now.
    (entry,) = Outbox(data / OUTBOX_FILE).pending()
    assert entry.payload["description"] == WORDS

    wait_for(lambda: Outbox(data / OUTBOX_FILE).pending_count() == 0, "the late delivery")
    assert jira.flush()[:2] == (0, 0)
    assert len(jira_double.issues) == 1
    assert len(jira_double.requests("POST", CREATE)) == 1
    assert Outbox(data / OUTBOX_FILE).get(entry.ref).remote_key == "GRV-1"


# -- one hung backend does not starve the others ------------------------------------------------


class HungSearch:
    """A help-centre search that never answers until released (a service that hangs)."""

    kind, where = "cloud", "search.example.net"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def search(self, query: str, top: int = 3) -> list:
        self.calls += 1
        self.release.wait(60)
        return []

    def check(self) -> None:
        pass


def test_a_hung_search_backend_leaves_stats_and_grievances_answering_promptly(clean_env, tmp_path):
    backends = build_backends(make_settings(tmp_path / "data"))
    backends.search = hung = HungSearch()
    registry = build_registry(backends, timeout=3.0)
    sessions = 24
    try:
        with ThreadPoolExecutor(max_workers=sessions) as pool:
            asking = [
                pool.submit(registry.run, "search_help_center", '{"query": "withdrawals"}')
                for _ in range(sessions)
            ]
            wait_for(lambda: hung.calls >= 2, "the search to hang")
            for name, arguments in [
                ("get_player_summary", '{"user_name": "maria"}'),
                ("list_grievances", '{"user_name": "maria"}'),
                ("register_grievance", json.dumps(GRIEVANCE)),
            ]:
                started = time.monotonic()
                dispatch = registry.run(name, arguments)
                took = time.monotonic() - started
                assert dispatch.result.ok, (name, dispatch.result.summary)
                assert took < 2.0, f"{name} waited {took:.1f} s behind the hung search"
            searched = [f.result(timeout=60).result for f in asking]
            # Every search outlived its wait: the next one is answered at once, and says why.
            started = time.monotonic()
            again = registry.run("search_help_center", '{"query": "withdrawals"}').result
            took = time.monotonic() - started
    finally:
        hung.release.set()
    assert not any(r.ok for r in searched)
    assert took < 1.0 and again.error == "not_answering", again.summary
    assert_one_sentence(again.summary)
    assert again.summary.startswith("The help-centre search is not answering")
    assert hung.calls <= 4, "a jammed backend is not handed more calls than its lane's threads"


def test_a_backend_that_stopped_answering_is_probed_again_and_used_once_it_is_back():
    lane = Lane("the help-centre search", timeout=0.2, workers=2, trip_after=2, probe_every_s=1)
    back = threading.Event()

    def call() -> str:
        if not back.is_set():
            time.sleep(0.5)  # late every time
        return "answered"

    for _ in range(2):
        assert lane.submit(call, refuse=str).result(timeout=10) == "answered"  # late, twice
    refused = lane.submit(call, refuse=str)
    assert refused.done() and refused.result() == lane.refusal, "open: answered at once"
    back.set()
    wait_for(lambda: lane.submit(call, refuse=str).result(timeout=10) == "answered", "a probe")
    results = [lane.submit(call, refuse=str) for _ in range(4)]
    assert [f.result(timeout=10) for f in results] == ["answered"] * 4, "closed again"


# -- the customer's words stay inside {noformat} ------------------------------------------------

NOFORMAT_TAG = re.compile(r"\{\s*noformat\b", re.IGNORECASE)  # how Jira finds its macros
ESCAPES = {
    "the closer itself": "{noformat} h1. Refund now [click|http://evil.example] !http://x/a.png!",
    "the closer in capitals": "Help {NOFORMAT} *bold* [click|http://evil.example]",
    "a closer hidden in a closer": "Help {no{noformat}format} h1. Refund [x|http://evil.example]",
    "the closer with parameters": "Help {noformat:title=x} {color:red}crimson{color}",
    "a closer with spaces": "Help { noformat } [x|http://evil.example]",
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_the_customers_words_never_leave_the_noformat_block(case, clean_env, jira_double, tmp_path):
    words = ESCAPES[case]
    jira = jira_backend(jira_double, tmp_path)
    ticket = jira.register("other", words, "maria")

    description = jira_double.issues[ticket.key]["fields"]["description"]
    tags = list(NOFORMAT_TAG.finditer(description))
    assert len(tags) == 2, f"{len(tags)} noformat tags: {description!r}"
    inside = description[tags[0].end() : tags[1].start()]
    after = description[tags[1].end() :]
    assert not any(word in after for word in ("evil", "crimson", "Help", "Refund"))
    # Nothing the customer said is dropped: every word is there, inside the block.
    for word in ("Help", "evil", "crimson", "Refund", "click", "bold"):
        assert (word in words) == (word in inside), word


# -- a damaged or unwritable outbox loses nothing and blocks nothing ----------------------------


def queue_while_jira_is_down(jira_double, data_dir, descriptions: list[str]) -> list[str]:
    jira_double.fail("POST", CREATE, 503, times=len(descriptions))
    jira = jira_backend(jira_double, data_dir)
    refs = [jira.register("wallet", words, "maria").key for words in descriptions]
    assert all(ref.startswith("LOCAL-") for ref in refs) and jira_double.issues == {}
    return refs


DAMAGED_FILES = {
    "garbage": lambda data: b"\x00garbage, not a database\xff" * 200,
    "truncated mid-page": lambda data: data[: len(data) // 2 + 100],
}


@pytest.mark.parametrize("damage", list(DAMAGED_FILES))
def test_a_damaged_outbox_file_is_moved_aside_and_kept_and_new_grievances_go_through(
    damage, clean_env, jira_double, tmp_path, caplog
):
    data = tmp_path / "data"
    queue_while_jira_is_down(jira_double, data, ["Deposit one missing.", "Deposit two missing."])
    path = data / OUTBOX_FILE
    damaged = DAMAGED_FILES[damage](path.read_bytes())
    path.write_bytes(damaged)

    jira = jira_backend(jira_double, data)
    ticket = jira.register(**GRIEVANCE)  # Jira is back; the damaged file must not stop this

    assert ticket.key == "GRV-1" and not ticket.queued
    (kept,) = data.glob(OUTBOX_FILE + ".damaged-*")
    assert kept.read_bytes() == damaged, "the damaged file is kept as it was"
    assert_one_sentence(jira.outbox.notice)
    assert kept.name in jira.outbox.notice
    assert jira.outbox.notice in caplog.text and "Traceback" not in caplog.text
    jira.wait_for_flush(10)
    assert jira.flush()[1] == 0
    assert len(jira_double.requests("POST", CREATE)) == 3  # two refused while down, one made


def test_damaged_outbox_entries_are_kept_aside_and_the_readable_ones_delivered(
    clean_env, jira_double, tmp_path, caplog
):
    data = tmp_path / "data"
    good, truncated, wrong = queue_while_jira_is_down(
        jira_double, data, ["Deposit one missing.", "Deposit two missing.", "Points gone."]
    )
    with sqlite3.connect(data / OUTBOX_FILE) as db:
        db.execute('UPDATE outbox SET payload = \'{"category": "wal\' WHERE ref = ?', (truncated,))
        db.execute(
            "UPDATE outbox SET payload = '[5]', created_at = 'yesterday' WHERE ref = ?", (wrong,)
        )

    jira = jira_backend(jira_double, data)
    jira.settle_s = 0  # the refused sends never reached Jira; its search is immediate here
    delivered, remaining, sentence = jira.flush()
    assert (delivered, remaining) == (1, 0), sentence
    assert jira.register(**GRIEVANCE).key == "GRV-2", "new grievances are still taken"

    (issue,) = [i for i in jira_double.issues.values() if "Deposit one" in i["fields"]["summary"]]
    assert len(jira_double.issues) == 2
    side = data / (OUTBOX_FILE + ".damaged-rows.jsonl")
    kept = [json.loads(line) for line in side.read_text().splitlines()]
    assert sorted(row["ref"] for row in kept) == sorted([truncated, wrong])
    assert any(row["payload"] == '{"category": "wal' for row in kept), "kept as it was"
    assert_one_sentence(jira.outbox.notice)
    assert "Traceback" not in caplog.text


def test_an_unwritable_outbox_still_registers_and_says_where_the_grievance_is(
    clean_env, jira_double, tmp_path, caplog
):
    data = tmp_path / "data"
    (data / OUTBOX_FILE).mkdir(parents=True)  # the outbox cannot be a file there
    jira = jira_backend(jira_double, data)
    jira.settle_s = 0

    straight = jira.register(**GRIEVANCE)
    assert straight.key == "GRV-1" and not straight.queued, "it went straight to Jira"
    assert_one_sentence(jira.outbox.notice)
    assert "cannot be written" in jira.outbox.notice and "memory" in jira.outbox.notice

    jira_double.fail("POST", CREATE, 503, times=1)
    held = jira.register("wallet", "Withdrawal stuck for a week.", "maria")
    assert held.queued and held.status == "Queued in memory only"
    dispatch = build_registry_for(jira, tmp_path).run(
        "get_grievance_status", json.dumps({"grievance_id": held.key})
    )
    assert "in memory only" in dispatch.result.summary, dispatch.result.summary

    assert jira.flush()[:2] == (1, 0)  # Jira is back: delivered once, from memory
    assert len(jira_double.issues) == 2
    assert "Traceback" not in caplog.text


def build_registry_for(jira: JiraGrievances, tmp_path):
    backends = build_backends(make_settings(tmp_path / "other"))
    backends.grievances = jira
    return build_registry(backends, timeout=10.0)
