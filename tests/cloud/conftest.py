"""Fixtures for the cloud backends: vendor doubles on 127.0.0.1 and isolated settings."""

from __future__ import annotations

import os

import pytest


def need(condition: bool, reason: str) -> None:
    """Skip locally when a system package is missing; under CI=true that is a failure."""
    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: nothing may be skipped)")
    pytest.skip(reason)


# -- ODBC drivers and a throwaway PostgreSQL on loopback ----------------------------------------

PG_BIN = "/usr/lib/postgresql/15/bin"


def odbc_drivers() -> list[str]:
    try:
        import pyodbc
    except ImportError:
        return []
    return pyodbc.drivers()


@pytest.fixture(scope="session")
def sqlite_odbc():
    """The SQLite3 ODBC driver's name, or a skip (a failure under CI) saying what to install."""
    need("SQLite3" in odbc_drivers(), "needs unixODBC and the SQLite3 ODBC driver "
         "(apt-get install unixodbc libsqliteodbc)")  # fmt: skip
    return "SQLite3"


@pytest.fixture(scope="session")
def postgres_odbc():
    """A PostgreSQL server on 127.0.0.1 for this session, and its ODBC connection string."""
    import shutil
    import socket
    import subprocess
    import tempfile
    from pathlib import Path

    need("PostgreSQL Unicode" in odbc_drivers(), "needs the PostgreSQL ODBC driver "
         "(apt-get install unixodbc odbc-postgresql)")  # fmt: skip
    need(Path(PG_BIN, "initdb").exists(), "needs PostgreSQL 15 (apt-get install postgresql)")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="voicedesk-pg-"))
    if as_postgres:
        shutil.chown(base, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = base / "data"
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True)  # noqa: E731
    run(f"{PG_BIN}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--no-sync")  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    run(f"{PG_BIN}/pg_ctl", "-D", str(data), "-l", str(base / "log"), "-w", "-o", options, "start")
    try:
        yield (
            "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;"
            f"PORT={port};DATABASE=postgres;UID=postgres;PWD=x;"
        )
    finally:
        run(f"{PG_BIN}/pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)
