"""`python -m ops.azure_sql`: the T-SQL script (on paper) and --run through real ODBC."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from assistant import PROJECT_ROOT
from ops.azure_sql import main, tsql_script
from ops.demo_data import iter_players
from tools.backends.sql_dialect import MSSQL
from tools.backends.sqlite_stats import SqliteStats


def test_script_creates_when_missing_replaces_rows_in_one_transaction_and_grants_nothing():
    script = "".join(tsql_script(transactions=2500))
    assert script.startswith("-- VoiceDesk player statistics")
    assert "SET XACT_ABORT ON;" in script
    begin, commit = script.index("BEGIN TRANSACTION;"), script.index("COMMIT TRANSACTION;")
    assert begin < script.index("DELETE FROM transactions;") < script.index("DELETE FROM players;")
    assert script.index("CREATE TABLE transactions") < begin and commit < script.index(
        "CREATE INDEX"
    )
    assert "GO" not in script[begin:commit]  # the load is one batch, one transaction
    assert "CREATE USER" in script and all(
        line.startswith("--") for line in script.splitlines() if "CREATE USER" in line
    )


def test_script_rows_are_all_there_in_inserts_of_at_most_1000():
    script = "".join(tsql_script(transactions=2500))
    inserts = re.findall(r"INSERT INTO (\w+) VALUES\n(.*?);\n", script, re.S)
    per_table = {"players": 0, "transactions": 0}
    for table, values in inserts:
        rows = values.count("\n") + 1
        assert rows <= 1000
        per_table[table] += rows
    assert per_table == {"players": 77, "transactions": 2500}
    first = next(iter_players())
    assert "(" + ", ".join(MSSQL.literal(v) for v in first) + ")" in script


def test_emit_writes_a_file(tmp_path, capsys):
    target = tmp_path / "playarena.sql"
    assert main(["--emit", str(target), "--transactions", "10"]) == 0
    assert target.read_text(encoding="utf-8").count("INSERT INTO transactions") == 1
    assert "Wrote the T-SQL script" in capsys.readouterr().out


@pytest.mark.odbc
def test_run_loads_the_database_named_by_the_settings(
    clean_env, monkeypatch, sqlite_odbc, tmp_path, capsys
):
    target = tmp_path / "azure-stand-in.sqlite"
    monkeypatch.setenv("SQL_CONNECTION_STRING", f"DRIVER={{{sqlite_odbc}}};Database={target}")
    monkeypatch.setenv("VOICEDESK_DATA_DIR", str(tmp_path))
    assert main(["--run", "--transactions", "800"]) == 0
    assert re.fullmatch(
        rf"Loaded 77 players and 800 games into {re.escape(str(target))} \(sqlite\) in [\d.]+ s\.\n",
        capsys.readouterr().out,
    )
    assert SqliteStats(target).player_summary("maria").games


def test_run_without_sql_settings_is_one_sentence(clean_env, capsys):
    assert main(["--run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SQL_CONNECTION_STRING" in err


def test_the_module_runs_as_a_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ops.azure_sql", "--emit", "-", "--transactions", "3"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    for table in ("players", "transactions", "player_game_totals"):
        assert done.stdout.count(f"INSERT INTO {table}") == 1, table
