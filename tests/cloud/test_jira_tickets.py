"""JiraGrievances with the real `jira` client against the Jira Cloud double on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from assistant import PROJECT_ROOT, service
from assistant.service import flush_outbox
from tests.doubles.jira_double import JiraDouble, tokenize
from tests.support import make_settings
from tools.backends.jira_tickets import JiraGrievances, fingerprint, jql_quote
from tools.backends.outbox import OUTBOX_FILE, Outbox
from tools.base import ToolContext, ToolUnavailable
from tools.grievances import make_tools

MARKER = re.compile(r"vd-[0-9a-f]{32}")


_BUILT: list[JiraGrievances] = []


@pytest.fixture(autouse=True)
def _no_flush_outlives_its_test():
    # A use of the backend may start a background delivery; it must not reach the next test.
    yield
    while _BUILT:
        _BUILT.pop().wait_for_flush(10)


def backend(url: str, tmp_path, token: str = "jira-token-123", **kw) -> JiraGrievances:
    options = {"timeout": (1.0, 2.0), "max_retries": 2, "max_retry_delay": 0.05, "settle_s": 0}
    options.update(kw)
    built = JiraGrievances(
        server=url,
        email="bot@example.com",
        api_token=token,
        project_key="GRV",
        issue_type="Task",
        outbox=Outbox(tmp_path / OUTBOX_FILE),
        **options,
    )
    _BUILT.append(built)
    return built


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def markers(double: JiraDouble) -> list[str]:
    return [label for issue in double.issues.values() for label in issue["fields"]["labels"]
            if MARKER.fullmatch(label)]  # fmt: skip


# -- construction -------------------------------------------------------------------------------


def test_construction_is_lazy_and_first_use_asks_server_info(jira_double, tmp_path):
    jira = backend(jira_double.url, tmp_path)
    assert jira_double.log == []
    jira.get("GRV-1")
    assert jira_double.log[0]["path"] == "/rest/api/2/serverInfo"


def test_from_settings_reads_jira_settings_without_any_request(clean_env, jira_double, tmp_path):
    settings = make_settings(
        tmp_path, jira_server=jira_double.url + "/", jira_email="bot@example.com",
        jira_api_token="jira-token-123", jira_project_key="grv", jira_issue_type="Bug",
    )  # fmt: skip
    jira = service.jira_grievances(settings)
    assert (jira.kind, jira.where, jira.project_key, jira.issue_type) == (
        "cloud", "127.0.0.1", "GRV", "Bug",
    )  # fmt: skip
    assert "jira-token-123" not in repr(jira)
    assert jira_double.log == []
    jira.check()
    assert [r["path"] for r in jira_double.log] == [
        "/rest/api/2/serverInfo", "/rest/api/2/project/GRV",
    ]  # fmt: skip


# -- create, read, search -----------------------------------------------------------------------


def test_register_creates_one_issue_with_labels_agent_and_marker(jira_double, tmp_path):
    jira = backend(jira_double.url, tmp_path)
    ticket = jira.register("wallet", "I was charged twice\nfor one deposit.", "maria", agent="Asha")

    (post,) = jira_double.requests("POST", "/rest/api/2/issue")
    fields = post["json"]["fields"]
    assert fields["project"] == {"key": "GRV"} and fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "Wallet grievance from maria: I was charged twice for one deposit"
    labels = fields["labels"]
    assert labels[:3] == ["voicedesk", "category-wallet", "player-maria"]
    assert MARKER.fullmatch(labels[3])
    assert "{noformat}\nI was charged twice\nfor one deposit.\n{noformat}" in fields["description"]
    assert "Taken by: Asha" in fields["description"]
    assert (ticket.key, ticket.status, ticket.status_category) == ("GRV-1", "To Do", "To Do")
    assert (ticket.user_name, ticket.category, ticket.queued) == ("maria", "wallet", False)
    assert jira.outbox.pending_count() == 0


def test_register_without_agent_says_so_in_the_description(jira_double, tmp_path):
    backend(jira_double.url, tmp_path).register("other", "The lobby music is too loud.", "sam")
    (post,) = jira_double.requests("POST", "/rest/api/2/issue")
    assert "Taken by: not recorded" in post["json"]["fields"]["description"]


def test_customer_markup_cannot_close_the_noformat_block(jira_double, tmp_path):
    backend(jira_double.url, tmp_path).register(
        "other", "hi {noformat}[click|http://evil.example]", "sam"
    )
    description = jira_double.requests("POST")[0]["json"]["fields"]["description"]
    assert description.count("{noformat}") == 2
    assert "[click|http://evil.example]" in description


def test_get_carries_status_priority_due_date_update_and_latest_comment(jira_double, tmp_path):
    key = jira_double.add_issue(
        "Points missing", ["voicedesk", "category-reward_points", "player-dev"],
        priority={"name": "High"}, duedate="2026-11-30",
    )  # fmt: skip
    jira_double.set_status(key, "In Progress", "In Progress")
    jira_double.add_comment(key, "Looking into it.")
    jira_double.add_comment(key, "Refund  approved.", author="Priya")

    ticket = backend(jira_double.url, tmp_path).get(key)

    assert jira_double.requests("GET", f"/rest/api/2/issue/{key}")
    assert ticket.status == "In Progress" and ticket.status_category == "In Progress"
    assert (ticket.priority, ticket.due_date) == ("High", "2026-11-30")
    assert ticket.latest_comment == "Priya: Refund approved."
    assert (ticket.user_name, ticket.category) == ("dev", "reward_points")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", ticket.updated)


def test_unknown_key_is_none_after_a_404(jira_double, tmp_path):
    assert backend(jira_double.url, tmp_path).get("GRV-404") is None
    assert jira_double.requests("GET", "/rest/api/2/issue/GRV-404")


@pytest.mark.parametrize(
    "key", ["GRV-1/../../myself", "GRV-0", "GRV-1 OR 1=1", "HR-3", "GRV-", "-1", "GRV-1?x=1"]
)
def test_malformed_or_foreign_keys_never_reach_jira(jira_double, tmp_path, key):
    assert backend(jira_double.url, tmp_path).get(key) is None
    assert jira_double.log == []


def test_a_number_said_alone_means_that_number_in_the_project(jira_double, tmp_path):
    for n in range(12):
        jira_double.add_issue(f"issue {n + 1}", ["voicedesk", "player-maria"])
    status = make_tools(backend(jira_double.url, tmp_path))[1]
    result = status.call(status.args_model(grievance_id="twelve"))
    assert result.ok and result.data["ticket"]["key"] == "GRV-12"
    assert jira_double.requests("GET", "/rest/api/2/issue/GRV-12")


def test_list_for_finds_the_players_tickets_with_quoted_jql(jira_double, tmp_path):
    jira_double.add_issue("a", ["voicedesk", "category-wallet", "player-maria"])
    jira_double.add_issue("b", ["voicedesk", "category-other", "player-dev"])
    jira_double.add_issue("c", ["voicedesk", "category-usage_history", "player-maria"])

    tickets = backend(jira_double.url, tmp_path).list_for("Maria")

    assert [t.key for t in tickets] == ["GRV-3", "GRV-1"]
    (search,) = jira_double.requests("GET", "/rest/api/2/search/jql")
    assert search["args"]["jql"] == [
        'project = "GRV" AND labels = "player-maria" ORDER BY created DESC'
    ]


def test_register_through_the_tool_uses_the_signed_in_agent(jira_double, tmp_path):
    register = make_tools(backend(jira_double.url, tmp_path))[0]
    result = register.call(register.args_model(
        category="gaming_experience", description="Poker froze mid-hand.", user_name="dev"
    ), ToolContext(agent="Asha Rao"))  # fmt: skip
    assert result.ok and result.data["ticket"]["key"] == "GRV-1"
    assert "Taken by: Asha Rao" in jira_double.requests("POST")[0]["json"]["fields"]["description"]


# -- JQL quoting --------------------------------------------------------------------------------

HOSTILE = [
    'maria" OR project = "HR',
    "maria' OR project = 'HR",
    "back\\slash\\",
    '\\" OR 1=1 --',
    "line\nbreak\rand\ttab",
    "nul\x00bell\x07del\x7f",
    "ORDER BY key",
    "ünïcødé ✓ 🎲",
    "\u2028separator\u2029",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_jql_quote_is_one_string_literal_meaning_exactly_the_value(value):
    assert tokenize(f"labels = {jql_quote(value)} AND project = GRV") == [
        ("word", "labels"), ("op", "="), ("str", value),
        ("word", "AND"), ("word", "project"), ("op", "="), ("word", "GRV"),
    ]  # fmt: skip


def test_jql_quote_output_has_no_raw_control_characters():
    for value in HOSTILE:
        assert not re.search(r"[\x00-\x1f\x7f]", jql_quote(value))


def test_hostile_label_searched_through_the_real_client_finds_only_itself(jira_double, tmp_path):
    for value in HOSTILE[:6]:
        jira_double.add_issue("x", [value.replace(" ", "_")])
    jira_double.add_issue("bystander", ["player-maria"])
    jira = backend(jira_double.url, tmp_path)._connect()
    for value in HOSTILE[:6]:
        label = value.replace(" ", "_")
        found = jira.search_issues(f"labels = {jql_quote(label)}", fields=["labels"])
        assert [i.raw["fields"]["labels"] for i in found] == [[label]]


# -- errors are one sentence --------------------------------------------------------------------


def test_401_is_one_plain_sentence_naming_the_settings(jira_double, tmp_path):
    jira = backend(jira_double.url, tmp_path, token="wrong-secret")
    with pytest.raises(ToolUnavailable) as caught:
        jira.get("GRV-1")
    message = str(caught.value)
    assert "(401)" in message and "JIRA_API_TOKEN" in message
    assert "wrong-secret" not in message and "\n" not in message
    with pytest.raises(ToolUnavailable, match="401"):
        jira.check()


def test_unknown_project_in_check_names_the_setting(jira_double, tmp_path):
    jira = backend(jira_double.url, tmp_path)
    jira.project_key = "NOPE"
    with pytest.raises(ToolUnavailable, match="JIRA_PROJECT_KEY"):
        jira.check()


def test_429_with_retry_after_is_retried_then_answers(jira_double, tmp_path):
    jira_double.fail("GET", "/rest/api/2/search/jql", 429, times=1, headers={"Retry-After": "1"})
    jira_double.add_issue("a", ["player-maria"])
    assert [t.key for t in backend(jira_double.url, tmp_path).list_for("maria")] == ["GRV-1"]
    assert len(jira_double.requests("GET", "/rest/api/2/search/jql")) == 2


def test_down_jira_is_one_sentence_for_reads(tmp_path):
    with pytest.raises(ToolUnavailable, match=r"^Jira at 127\.0\.0\.1 cannot be reached"):
        backend(closed_port_url(), tmp_path, max_retries=0).list_for("maria")


# -- nothing is lost, exactly once --------------------------------------------------------------


def test_429_on_create_queues_with_a_local_reference(jira_double, tmp_path):
    # A create is sent once (the client's own retries would skip the marker check).
    jira_double.fail("POST", "/rest/api/2/issue", 429, times=1, headers={"Retry-After": "1"})
    jira = backend(jira_double.url, tmp_path)
    ticket = jira.register("wallet", "Withdrawal stuck for a week.", "maria")

    assert ticket.queued and ticket.status == "Queued"
    assert re.fullmatch(r"LOCAL-[0-9A-F]{6}", ticket.key)
    assert len(jira_double.requests("POST")) == 1 and jira_double.issues == {}
    # The queued grievance is visible by its reference and in the player's list.
    assert jira.get(ticket.key).queued
    assert [t.key for t in jira.list_for("maria")][0] == ticket.key


def test_503_during_create_then_recovery_gives_exactly_one_issue(jira_double, tmp_path):
    # The client would retry a 503 with Retry-After itself; a create is sent once instead.
    jira_double.fail("POST", "/rest/api/2/issue", 503, times=1, headers={"Retry-After": "1"})
    jira = backend(jira_double.url, tmp_path)
    queued = jira.register("wallet", "Charged twice for the same deposit.", "maria")
    assert queued.queued and jira_double.issues == {}
    assert len(jira_double.requests("POST")) == 1

    jira.list_for("dev")  # Jira answers again: the next use delivers the queue
    jira.wait_for_flush(10)

    assert len(jira_double.issues) == 1 and jira.outbox.pending_count() == 0
    delivered = jira.get(queued.key)  # the local reference now leads to the Jira ticket
    assert delivered.key == "GRV-1" and not delivered.queued
    assert len(markers(jira_double)) == 1


def test_a_lost_reply_is_not_sent_twice(jira_double, tmp_path):
    # Jira creates the issue but the reply is lost (504): the marker search finds it.
    jira_double.fail("POST", "/rest/api/2/issue", 504, times=1, after=True)
    jira = backend(jira_double.url, tmp_path)
    assert jira.register("wallet", "Bonus never arrived.", "sam").queued
    assert len(jira_double.issues) == 1

    delivered, remaining, sentence = jira.flush()

    assert (delivered, remaining) == (1, 0), sentence
    assert len(jira_double.requests("POST")) == 1 and len(jira_double.issues) == 1
    (search,) = jira_double.requests("GET", "/rest/api/2/search/jql")
    assert re.fullmatch(r'labels = "vd-[0-9a-f]{32}"', search["args"]["jql"][0])


def test_recent_send_waits_for_search_to_settle_before_resending(jira_double, tmp_path):
    jira_double.fail("POST", "/rest/api/2/issue", 504, times=1, after=True)
    jira = backend(jira_double.url, tmp_path, settle_s=300)
    jira.register("wallet", "Bonus never arrived.", "sam")
    delivered, remaining, sentence = jira.flush()
    assert (delivered, remaining) == (0, 1)
    assert "run this again in a minute" in sentence
    assert len(jira_double.requests("POST")) == 1


def test_same_description_for_same_player_within_ten_minutes_is_one_ticket(jira_double, tmp_path):
    jira = backend(jira_double.url, tmp_path)
    first = jira.register("wallet", "I was charged twice.", "maria")
    again = jira.register("wallet", "  i was CHARGED   twice. ", "maria")
    other = jira.register("wallet", "I was charged twice.", "dev")
    assert first.key == again.key == "GRV-1" and other.key == "GRV-2"
    assert len(jira_double.requests("POST")) == 2
    assert fingerprint("maria", "a  B") == fingerprint("MARIA", "A b")


def test_outbox_flush_command_reports_and_delivers(clean_env, jira_double, tmp_path):
    down = backend(closed_port_url(), tmp_path, max_retries=0)
    refs = [down.register("wallet", f"Deposit {n} missing.", "maria").key for n in range(2)]
    assert all(ref.startswith("LOCAL-") for ref in refs)

    unreachable = make_settings(
        tmp_path, jira_server=closed_port_url(), jira_email="bot@example.com",
        jira_api_token="jira-token-123",
    )  # fmt: skip
    delivered, remaining, sentence = flush_outbox(unreachable)
    assert (delivered, remaining) == (0, 2)
    assert "still queued because Jira at 127.0.0.1 cannot be reached" in sentence

    unset = make_settings(tmp_path)
    assert flush_outbox(unset)[:2] == (0, 2) and "JIRA_SERVER" in flush_outbox(unset)[2]

    reachable = unreachable.model_copy(update={"jira_server": jira_double.url})
    assert flush_outbox(reachable) == (2, 0, "Delivered 2 grievances to Jira; the outbox is empty.")
    assert flush_outbox(reachable) == (0, 0, "The outbox is empty; nothing to deliver.")
    assert len(jira_double.issues) == 2


def test_missing_credentials_queue_instead_of_losing(jira_double, tmp_path):
    jira = backend(jira_double.url, tmp_path, token=None)
    assert jira.register("other", "Anything at all.", "sam").queued
    with pytest.raises(ToolUnavailable, match="JIRA_EMAIL and JIRA_API_TOKEN"):
        jira.check()
    assert jira_double.log == []


CRASHING_CLIENT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from tools.backends.jira_tickets import JiraGrievances
    from tools.backends.outbox import Outbox
    url, outbox = sys.argv[1], Path(sys.argv[2])
    jira = JiraGrievances(url, "bot@example.com", "jira-token-123", "GRV", "Task",
                          Outbox(outbox), timeout=(1.0, 2.0), settle_s=0)
    jira.after_send = lambda entry, key: os.kill(os.getpid(), signal.SIGKILL)
    jira.register("wallet", "Charged twice, then the app closed.", "maria")
    print("not killed")
    """
)


def test_kill_9_between_send_and_record_then_flush_delivers_exactly_once(jira_double, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    outbox_path = tmp_path / OUTBOX_FILE
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_CLIENT, jira_double.url, str(outbox_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(jira_double.issues) == 1  # Jira has it; our record does not say so
    (entry,) = Outbox(outbox_path).pending()
    assert entry.sent_at is not None

    jira = backend(jira_double.url, tmp_path)  # a new process's view: the claim holder is dead
    assert jira.flush() == (1, 0, "Delivered 1 grievance to Jira; the outbox is empty.")
    assert len(jira_double.requests("POST")) == 1 and len(jira_double.issues) == 1
    assert Outbox(outbox_path).get(entry.ref).remote_key == "GRV-1"


def test_crash_after_recording_the_send_but_before_it_left_delivers_once(jira_double, tmp_path):
    outbox = Outbox(tmp_path / OUTBOX_FILE)
    entry, _ = outbox.add(
        {"category": "wallet", "description": "Lost deposit.", "user_name": "maria",
         "agent": None, "created": "2026-11-21T10:00:00+00:00"},
        fingerprint("maria", "Lost deposit."), lease_s=0,
    )  # fmt: skip
    outbox.sending(entry.ref)  # ... and the process died here, before the POST
    assert backend(jira_double.url, tmp_path).flush()[:2] == (1, 0)
    assert len(jira_double.issues) == 1
    assert f"vd-{entry.marker}" in jira_double.issues["GRV-1"]["fields"]["labels"]


def test_a_live_claim_is_not_taken_by_another_flush(jira_double, tmp_path):
    outbox = Outbox(tmp_path / OUTBOX_FILE)
    outbox.add(
        {"category": "other", "description": "x y z", "user_name": "sam", "agent": None,
         "created": "2026-11-21T10:00:00+00:00"},
        "fp", lease_s=600,
    )  # fmt: skip
    delivered, remaining, sentence = backend(jira_double.url, tmp_path).flush()
    assert (delivered, remaining) == (0, 1) and "another VoiceDesk process" in sentence
    assert jira_double.requests("POST") == []
