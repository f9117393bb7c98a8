"""The dialect layer: the only SQL that differs between SQLite, PostgreSQL and SQL Server."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from ops.demo_data import schema_statements
from tools.backends.sql_dialect import MSSQL, OTHER, POSTGRESQL, SQLITE, dialect_for

TABLES, INDEXES = schema_statements()


@pytest.mark.parametrize(
    "dbms, dialect",
    [("Microsoft SQL Server", MSSQL), ("PostgreSQL", POSTGRESQL), ("SQLite", SQLITE),
     ("Oracle", OTHER)],
)  # fmt: skip
def test_dialect_from_the_drivers_dbms_name(dbms, dialect):
    assert dialect_for(dbms) is dialect


def test_tsql_creates_tables_and_index_only_when_missing():
    players = MSSQL.create_table(TABLES[0])
    assert players.startswith("IF OBJECT_ID(N'players', N'U') IS NULL\nCREATE TABLE players (")
    assert "NVARCHAR(64)" in players and " VARCHAR(" not in players
    index = MSSQL.create_index(INDEXES[0])
    assert index.startswith(
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ix_transactions_player_game' "
        "AND object_id = OBJECT_ID(N'transactions'))\nCREATE INDEX ix_transactions_player_game"
    )


def test_sqlite_runs_its_idempotent_ddl_twice():
    conn = sqlite3.connect(":memory:")
    for _ in range(2):
        for statement in TABLES:
            conn.execute(SQLITE.create_table(statement))
        for statement in INDEXES:
            conn.execute(SQLITE.create_index(statement))
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"players", "transactions", "ix_transactions_player_game"} <= names


def test_literals_for_scripts():
    assert MSSQL.literal("O'Brien") == "N'O''Brien'"
    assert POSTGRESQL.literal("O'Brien") == "'O''Brien'"
    assert MSSQL.literal(None) == "NULL" and MSSQL.literal(250) == "250"
    assert MSSQL.literal(date(2026, 1, 2)) == "N'2026-01-02'"


def test_only_postgresql_needs_a_session_timeout_statement():
    assert POSTGRESQL.session_timeout_sql(5) == "SET statement_timeout = 5000"
    assert MSSQL.session_timeout_sql(5) is None and SQLITE.session_timeout_sql(5) is None


def test_not_ddl_is_refused():
    with pytest.raises(ValueError):
        MSSQL.create_table("DROP TABLE players")
    with pytest.raises(ValueError):
        MSSQL.create_index("CREATE TABLE x (a INT)")
