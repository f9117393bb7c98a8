"""Nothing lost: a grievance said while Jira is down survives `kill -9` of the process that took
it, and reaches Jira exactly once afterwards. Real processes (`python -m assistant`), real
SIGKILL; the Jira and model doubles live in this test process, so they outlive them all.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable

import pytest

from tests.doubles.chat_double import ChatDouble
from tests.resilience.support import cli_env, run_cli, start_cli
from tools.backends.outbox import OUTBOX_FILE, Outbox

pytestmark = pytest.mark.timeout(180)

GRIEVANCE = {"category": "wallet", "description": "I was charged twice for one deposit.",
             "user_name": "maria"}  # fmt: skip
SUMMARY = "Wallet grievance from maria: I was charged twice for one deposit"


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_9(process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def jira_env(chat: ChatDouble, jira_double, data_dir) -> dict[str, str]:
    return cli_env(
        OPENAI_BASE_URL=chat.base_url, VOICEDESK_DATA_DIR=str(data_dir),
        JIRA_SERVER=jira_double.url, JIRA_EMAIL="bot@example.com",
        JIRA_API_TOKEN="jira-token-123",
    )  # fmt: skip


def jira_is_down(jira_double) -> None:
    for method in ("GET", "POST"):
        jira_double.fail(method, ".*", 503, times=10_000)


def issues_with_marker(jira_double, marker: str) -> list[str]:
    return [key for key, issue in jira_double.issues.items()
            if f"vd-{marker}" in issue["fields"]["labels"]]  # fmt: skip


def test_killed_after_queueing_then_delivered_exactly_once(jira_double, tmp_path):
    outbox = Outbox(tmp_path / "data" / OUTBOX_FILE)
    jira_is_down(jira_double)
    with ChatDouble() as chat:
        chat.reply_tool_calls([("register_grievance", GRIEVANCE)])
        chat.delay(120).reply_audio("Too late.")  # the answer never comes: killed before it
        env = jira_env(chat, jira_double, tmp_path / "data")
        asking = start_cli("ask", "--text", "I was charged twice, file a complaint.",
                           "--customer", "maria", "--json", "--yes", env=env)  # fmt: skip
        try:
            # The tool has run (its result went back to the model) and the grievance is queued.
            wait_for(lambda: len(chat.chat_requests) == 2, "the call after the tool round")
            assert outbox.pending_count() == 1
        finally:
            kill_9(asking)
    (entry,) = outbox.pending()
    assert entry.payload["description"] == GRIEVANCE["description"]
    assert jira_double.issues == {}, "Jira was down: nothing reached it"

    jira_double.reset()  # Jira is back
    with ChatDouble() as chat:
        env = jira_env(chat, jira_double, tmp_path / "data")
        first = run_cli("outbox", "flush", env=env)
        second = run_cli("outbox", "flush", env=env)

    assert (first.returncode, first.stdout.strip()) == (
        0, "Delivered 1 grievance to Jira; the outbox is empty."
    ), first.stderr  # fmt: skip
    assert (second.returncode, second.stdout.strip()) == (
        0, "The outbox is empty; nothing to deliver."
    )  # fmt: skip
    (key,) = issues_with_marker(jira_double, entry.marker)
    assert jira_double.issues[key]["fields"]["summary"] == SUMMARY
    assert len(jira_double.requests("POST", "/rest/api/2/issue")) == 1, "sent exactly once"
    assert outbox.get(entry.ref).remote_key == key


def test_killed_while_sending_is_never_sent_twice(jira_double, tmp_path):
    """The flushing process dies with its request in flight; Jira still creates the ticket. A
    later flush must find that ticket by its marker instead of sending it again."""
    data = tmp_path / "data"
    outbox = Outbox(data / OUTBOX_FILE)
    jira_is_down(jira_double)
    with ChatDouble() as chat:
        chat.reply_tool_calls([("register_grievance", GRIEVANCE)]).reply_audio("It is queued.")
        env = jira_env(chat, jira_double, data)
        said = run_cli("ask", "--text", "I was charged twice, file a complaint.",
                       "--customer", "maria", "--json", "--yes", env=env)  # fmt: skip
    assert said.returncode == 0, said.stderr
    (call,) = json.loads(said.stdout)["tool_calls"]
    assert call["ok"] and "queued" in call["summary"]
    (entry,) = outbox.pending()

    jira_double.reset()  # back, but slow: it takes the ticket and answers after 2 seconds
    jira_double.fail("POST", "/rest/api/2/issue", 504, delay=2.0, after=True)
    with ChatDouble() as chat:
        env = jira_env(chat, jira_double, data)
        flushing = start_cli("outbox", "flush", env=env)
        try:
            wait_for(lambda: jira_double.requests("POST", "/rest/api/2/issue"), "the send")
        finally:
            kill_9(flushing)
        wait_for(lambda: issues_with_marker(jira_double, entry.marker), "Jira to create it")

        too_soon = run_cli("outbox", "flush", env=env)
        assert too_soon.returncode == 1 and "run this again in a minute" in too_soon.stdout
        assert len(jira_double.requests("POST", "/rest/api/2/issue")) == 1, "not sent again"

        # A minute later (the wait for Jira's search to show a ticket), as the clock would say.
        with sqlite3.connect(data / OUTBOX_FILE) as db:
            db.execute("UPDATE outbox SET sent_at = sent_at - 120 WHERE ref = ?", (entry.ref,))
        later = run_cli("outbox", "flush", env=env)

    assert (later.returncode, later.stdout.strip()) == (
        0, "Delivered 1 grievance to Jira; the outbox is empty."
    ), later.stdout + later.stderr  # fmt: skip
    (key,) = issues_with_marker(jira_double, entry.marker)
    assert len(jira_double.issues) == 1
    assert len(jira_double.requests("POST", "/rest/api/2/issue")) == 1, "exactly once"
    assert outbox.get(entry.ref).remote_key == key
