"""OdbcStats and the Azure SQL loader: what is ours on paper, then through real ODBC drivers."""

from __future__ import annotations

import struct
import sys
import threading
import types
from collections import namedtuple

import pytest

from assistant import service
from assistant.service import build_backends
from ops.azure_sql import load
from ops.demo_data import write_stats_db
from tests.support import make_settings
from tools.backends.odbc_stats import (
    DRIVER_18_URL,
    SQL_COPT_SS_ACCESS_TOKEN,
    OdbcConnector,
    OdbcStats,
    TokenSource,
    describe_target,
    entra_connection_string,
    odbc_value,
    parse_connection_string,
    token_struct,
)
from tools.backends.sqlite_stats import SqliteStats
from tools.base import ToolUnavailable

AccessToken = namedtuple("AccessToken", "token expires_on")
PLAYERS = ["maria", "dev", "sam", "priya.sharma", "nobody-here"]


# -- on paper: what only SQL Server and Entra ID would exercise ----------------------------------


def test_token_struct_is_length_prefixed_utf16le():
    assert token_struct("abc") == b"\x06\x00\x00\x00a\x00b\x00c\x00"
    token = "eyJ0eXAi.JWT-ÿ"
    data = token.encode("utf-16-le")
    # Microsoft's documented form: struct.pack(f"<I{len(data)}s", len(data), data)
    assert token_struct(token) == struct.pack(f"<I{len(data)}s", len(data), data)


def test_parse_connection_string_handles_braces_spaces_and_case():
    pairs = parse_connection_string(
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:x.database.windows.net,1433;"
        "Database=play;Uid=reader;Pwd={p;w}}d=};Encrypt=yes; Connection Timeout = 30 ;"
    )
    assert pairs["driver"] == "ODBC Driver 18 for SQL Server"
    assert pairs["pwd"] == "p;w}d=" and pairs["connection timeout"] == "30"
    assert describe_target(pairs) == "x.database.windows.net/play"


def test_entra_connection_string_for_driver_18():
    text = entra_connection_string("x.database.windows.net", "play;db", 15)
    pairs = parse_connection_string(text)
    assert pairs == {
        "driver": "ODBC Driver 18 for SQL Server", "server": "tcp:x.database.windows.net,1433",
        "database": "play;db", "encrypt": "yes", "trustservercertificate": "no",
        "connection timeout": "15", "applicationintent": "ReadOnly",
    }  # fmt: skip
    assert "ApplicationIntent" not in entra_connection_string("x", "db", read_only=False)
    assert odbc_value("a}b") == "{a}}b}" and odbc_value("plain") == "plain"


@pytest.mark.parametrize(
    "pairs, where",
    [
        ({"server": "tcp:h.example,1433", "database": "db", "pwd": "secret"}, "h.example/db"),
        ({"database": "/data/stats.sqlite"}, "/data/stats.sqlite"),
        ({"server": "127.0.0.1", "port": "5432", "database": "postgres"}, "127.0.0.1/postgres"),
        ({"dsn": "stats"}, "stats"),
    ],
)
def test_where_names_the_place_never_the_secret(pairs, where):
    assert describe_target(pairs) == where


class FakeCredential:
    def __init__(self, lifetimes):
        self.lifetimes, self.calls = list(lifetimes), []

    def get_token(self, scope):
        self.calls.append(scope)
        return AccessToken(f"token-{len(self.calls)}", self.lifetimes.pop(0))


def test_tokens_are_reused_until_five_minutes_before_expiry():
    now = [1000.0]
    credential = FakeCredential([1000.0 + 3600, 1000.0 + 7200])
    tokens = TokenSource(credential, clock=lambda: now[0])
    assert tokens.get()[0] == "token-1"
    now[0] = 1000.0 + 3600 - 301  # just over 5 minutes left: still good
    assert tokens.get()[0] == "token-1"
    now[0] = 1000.0 + 3600 - 299  # under 5 minutes left: a new one
    assert tokens.get()[0] == "token-2"
    assert credential.calls == ["https://database.windows.net/.default"] * 2


class FakeConnection:
    def __init__(self, log):
        self.log, self.timeout, self.closed = log, 0, False

    def getinfo(self, what):
        return "Microsoft SQL Server"

    def cursor(self):
        conn = self

        class Cursor:
            def execute(self, sql, params=()):
                conn.log.append(("execute", sql, params, conn.timeout))
                return self

            def fetchall(self):
                return [("Maria Lopez", "chess", 2, 150, 30, 0, "2026-10-01T10:00:00")]

            def close(self):
                pass

        return Cursor()

    def close(self):
        self.closed = True


def fake_pyodbc(monkeypatch, log):
    module = types.SimpleNamespace(
        Error=type("Error", (Exception,), {}),
        SQL_DBMS_NAME=17,
        drivers=lambda: ["ODBC Driver 18 for SQL Server"],
    )

    def connect(conn_str, autocommit=False, attrs_before=None):
        log.append(("connect", conn_str, attrs_before))
        return FakeConnection(log)

    module.connect = connect
    monkeypatch.setitem(sys.modules, "pyodbc", module)


def test_entra_connection_passes_the_token_attribute_and_bounds_queries(monkeypatch):
    log = []
    fake_pyodbc(monkeypatch, log)
    now = [0.0]
    credential = FakeCredential([3600.0, 7200.0])
    connector = OdbcConnector(
        server="x.database.windows.net", database="play", query_timeout=7,
        tokens=TokenSource(credential, clock=lambda: now[0]),
    )  # fmt: skip
    stats = OdbcStats(connector)
    summary = stats.player_summary("maria")

    (_, conn_str, attrs) = log[0]
    assert attrs == {SQL_COPT_SS_ACCESS_TOKEN: token_struct("token-1")}
    assert conn_str.startswith("Driver={ODBC Driver 18 for SQL Server};Server=tcp:x.database")
    assert log[1][2] == ("maria",) and log[1][3] == 7  # bound parameter, query timeout set
    assert summary.games[0].entry_fees == 1.5 and stats.where == "x.database.windows.net/play"

    stats.player_summary("maria")
    assert [e[0] for e in log].count("connect") == 1  # the pooled connection is reused
    now[0] = 3600.0 - 20  # the pooled connection's token is about to expire
    stats.player_summary("maria")
    connects = [e for e in log if e[0] == "connect"]
    assert len(connects) == 2 and connects[1][2] == {1256: token_struct("token-2")}


def test_without_unixodbc_the_app_starts_and_the_tool_says_what_to_install(
    clean_env, monkeypatch, tmp_path
):
    monkeypatch.setitem(sys.modules, "pyodbc", None)  # `import pyodbc` now raises ImportError
    settings = make_settings(tmp_path, sql_server="x.database.windows.net", sql_database="play")
    backends = build_backends(settings)
    assert isinstance(backends.stats, OdbcStats) and backends.stats.kind == "cloud"
    with pytest.raises(ToolUnavailable, match=r"apt-get install unixodbc"):
        backends.stats.check()


def test_sql_server_without_database_says_so(clean_env, monkeypatch, tmp_path):
    fake_pyodbc(monkeypatch, [])
    stats = OdbcStats(service.odbc_connector(make_settings(tmp_path, sql_server="x")))
    with pytest.raises(ToolUnavailable, match="SQL_DATABASE"):
        stats.check()


def test_missing_driver_18_points_at_microsofts_instructions(sqlite_odbc):
    if "ODBC Driver 18 for SQL Server" in __import__("pyodbc").drivers():
        pytest.skip("Microsoft's Driver 18 is installed here, so it cannot be missing")
    stats = OdbcStats(OdbcConnector(
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:x,1433;Database=d;Uid=u;Pwd=hunter2;"
    ))  # fmt: skip
    with pytest.raises(ToolUnavailable) as caught:
        stats.check()
    assert DRIVER_18_URL in str(caught.value) and "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(stats) + repr(stats.connector)


# -- through the SQLite3 ODBC driver ------------------------------------------------------------


@pytest.fixture(scope="module")
def stats_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("odbc") / "stats.sqlite"
    write_stats_db(path, transactions=1500)
    return path


@pytest.mark.odbc
def test_sqlite_odbc_gives_what_sqlite3_gives(sqlite_odbc, stats_file):
    stats = OdbcStats(OdbcConnector(f"DRIVER={{{sqlite_odbc}}};Database={stats_file}"))
    reference = SqliteStats(stats_file)
    assert stats.where == str(stats_file)
    for name in PLAYERS:
        assert stats.player_summary(name) == reference.player_summary(name)
    assert stats.player_names() == reference.player_names()
    stats.check()
    stats.close()


@pytest.mark.odbc
def test_values_are_bound_never_spliced(sqlite_odbc, stats_file):
    stats = OdbcStats(OdbcConnector(f"DRIVER={{{sqlite_odbc}}};Database={stats_file}"))
    assert stats.player_summary("x' OR '1'='1") is None
    assert stats.player_summary("maria'; DROP TABLE players; --") is None
    assert "maria" in stats.player_names()


@pytest.mark.odbc
def test_threads_share_a_small_pool(sqlite_odbc, stats_file):
    stats = OdbcStats(OdbcConnector(f"DRIVER={{{sqlite_odbc}}};Database={stats_file}"), pool_size=2)
    expected = SqliteStats(stats_file).player_summary("maria")
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(stats.player_summary("maria"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 40 and all(r == expected for r in results)
    assert len(stats._idle) <= 2


@pytest.mark.odbc
def test_a_database_without_the_tables_says_how_to_create_them(sqlite_odbc, tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    stats = OdbcStats(OdbcConnector(f"DRIVER={{{sqlite_odbc}}};Database={empty}"))
    with pytest.raises(ToolUnavailable, match=r"python -m ops\.azure_sql --run"):
        stats.player_summary("maria")


@pytest.mark.odbc
def test_loader_fills_an_odbc_database_like_the_embedded_file(sqlite_odbc, stats_file, tmp_path):
    target = tmp_path / "loaded.sqlite"
    connector = OdbcConnector(f"DRIVER={{{sqlite_odbc}}};Database={target}")
    assert load(connector, transactions=1500)[:3] == (77, 1500, "sqlite")
    assert load(connector, transactions=1500)[:2] == (77, 1500)  # again: replaced, not doubled
    loaded, reference = OdbcStats(connector), SqliteStats(stats_file)
    for name in PLAYERS:
        assert loaded.player_summary(name) == reference.player_summary(name)


# -- through PostgreSQL's ODBC driver -----------------------------------------------------------


@pytest.mark.odbc
@pytest.mark.postgres
def test_postgresql_odbc_runs_the_same_statements(postgres_odbc, stats_file):
    connector = OdbcConnector(postgres_odbc)
    assert load(connector, transactions=1500)[2] == "postgresql"
    stats, reference = OdbcStats(connector), SqliteStats(stats_file)
    assert stats.where.startswith("127.0.0.1/postgres")
    for name in PLAYERS:
        assert stats.player_summary(name) == reference.player_summary(name)
    assert stats.player_names() == reference.player_names()


@pytest.mark.odbc
@pytest.mark.postgres
def test_postgresql_queries_are_bounded_by_the_timeout(postgres_odbc):
    stats = OdbcStats(OdbcConnector(postgres_odbc, query_timeout=1))
    with pytest.raises(ToolUnavailable, match="did not answer within 1 seconds"):
        stats._query("SELECT 1 FROM pg_sleep(3)", ())
    stats.check()  # the broken connection was dropped; a new one works


@pytest.mark.odbc
@pytest.mark.postgres
def test_postgresql_refused_login_is_one_sentence(postgres_odbc):
    stats = OdbcStats(OdbcConnector(postgres_odbc.replace("UID=postgres", "UID=intruder")))
    with pytest.raises(ToolUnavailable) as caught:
        stats.check()
    assert str(caught.value).startswith("The database at 127.0.0.1/postgres refused the sign-in")
