"""The tools as the model calls them, on the real embedded backends: SQL-injection strings go
through every string argument, and the data stays intact and private to its player."""

from __future__ import annotations

import sqlite3

import pytest
from pydantic import ValidationError

from assistant.service import build_backends
from ops.demo_data import SEED_GRIEVANCES, main_demo_data
from tests.support import isolate_env, make_settings
from tools import grievances, help_search, player_stats

INJECTIONS = [
    "maria' OR '1'='1",
    "'; DROP TABLE players;--",
    'x" OR 1=1 --',
    "maria'--",
    "maria%",
    "1; DELETE FROM tickets",
    "' UNION SELECT user_name, display_name, 1, 1, 1, 1, 1 FROM players --",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One data folder for the module: every test compares the data before and after itself,
    and the only writes (new tickets) are for dev."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_env(monkeypatch)
        settings = make_settings(tmp_path_factory.mktemp("embedded") / "data")
        main_demo_data(settings, 3000)
        backends = build_backends(settings)
        tools = {
            t.name: t
            for t in [
                player_stats.make_tool(backends.stats),
                help_search.make_tool(backends.search),
                *grievances.make_tools(backends.grievances),
            ]
        }
        yield settings, backends, tools


def call(tool, args: dict):
    """As the registry does it: validate the model's arguments, then run."""
    return tool.call(tool.args_model.model_validate(args))


def snapshot(settings) -> dict:
    data = settings.voicedesk_data_dir
    stats = sqlite3.connect(data / "stats.sqlite")
    tickets = sqlite3.connect(data / "tickets.sqlite")
    search = sqlite3.connect(data / "search.sqlite")
    return {
        "players": stats.execute("SELECT COUNT(*) FROM players").fetchone()[0],
        "transactions": stats.execute(
            "SELECT COUNT(*), SUM(cash_won_cents) FROM transactions"
        ).fetchone(),
        "tables": stats.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall(),
        "tickets": tickets.execute("SELECT number, user_name, status FROM tickets").fetchall(),
        "passages": search.execute("SELECT COUNT(*) FROM passages").fetchone()[0],
    }


def test_the_embedded_backends_are_chosen_without_cloud_settings(env):
    _, backends, _ = env
    assert {backends.stats.kind, backends.search.kind, backends.grievances.kind} == {"embedded"}


def test_the_tools_answer_for_the_personas(env):
    _, _, tools = env
    maria = call(tools["get_player_summary"], {"user_name": "Maria"})
    assert maria.ok and maria.data["display_name"] == "Maria Lopez"
    assert {g["game"] for g in maria.data["games"]} == {"chess", "poker"}
    assert "46 chess games" in maria.summary
    unknown = call(tools["get_player_summary"], {"user_name": "ghost"})
    assert not unknown.ok and unknown.error == "unknown_player"
    found = call(tools["search_help_center"], {"query": "turn on two-step verification"})
    assert found.ok and found.data["passages"][0]["section"] == "Two-step verification (2FA)"
    listed = call(tools["list_grievances"], {"user_name": "maria"})
    assert listed.ok and "In Progress" in listed.summary
    status = call(tools["get_grievance_status"], {"grievance_id": listed.data["tickets"][0]["key"]})
    assert status.ok and status.data["ticket"]["user_name"] == "maria"
    assert call(tools["list_grievances"], {"user_name": "sam"}).data["tickets"] == []


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize(
    ("tool", "field", "base"),
    [
        ("get_player_summary", "user_name", {}),
        ("list_grievances", "user_name", {}),
        ("register_grievance", "user_name", {"category": "wallet", "description": "Charged twice."}),
    ],
)  # fmt: skip
def test_user_name_injections_are_refused_by_validation(env, tool, field, base, value):
    settings, _, tools = env
    before = snapshot(settings)
    with pytest.raises(ValidationError):
        call(tools[tool], {**base, field: value})
    assert snapshot(settings) == before


@pytest.mark.parametrize("value", INJECTIONS)
def test_grievance_id_injections_find_nothing_and_change_nothing(env, value):
    settings, _, tools = env
    before = snapshot(settings)
    try:
        result = call(tools["get_grievance_status"], {"grievance_id": value})
    except ValidationError:
        pass
    else:
        assert not result.ok and result.error in ("invalid_key", "not_found")
    assert snapshot(settings) == before


@pytest.mark.parametrize("value", INJECTIONS)
def test_search_injections_are_just_words(env, value):
    settings, _, tools = env
    before = snapshot(settings)
    result = call(tools["search_help_center"], {"query": value})
    assert result.ok
    for passage in result.data["passages"]:
        assert set(passage) == {"id", "title", "section", "source", "text", "score", "caption"}
    assert snapshot(settings) == before


@pytest.mark.parametrize("value", INJECTIONS)
def test_description_injections_are_stored_as_text_for_that_player_only(env, value):
    settings, backends, tools = env
    before = snapshot(settings)
    result = call(
        tools["register_grievance"],
        {"category": "wallet", "description": value, "user_name": "dev"},
    )
    assert result.ok
    ticket = result.data["ticket"]
    assert ticket["user_name"] == "dev" and ticket["description"] == value
    after = snapshot(settings)
    assert after["tickets"][: len(before["tickets"])] == before["tickets"]
    assert len(after["tickets"]) == len(before["tickets"]) + 1
    assert {k: v for k, v in after.items() if k != "tickets"} == {
        k: v for k, v in before.items() if k != "tickets"
    }
    listed = call(tools["list_grievances"], {"user_name": "dev"})
    assert {t["user_name"] for t in listed.data["tickets"]} == {"dev"}
    assert backends.grievances.get(ticket["key"]).description == value


def test_invalid_categories_are_refused(env):
    _, _, tools = env
    for category in ("wallet' OR '1'='1", "refunds", ""):
        with pytest.raises(ValidationError):
            call(
                tools["register_grievance"],
                {"category": category, "description": "Charged twice.", "user_name": "dev"},
            )


def test_summaries_never_return_another_players_data(env):
    _, backends, tools = env
    for name in backends.stats.player_names()[:20]:
        result = call(tools["get_player_summary"], {"user_name": name})
        assert result.ok and result.data["user_name"] == name
    for name in {s["user_name"] for s in SEED_GRIEVANCES}:
        listed = call(tools["list_grievances"], {"user_name": name})
        assert {t["user_name"] for t in listed.data["tickets"]} == {name}
