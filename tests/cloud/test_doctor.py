"""check_backends: one row per tool backend, time-bound, never a secret."""

from __future__ import annotations

import threading

from assistant.doctor import Row, check_backends
from tests.support import make_settings
from tools.backends import Backends
from tools.backends.jira_tickets import fingerprint
from tools.backends.outbox import OUTBOX_FILE, Outbox
from tools.base import ToolUnavailable

SECRETS = ("jira-token-123", "search-key-123", "hunter2")


def cloud_settings(tmp_path, jira, search, sqlite_driver, stats_path, **extra):
    options = dict(
        jira_server=jira.url, jira_email="bot@example.com", jira_api_token="jira-token-123",
        azure_search_endpoint=search.url, azure_search_index="help",
        azure_search_api_key="search-key-123", azure_search_semantic_configuration="default",
        sql_connection_string=f"DRIVER={{{sqlite_driver}}};Database={stats_path};PWD=hunter2;",
    )  # fmt: skip
    options.update(extra)
    return make_settings(tmp_path, **options)


def no_secret_in(rows: list[Row]) -> bool:
    text = " ".join(str(v) for row in rows for v in vars(row).values()) + "".join(
        row.line() for row in rows
    )
    return not any(secret in text for secret in SECRETS)


def test_embedded_backends_all_answer(clean_env, tmp_path):
    rows = check_backends(make_settings(tmp_path))
    assert [r.tool for r in rows] == ["Player statistics", "Help centre", "Grievances"]
    assert all(r.ok and r.kind == "embedded" and r.fix is None for r in rows), rows
    assert all(str(tmp_path) in r.where and r.latency is not None for r in rows)


def test_cloud_backends_all_answer_and_say_where(
    clean_env, tmp_path, jira_double, search_double, sqlite_odbc
):
    from ops.demo_data import write_stats_db

    stats_path = tmp_path / "azure.sqlite"
    write_stats_db(stats_path, transactions=300)
    search_double.add_index(
        "help", {"semantic": {"configurations": [{"name": "default", "prioritizedFields": {}}]}}
    )
    settings = cloud_settings(tmp_path, jira_double, search_double, sqlite_odbc, stats_path)

    rows = check_backends(settings)

    assert all(r.ok and r.kind == "cloud" for r in rows), [r.fix for r in rows]
    assert [r.backend for r in rows] == [
        "Azure SQL (ODBC) (connection string)", "Azure AI Search (semantic, key)", "Jira Cloud",
    ]  # fmt: skip
    assert [r.where for r in rows] == [str(stats_path), "127.0.0.1/help", "127.0.0.1"]
    assert no_secret_in(rows)


def test_failing_cloud_backends_each_get_a_fix(
    clean_env, tmp_path, jira_double, search_double, sqlite_odbc
):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    settings = cloud_settings(
        tmp_path, jira_double, search_double, sqlite_odbc, empty, jira_api_token="wrong-token"
    )
    stats, search, grievances = check_backends(settings)
    assert not stats.ok and "python -m ops.azure_sql --run" in stats.fix
    assert not search.ok and "no index called 'help'" in search.fix
    assert not grievances.ok and "(401)" in grievances.fix and "JIRA_API_TOKEN" in grievances.fix
    assert no_secret_in([stats, search, grievances])


class Stuck:
    kind, where = "cloud", "slow.example"

    def __init__(self):
        self.release = threading.Event()

    def check(self):
        self.release.wait(30)


class Broken:
    kind, where = "embedded", "nowhere"

    def check(self):
        raise ToolUnavailable("Broken backend; fix it.")


class Fine:
    kind, where = "embedded", "here"

    def check(self):
        pass


def test_each_check_is_time_bound(clean_env, tmp_path):
    stuck = Stuck()
    try:
        rows = check_backends(
            make_settings(tmp_path), Backends(stats=stuck, search=Broken(), grievances=Fine()),
            timeout=0.2,
        )  # fmt: skip
    finally:
        stuck.release.set()
    assert (rows[0].ok, rows[0].latency, rows[0].fix) == (
        False, None, "It did not answer within 0.2 seconds.",
    )  # fmt: skip
    assert (rows[1].ok, rows[1].fix) == (False, "Broken backend; fix it.")
    assert rows[2].ok and rows[2].backend == "Fine"
    assert "FAIL Player statistics" in rows[0].line() and "timed out" in rows[0].line()


def test_grievances_waiting_in_the_outbox_are_noted(clean_env, tmp_path):
    outbox = Outbox(tmp_path / OUTBOX_FILE)
    for words in ("one thing", "another thing"):
        grievance = {"category": "other", "description": words, "user_name": "sam",
                     "created": "2026-12-01T10:00:00+00:00"}  # fmt: skip
        outbox.add(grievance, fingerprint("sam", words), lease_s=0)
    rows = check_backends(make_settings(tmp_path))
    assert rows[2].ok and rows[2].note == (
        "2 grievances are queued for Jira but JIRA_SERVER is not set; set it and run "
        "`python -m assistant outbox flush`."
    )
