"""Player statistics from Azure SQL (or any ODBC source) through `pyodbc`.

* SQL_CONNECTION_STRING is used as given (SQL login, or any driver's own options); or
  SQL_SERVER + SQL_DATABASE sign in with Entra ID: a token from DefaultAzureCredential for
  https://database.windows.net/.default goes in the SQL_COPT_SS_ACCESS_TOKEN (1256) connection
  attribute, as Microsoft documents it (4-byte little-endian length, then UTF-16-LE bytes). A
  new connection gets a fresh token when the cached one has less than 5 minutes left, and a
  pooled connection is not reused past its token's expiry.
* `pyodbc` is imported on first use only; without unixODBC or the driver, the tool and
  check() say exactly what to install, and the app still starts.
* Connections are pooled per process (one per thread at a time); every query is bounded by
  SQL_QUERY_TIMEOUT, takes bound parameters only, and only reads.
* The statements are sqlite_stats.py's: one copy of the SQL for every engine.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from tools.backends.sql_dialect import (
    LOGIN_STATES,
    MISSING_TABLE_STATES,
    MISSING_TABLE_TEXTS,
    PERMISSION_STATES,
    TIMEOUT_STATES,
    UNREACHABLE_STATES,
    Dialect,
    apply_query_timeout,
    dialect_for,
)
from tools.backends.sqlite_stats import (
    HEALTH_SQL,
    PLAYER_NAMES_SQL,
    PLAYER_SUMMARY_SQL,
    summary_from_rows,
)
from tools.base import ToolUnavailable
from tools.player_stats import PlayerSummary

SQL_COPT_SS_ACCESS_TOKEN = 1256  # msodbcsql.h: pass an Entra ID access token at connect
SQL_SCOPE = "https://database.windows.net/.default"
DRIVER_18 = "ODBC Driver 18 for SQL Server"
# Sign-in refusals some drivers report under a connection SQLSTATE (psqlODBC: 08001).
LOGIN_TEXTS = ("login failed", "authentication failed", "no pg_hba.conf entry", 'role "')
REFRESH_MARGIN_S = 300  # a token with less than 5 minutes left is not used for a new connection
POOL_SIZE = 4
UNIXODBC_HINT = (
    "Player statistics in SQL need unixODBC for pyodbc; install it "
    "(Debian/Ubuntu: apt-get install unixodbc) and restart."
)
DRIVER_18_URL = (
    "https://learn.microsoft.com/sql/connect/odbc/linux-mac/"
    "installing-the-microsoft-odbc-driver-for-sql-server"
)


# -- connection strings -------------------------------------------------------------------------


def parse_connection_string(text: str) -> dict[str, str]:
    """ODBC 'Key=Value;...' to {lowercased key: value}; {braced} values may hold ; and }}."""
    pairs: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().strip(";").strip().lower()
        j = eq + 1
        while j < n and text[j] == " ":
            j += 1
        if j < n and text[j] == "{":
            value, j = [], j + 1
            while j < n:
                if text[j] == "}":
                    if j + 1 < n and text[j + 1] == "}":
                        value.append("}")
                        j += 2
                        continue
                    j += 1
                    break
                value.append(text[j])
                j += 1
            val = "".join(value)
            end = text.find(";", j)
            i = n if end < 0 else end + 1
        else:
            end = text.find(";", j)
            val = text[j:] if end < 0 else text[j:end]
            i = n if end < 0 else end + 1
            val = val.strip()
        if key:
            pairs[key] = val
    return pairs


def odbc_value(value: str) -> str:
    """A value safe in a connection string: braced (with }} for }) when it needs to be."""
    if any(ch in value for ch in ";{}=") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def entra_connection_string(
    server: str, database: str, login_timeout: int = 15, read_only: bool = True
) -> str:
    """Driver 18, encrypted, for Entra ID: the token goes in as a connection attribute."""
    host = server.strip()
    if not host.lower().startswith("tcp:"):
        host = f"tcp:{host}"
    if "," not in host:
        host += ",1433"
    parts = {
        "Driver": "{" + DRIVER_18 + "}",
        "Server": odbc_value(host),
        "Database": odbc_value(database),
        "Encrypt": "yes",
        "TrustServerCertificate": "no",
        "Connection Timeout": str(login_timeout),
    }
    if read_only:  # a readable secondary serves the app when the database has one
        parts["ApplicationIntent"] = "ReadOnly"
    return "".join(f"{k}={v};" for k, v in parts.items())


def token_struct(token: str) -> bytes:
    """An access token as SQL_COPT_SS_ACCESS_TOKEN wants it: ACCESSTOKEN {DWORD length;
    BYTE data[]} with the token in UTF-16-LE."""
    data = token.encode("utf-16-le")
    return struct.pack("<I", len(data)) + data


def describe_target(pairs: dict[str, str]) -> str:
    """Where the data is (host/database or file), from parsed settings; never a secret."""
    server = pairs.get("server") or pairs.get("host") or pairs.get("servername") or ""
    database = pairs.get("database") or pairs.get("initial catalog") or ""
    if server:
        host = server.split(":", 1)[1] if server.lower().startswith("tcp:") else server
        host = host.split(",", 1)[0]
        return f"{host}/{database}" if database else host
    if database:
        return database  # a file, for file-based drivers such as SQLite's
    return pairs.get("dsn", "an ODBC data source")


# -- Entra ID tokens ----------------------------------------------------------------------------


class TokenSource:
    """Access tokens for Azure SQL, reused until less than REFRESH_MARGIN_S is left."""

    def __init__(self, credential: Any = None, clock: Callable[[], float] = time.time):
        self._credential = credential
        self.clock = clock
        self._token: Any = None
        self._lock = threading.Lock()

    def get(self) -> tuple[str, float]:
        """(token, expires_on as a Unix time)."""
        with self._lock:
            now = self.clock()
            if self._token is None or self._token.expires_on - now < REFRESH_MARGIN_S:
                if self._credential is None:
                    from azure.identity import DefaultAzureCredential

                    self._credential = DefaultAzureCredential()
                self._token = self._credential.get_token(SQL_SCOPE)
            return self._token.token, float(self._token.expires_on)


# -- connections --------------------------------------------------------------------------------


@dataclass
class _Pooled:
    conn: Any
    dialect: Dialect
    expires_on: float | None  # the token's expiry: the connection is not reused past it


class OdbcConnector:
    """Opens pyodbc connections for a connection string, or for Entra ID with a token."""

    def __init__(
        self,
        connection_string: str | None = None,
        server: str | None = None,
        database: str | None = None,
        query_timeout: int = 5,
        tokens: TokenSource | None = None,
    ):
        self._conn_str = connection_string
        self.server, self.database = server, database
        self.query_timeout = query_timeout
        self.entra = not connection_string
        self._tokens = tokens or (TokenSource() if self.entra else None)
        if connection_string:
            self.pairs = parse_connection_string(connection_string)
        else:
            self.pairs = {"server": server or "", "database": database or ""}
        self.where = describe_target(self.pairs)
        self.clock = self._tokens.clock if self._tokens else time.time  # judges token expiry
        self.driver = (self.pairs.get("driver") or (DRIVER_18 if self.entra else "")).strip("{}")

    def __repr__(self) -> str:  # never the connection string: it may hold a password
        return f"OdbcConnector(where={self.where!r})"

    def pyodbc(self) -> Any:
        try:
            import pyodbc
        except ImportError:
            raise ToolUnavailable(UNIXODBC_HINT) from None
        return pyodbc

    def connect(self, autocommit: bool = True, read_only: bool = True) -> _Pooled:
        pyodbc = self.pyodbc()
        if self.entra and not (self.server and self.database):
            raise ToolUnavailable(
                "SQL_SERVER is set but SQL_DATABASE is not; set both (Entra ID sign-in) or "
                "set SQL_CONNECTION_STRING."
            )
        installed = {d.lower() for d in pyodbc.drivers()}
        if self.driver and self.driver.lower() not in installed and "/" not in self.driver:
            raise ToolUnavailable(self._driver_missing())
        attrs, expires_on = {}, None
        if self.entra:
            try:
                token, expires_on = self._tokens.get()
            except Exception:
                raise ToolUnavailable(
                    "Azure SQL needs an Entra ID sign-in and none was found; sign in (az login, "
                    "or a managed identity) or set SQL_CONNECTION_STRING."
                ) from None
            attrs[SQL_COPT_SS_ACCESS_TOKEN] = token_struct(token)
            conn_str = entra_connection_string(
                self.server, self.database, max(self.query_timeout, 5), read_only
            )
        else:
            conn_str = self._conn_str
        try:
            conn = pyodbc.connect(conn_str, autocommit=autocommit, attrs_before=attrs or None)
        except pyodbc.Error as exc:
            raise ToolUnavailable(self.explain(exc)) from None
        try:
            dialect = dialect_for(conn.getinfo(pyodbc.SQL_DBMS_NAME))
            apply_query_timeout(conn, self.query_timeout, dialect)
        except (pyodbc.Error, ValueError) as exc:
            conn.close()
            raise ToolUnavailable(
                f"Cannot bound queries on {self.where} with SQL_QUERY_TIMEOUT ({exc.__class__.__name__})."
            ) from None
        return _Pooled(conn, dialect, expires_on)

    def _driver_missing(self) -> str:
        if self.driver == DRIVER_18:
            return (
                f"The ODBC driver '{DRIVER_18}' is not installed; install it as Microsoft "
                f"describes at {DRIVER_18_URL}."
            )
        return (
            f"The ODBC driver '{self.driver}' named in SQL_CONNECTION_STRING is not installed; "
            "install it, or use one of: " + (", ".join(self.pyodbc().drivers()) or "none") + "."
        )

    def explain(self, exc: Exception) -> str:
        """A pyodbc error as one sentence; the driver's own text is never shown (it may
        name users or hosts we do not want in a reply)."""
        state = str(exc.args[0]) if exc.args else ""
        text = str(exc.args[1]) if len(exc.args) > 1 else ""
        where = self.where
        if state in LOGIN_STATES or any(m in text.lower() for m in LOGIN_TEXTS):
            if self.entra:
                return (
                    f"Azure SQL at {where} refused our Entra ID identity ({state}); make it a "
                    "database user (CREATE USER [app] FROM EXTERNAL PROVIDER) with db_datareader."
                )
            return (
                f"The database at {where} refused the sign-in ({state}); check the user and "
                "password in SQL_CONNECTION_STRING."
            )
        if state in TIMEOUT_STATES:
            return f"The database at {where} did not answer within {self.query_timeout} seconds."
        if state in MISSING_TABLE_STATES or any(m in text.lower() for m in MISSING_TABLE_TEXTS):
            return (
                f"The database at {where} has no player statistics tables; create and fill them "
                "with `python -m ops.azure_sql --run`."
            )
        if state in PERMISSION_STATES or "permission was denied" in text.lower():
            return (
                f"Our database user at {where} may not read the player statistics ({state}); "
                "add it to db_datareader."
            )
        if state in UNREACHABLE_STATES or state.startswith("08"):
            return f"The database at {where} cannot be reached ({state}); it may be down or firewalled."
        if "file not found" in text.lower() or state == "IM002":
            return self._driver_missing()
        return f"Reading player statistics from {where} failed ({state or type(exc).__name__})."


class OdbcStats:
    """`PlayerStatsBackend` over ODBC: Azure SQL in production, any ODBC source in tests."""

    kind = "cloud"

    def __init__(self, connector: OdbcConnector, pool_size: int = POOL_SIZE):
        self.connector = connector
        self.where = connector.where
        self._pool_size = pool_size
        self._idle: list[_Pooled] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OdbcStats(where={self.where!r})"

    # -- the protocol -------------------------------------------------------------------------

    def player_summary(self, user_name: str) -> PlayerSummary | None:
        return summary_from_rows(user_name, self._query(PLAYER_SUMMARY_SQL, (user_name,)))

    def player_names(self) -> list[str]:
        return [str(name) for (name,) in self._query(PLAYER_NAMES_SQL, ())]

    def check(self) -> None:
        self._query(HEALTH_SQL, ())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for pooled in idle:
            _close(pooled)

    # -- plumbing -----------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        pyodbc = self.connector.pyodbc()
        with self._connection() as pooled:
            try:
                cursor = pooled.conn.cursor()
                try:
                    return [tuple(row) for row in cursor.execute(sql, params).fetchall()]
                finally:
                    cursor.close()
            except pyodbc.Error as exc:
                _close(pooled)  # it may be unusable now: never pool it again
                raise ToolUnavailable(self.connector.explain(exc)) from None

    @contextmanager
    def _connection(self) -> Iterator[_Pooled]:
        pooled = self._take()
        try:
            yield pooled
        finally:
            self._give_back(pooled)

    def _take(self) -> _Pooled:
        now = self.connector.clock()
        with self._lock:
            while self._idle:
                pooled = self._idle.pop()
                if pooled.expires_on is None or pooled.expires_on > now + 30:
                    return pooled
                _close(pooled)  # its token is (nearly) expired: open a fresh one
        return self.connector.connect()

    def _give_back(self, pooled: _Pooled) -> None:
        if pooled.conn is None:
            return
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(pooled)
                return
        _close(pooled)


def _close(pooled: _Pooled) -> None:
    conn, pooled.conn = pooled.conn, None
    if conn is not None:
        with suppress(Exception):  # already gone: nothing more to release
            conn.close()
