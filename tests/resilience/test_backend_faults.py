"""Faults in the company's systems behind the tools: Azure SQL (over real ODBC drivers), Azure AI
Search and Jira (through their real SDKs against the doubles). A failing system never fails the
turn: its tool returns one plain sentence, which the answer speaks, the other tools still
answer, and the same recording succeeds on the same engine once the system is back.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest

from assistant.binding import Grants
from assistant.history import Conversation
from ops.azure_sql import load
from ops.demo_data import write_stats_db
from tests.audio_factory import pcm16, speech_like, wav
from tests.page.conftest import APP, clear_page_caches
from tests.page.helpers import messages, texts
from tests.resilience.conftest import HELP_INDEX, fill_help_index
from tests.resilience.support import assert_one_sentence
from tools.backends.odbc_stats import OdbcConnector

pytestmark = pytest.mark.timeout(180)

SEARCH_PATH = rf"/indexes\('{HELP_INDEX}'\)/docs/search\.post\.search"
JIRA_SETTINGS = {"jira_email": "bot@example.com", "jira_api_token": "jira-token-123"}
RECORDING = wav(pcm16(speech_like(1.5, seed=5)))
EVERY_TOOL = [
    ("get_player_summary", {"user_name": "maria"}),
    ("search_help_center", {"query": "how do I withdraw"}),
    ("list_grievances", {"user_name": "maria"}),
]


def ask_every_tool(double, engine, conversation: Conversation):
    """The recording, with the model calling each tool once; the double then speaks the
    tools' summaries (what a model grounded on them would say)."""
    double.reply_tool_calls(EVERY_TOOL)
    reply = engine.ask(conversation, audio=RECORDING)
    return reply, {call.name: call for call in reply.tool_calls}


def check_fault_then_recovery(
    double, engine, tool: str, says: str, recover: Callable[[], None]
) -> None:
    conversation = Conversation(customer="maria")
    reply, calls = ask_every_tool(double, engine, conversation)
    failed = calls[tool]
    assert not failed.ok and failed.result["error"] == "backend_unavailable", failed.result
    assert_one_sentence(failed.summary)
    assert re.search(says, failed.summary), failed.summary
    assert failed.summary in reply.transcript, "the answer says what is wrong"
    assert all(call.ok for name, call in calls.items() if name != tool), "the rest still answer"

    recover()
    reply, calls = ask_every_tool(double, engine, conversation)
    assert all(call.ok for call in calls.values()), {n: c.summary for n, c in calls.items()}
    assert len(conversation.exchanges) == 2


# -- Azure SQL over ODBC ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stats_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("stats") / "stats.sqlite"
    write_stats_db(path, transactions=1500)
    return path


@pytest.mark.odbc
def test_sql_without_unixodbc_says_what_to_install_and_recovers_without_restart(
    sqlite_odbc, stats_file, auto_double, engine_for, monkeypatch
):
    engine = engine_for(
        auto_double, sql_connection_string=f"DRIVER={{{sqlite_odbc}}};Database={stats_file}"
    )
    monkeypatch.setitem(sys.modules, "pyodbc", None)  # `import pyodbc` fails as without unixODBC
    check_fault_then_recovery(
        auto_double, engine, "get_player_summary", r"apt-get install unixodbc",
        recover=lambda: monkeypatch.delitem(sys.modules, "pyodbc"),
    )  # fmt: skip


@pytest.mark.odbc
def test_sql_driver_18_missing_points_at_microsoft_and_the_turn_still_answers(
    sqlite_odbc, auto_double, engine_for
):
    driver = "ODBC Driver 18 for SQL Server"
    missing = driver not in __import__("pyodbc").drivers()
    engine = engine_for(
        auto_double,
        sql_connection_string=f"Driver={{{driver if missing else 'ODBC Driver 99'}}};"
        "Server=tcp:stats.example.net,1433;Database=play;Uid=reader;Pwd=hunter2-secret;",
    )
    reply, calls = ask_every_tool(auto_double, engine, Conversation(customer="maria"))
    failed = calls["get_player_summary"]
    assert not failed.ok and "is not installed" in failed.summary
    assert "learn.microsoft.com" in failed.summary or not missing
    assert_one_sentence(failed.summary)
    assert "hunter2-secret" not in reply.transcript + failed.summary
    assert calls["search_help_center"].ok and calls["list_grievances"].ok


@pytest.fixture(scope="module")
def postgres_stats(postgres_odbc):
    """The demo statistics loaded into the throwaway PostgreSQL server."""
    load(OdbcConnector(postgres_odbc), transactions=1500)
    return postgres_odbc


@contextmanager
def locked_players(conn_str: str) -> Iterator[None]:
    """Another session holds an exclusive lock on the players table, so reads wait."""
    import pyodbc

    holder = pyodbc.connect(conn_str, autocommit=False)
    try:
        holder.cursor().execute("LOCK TABLE players IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.odbc
@pytest.mark.postgres
def test_sql_login_failed_is_one_sentence_and_works_once_the_login_exists(
    postgres_stats, auto_double, engine_for
):
    import pyodbc

    stranger = postgres_stats.replace("UID=postgres", "UID=support_reader")
    engine = engine_for(auto_double, sql_connection_string=stranger)

    def create_the_login() -> None:
        admin = pyodbc.connect(postgres_stats, autocommit=True)
        admin.cursor().execute("DROP ROLE IF EXISTS support_reader")
        admin.cursor().execute("CREATE ROLE support_reader LOGIN")
        admin.cursor().execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO support_reader")
        admin.close()

    try:
        check_fault_then_recovery(
            auto_double, engine, "get_player_summary", r"refused the sign-in",
            recover=create_the_login,
        )  # fmt: skip
    finally:
        admin = pyodbc.connect(postgres_stats, autocommit=True)
        engine_for.backends.stats.close()  # let go of its pooled connections
        admin.cursor().execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'support_reader'"
        )
        admin.cursor().execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM support_reader")
        admin.cursor().execute("DROP ROLE IF EXISTS support_reader")
        admin.close()


@pytest.mark.odbc
@pytest.mark.postgres
def test_sql_timeout_is_one_sentence_and_the_next_question_is_answered(
    postgres_stats, auto_double, engine_for
):
    engine = engine_for(auto_double, sql_connection_string=postgres_stats, sql_query_timeout=1)
    with ExitStack() as lock:
        lock.enter_context(locked_players(postgres_stats))
        check_fault_then_recovery(
            auto_double, engine, "get_player_summary", r"did not answer within 1 seconds",
            recover=lock.close,  # the other session lets go
        )  # fmt: skip


# -- Azure AI Search ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, says",
    [
        (401, r"refusing our key \(401\); check AZURE_SEARCH_API_KEY"),
        (403, r"forbids our key to read index 'help' \(403\)"),
        (503, r"not answering properly \(503\)"),
    ],
    ids=["401", "403", "503"],
)
def test_search_fault_is_one_sentence_and_the_same_engine_recovers(
    status, says, search_double, auto_double, engine_for
):
    engine = engine_for(
        auto_double, azure_search_endpoint=search_double.url, azure_search_index=HELP_INDEX,
        azure_search_api_key=search_double.key,
    )  # fmt: skip
    search_double.fail("POST", SEARCH_PATH, status, times=100)

    def recover() -> None:
        search_double.reset()
        fill_help_index(search_double)

    check_fault_then_recovery(auto_double, engine, "search_help_center", says, recover)


# -- Jira ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, says",
    [
        (401, r"refusing our credentials \(401\); check JIRA_EMAIL and JIRA_API_TOKEN"),
        (404, r"no project GRV that our account can see \(404\); check JIRA_PROJECT_KEY"),
        (429, r"rate-limiting us \(429\)"),
        (503, r"not answering properly \(503\)"),
    ],
    ids=["401", "404", "429", "503"],
)
def test_jira_fault_is_one_sentence_and_the_same_engine_recovers(
    status, says, jira_double, auto_double, engine_for
):
    engine = engine_for(auto_double, jira_server=jira_double.url, **JIRA_SETTINGS)
    engine.registry.run("list_grievances", '{"user_name": "maria"}')  # connected, as in use
    jira_double.fail("GET", r"/rest/api/2/search/jql", status, times=100)
    check_fault_then_recovery(auto_double, engine, "list_grievances", says, jira_double.reset)


def test_a_grievance_said_while_jira_is_down_is_queued_then_delivered_once(
    jira_double, auto_double, engine_for
):
    engine = engine_for(auto_double, jira_server=jira_double.url, **JIRA_SETTINGS)
    jira_double.fail("GET", ".*", 503, times=100)  # down: even serverInfo fails
    grievance = {"category": "wallet", "description": "My withdrawal of 40 dollars vanished.",
                 "user_name": "maria"}  # fmt: skip
    auto_double.reply_tool_calls([("register_grievance", grievance)])
    reply = engine.ask(Conversation(customer="maria"), audio=RECORDING, grants=Grants(file_now=True))
    (call,) = reply.tool_calls
    assert call.ok and call.result["data"]["ticket"]["queued"], call.result
    reference = call.result["data"]["ticket"]["key"]
    assert re.fullmatch(r"LOCAL-[0-9A-F]{6}", reference) and reference in reply.transcript

    jira_double.reset()  # Jira is back
    auto_double.reply_tool_calls([("list_grievances", {"user_name": "maria"})])
    engine.ask(Conversation(customer="maria"), audio=RECORDING)
    backend = engine_for.backends.grievances
    backend.wait_for_flush(10)  # Jira answered, so the queue was delivered in the background
    assert [i["fields"]["summary"] for i in jira_double.issues.values()] == [
        "Wallet grievance from maria: My withdrawal of 40 dollars vanished"
    ]
    assert backend.pending_count() == 0


# -- the page: every system fails at once, then comes back; no restart ------------------------------


@pytest.mark.odbc
def test_page_keeps_answering_while_every_system_fails_and_after_they_recover(
    sqlite_odbc, stats_file, search_double, jira_double, monkeypatch, tmp_path
):
    from streamlit.testing.v1 import AppTest

    from tests.doubles.chat_double import ChatDouble
    from tests.support import isolate_env

    isolate_env(monkeypatch)
    with ChatDouble(policy="auto") as double:
        settings = {
            "VOICEDESK_DATA_DIR": str(tmp_path / "data"), "VOICEDESK_MAX_RETRIES": "0",
            "OPENAI_BASE_URL": double.base_url, "OPENAI_API_KEY": "sk-test-page",
            "VOICEDESK_TRANSCRIBE_MODEL": "",
            "SQL_CONNECTION_STRING": f"DRIVER={{{sqlite_odbc}}};Database={stats_file}",
            "AZURE_SEARCH_ENDPOINT": search_double.url, "AZURE_SEARCH_INDEX": HELP_INDEX,
            "AZURE_SEARCH_API_KEY": search_double.key, "JIRA_SERVER": jira_double.url,
            "JIRA_EMAIL": "bot@example.com", "JIRA_API_TOKEN": "jira-token-123",
        }  # fmt: skip
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        clear_page_caches()
        try:
            at = AppTest.from_file(str(APP), default_timeout=60).run()
            monkeypatch.setitem(sys.modules, "pyodbc", None)
            search_double.fail("POST", SEARCH_PATH, 503, times=100)
            jira_double.fail("GET", ".*", 401, times=100)
            double.reply_tool_calls(EVERY_TOOL)
            at.chat_input(key="typed").set_value("My games, withdrawals and complaints?").run()

            assert not at.exception and not at.error, "a failing system never fails the turn"
            (exchange,) = at.session_state["voicedesk"].conversation.exchanges
            assert [c.ok for c in exchange.reply.tool_calls] == [False, False, False]
            (shown,) = messages(at, "assistant")
            assert exchange.reply.transcript in texts(shown), "the answer is on the page"
            for call in exchange.reply.tool_calls:
                assert_one_sentence(call.summary)
                assert call.summary in exchange.reply.transcript

            monkeypatch.delitem(sys.modules, "pyodbc")
            search_double.reset()
            fill_help_index(search_double)
            jira_double.reset()
            double.reply_tool_calls(EVERY_TOOL)
            at.chat_input(key="typed").set_value("And now?").run()

            assert not at.exception and not at.error
            latest = at.session_state["voicedesk"].conversation.exchanges[-1]
            assert [c.ok for c in latest.reply.tool_calls] == [True, True, True]
        finally:
            clear_page_caches()
        assert double.violations == []
