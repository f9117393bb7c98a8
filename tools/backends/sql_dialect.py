"""What differs between the SQL engines VoiceDesk meets through ODBC, in one place.

The queries themselves are portable (tools/backends/sqlite_stats.py: `?` parameters, no
TOP/LIMIT, no engine functions) and run unchanged on SQLite, PostgreSQL and Azure SQL. What
is not portable is here: creating tables and indexes only when missing, how many rows one
INSERT may carry, how a query timeout is set, literals in an emitted script, and which
SQLSTATEs mean "no such table" or "timed out".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(\w+)", re.IGNORECASE)
_INDEX = re.compile(r"^\s*CREATE\s+INDEX\s+(\w+)\s+ON\s+(\w+)", re.IGNORECASE)

MISSING_TABLE_STATES = {"42S02", "42P01"}  # ODBC/SQL Server, PostgreSQL
MISSING_TABLE_TEXTS = ("no such table", "invalid object name")  # SQLite ODBC says HY000
TIMEOUT_STATES = {"HYT00", "HYT01", "57014"}  # ODBC query/connection timeout, PostgreSQL cancel
LOGIN_STATES = {"28000"}
UNREACHABLE_STATES = {"08001", "08S01", "08004", "08003"}
PERMISSION_STATES = {"42501"}  # PostgreSQL; SQL Server reports 42000 with error 229


@dataclass(frozen=True)
class Dialect:
    name: str  # "mssql", "postgresql", "sqlite" or "other"
    rows_per_insert: int  # rows in one multi-row INSERT ... VALUES of an emitted script
    fast_executemany: bool  # the driver binds parameter arrays (Microsoft's drivers do)

    def create_table(self, statement: str) -> str:
        """A CREATE TABLE from data/schema.sql, made a no-op when the table exists.

        On SQL Server text columns become NVARCHAR: pyodbc binds Python strings as NVARCHAR,
        and an NVARCHAR parameter against a VARCHAR column (SQL collation) forces a scan
        instead of an index seek; NVARCHAR also keeps every name's letters.
        """
        name = _name(_TABLE, statement)
        if self.name == "mssql":
            body = re.sub(r"\bVARCHAR\(", "NVARCHAR(", statement.strip(), flags=re.IGNORECASE)
            return f"IF OBJECT_ID(N'{name}', N'U') IS NULL\n{body}"
        return _TABLE.sub(lambda m: f"CREATE TABLE IF NOT EXISTS {m.group(1)}", statement, 1)

    def create_index(self, statement: str) -> str:
        match = _INDEX.match(statement)
        if not match:
            raise ValueError(f"not a CREATE INDEX statement: {statement[:40]}")
        index, table = match.groups()
        if self.name == "mssql":
            # index and table are \w+ names from data/schema.sql, never user input
            return (
                f"IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'{index}' "  # noqa: S608
                f"AND object_id = OBJECT_ID(N'{table}'))\n{statement.strip()}"
            )
        return re.sub(
            r"^\s*CREATE\s+INDEX", "CREATE INDEX IF NOT EXISTS", statement, count=1, flags=re.I
        )

    def literal(self, value: Any) -> str:
        """A value written into an emitted script (never used for queries: those bind)."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, (date, datetime)):
            value = value.isoformat()
        text = str(value).replace("'", "''")
        return f"N'{text}'" if self.name == "mssql" else f"'{text}'"

    def session_timeout_sql(self, seconds: int) -> str | None:
        """A statement that bounds every query of the session, for drivers that refuse
        ODBC's own query timeout (psqlODBC rejects SQL_ATTR_CONNECTION_TIMEOUT)."""
        if self.name == "postgresql":
            return f"SET statement_timeout = {int(seconds * 1000)}"
        return None


MSSQL = Dialect("mssql", rows_per_insert=1000, fast_executemany=True)  # T-SQL's VALUES limit
POSTGRESQL = Dialect("postgresql", rows_per_insert=1000, fast_executemany=False)
SQLITE = Dialect("sqlite", rows_per_insert=500, fast_executemany=False)
OTHER = Dialect("other", rows_per_insert=1, fast_executemany=False)


def dialect_for(dbms_name: str) -> Dialect:
    """From ODBC's SQL_DBMS_NAME: 'Microsoft SQL Server', 'PostgreSQL', 'SQLite', ..."""
    name = dbms_name.lower()
    if "sql server" in name or "azure sql" in name:
        return MSSQL
    if "postgres" in name:
        return POSTGRESQL
    if "sqlite" in name:
        return SQLITE
    return OTHER


def apply_query_timeout(conn: Any, seconds: int, dialect: Dialect) -> None:
    """Bound every query on `conn`: ODBC's query timeout when the driver takes it
    (pyodbc's connection.timeout), else the engine's own session setting."""
    import pyodbc

    try:
        conn.timeout = seconds
        return
    except pyodbc.Error:
        pass
    statement = dialect.session_timeout_sql(seconds)
    if statement is None:
        raise ValueError(f"no way to bound queries on a {dialect.name} connection")
    conn.cursor().execute(statement).close()


def _name(pattern: re.Pattern[str], statement: str) -> str:
    match = pattern.match(statement)
    if not match:
        raise ValueError(f"not a CREATE TABLE statement: {statement[:40]}")
    return match.group(1)
