"""Tool results shaped for "Behind the answer"."""

from __future__ import annotations

from assistant.models import Reply, Stage, ToolCall, Usage
from page.trace import (
    arguments_text,
    citation,
    games_rows,
    points_by_game,
    ticket_card,
    tickets_rows,
    timings_line,
    usage_line,
)
from tests.page.helpers import plain

GAMES = {
    "user_name": "maria",
    "games": [
        {"game": "chess", "games_played": 46, "entry_fees": 92.0, "points_earned": 1727,
         "cash_won": 117.0, "last_played": "2026-11-19T20:15:00Z"},
        {"game": "poker", "games_played": 29, "entry_fees": 145.5, "points_earned": 2260,
         "cash_won": 190.65, "last_played": "2026-11-18"},
    ],
}  # fmt: skip
TICKET = {
    "key": "GRV-12", "user_name": "maria", "category": "reward_points",
    "summary": "Points not credited", "description": "...", "status": "In Progress",
    "status_category": "In Progress", "priority": "High", "created": "2026-11-01T10:00:00Z",
    "updated": "2026-11-03T09:00:00Z", "due_date": "2026-11-08", "latest_comment": "Checking *logs*",
    "queued": False,
}  # fmt: skip


def test_player_statistics_become_table_rows_and_chart_columns():
    rows = games_rows(GAMES)
    assert rows[0] == {
        "Game": "chess", "Played": 46, "Entry fees": 92.0, "Points": 1727, "Cash won": 117.0,
        "Last played": "2026-11-19",
    }  # fmt: skip
    assert points_by_game(GAMES) == {"game": ["chess", "poker"], "points": [1727, 2260]}
    assert games_rows({"games": []}) == [] and points_by_game({}) == {"game": [], "points": []}


def test_passage_is_cited_with_title_section_source_and_a_short_snippet():
    passage = {"id": "wallet#3", "title": "Wallet and Payments", "section": "Withdrawing",
               "source": "wallet-and-payments.md", "text": "word " * 200, "score": 3.2,
               "caption": None}  # fmt: skip
    text = citation(2, passage)
    head, quote = text.split("  \n")
    assert head == "**[2] Wallet and Payments** · Withdrawing — `wallet-and-payments.md`"
    assert quote.startswith("> word") and quote.endswith("…") and len(quote) < 240


def test_a_caption_is_preferred_to_the_passage_text():
    passage = {"title": "T", "text": "long text", "caption": "The <em>best</em> part"}
    assert plain(citation(1, passage).split("  \n")[1]) == "> The <em>best</em> part"


def test_ticket_card_shows_key_status_dates_and_note():
    card = plain(ticket_card(TICKET))
    assert card.splitlines() == [
        "**GRV-12** · In Progress  ",
        "Points not credited  ",
        "reward points · priority High · for maria  ",
        "opened 2026-11-01 · updated 2026-11-03 · due 2026-11-08  ",
        "_Latest note:_ Checking *logs*",
    ]
    queued = ticket_card({**TICKET, "key": "LOCAL-3f2a9c", "queued": True, "status": "Queued"})
    assert "(queued for the ticket system)" in queued
    assert tickets_rows([TICKET])[0]["Updated"] == "2026-11-03"


def test_arguments_read_like_a_call():
    call = ToolCall("c1", "get_player_summary", "L", {"user_name": "maria"}, True, "", {}, 3, 0)
    assert arguments_text(call) == 'get_player_summary(user_name="maria")'
    raw = ToolCall("c2", "search_help_center", "L", "{not json", False, "", {}, 0, 0)
    assert arguments_text(raw) == "search_help_center({not json)"


def test_usage_line_splits_text_and_audio_tokens_and_shows_cost():
    usage = Usage(prompt_tokens=1200, completion_tokens=300, audio_prompt_tokens=200,
                  audio_completion_tokens=250, cost_usd=0.031234, model_calls=2)  # fmt: skip
    assert usage_line(usage) == (
        "2 model calls · tokens in: 1,000 text + 200 audio · out: 50 text + 250 audio · "
        "estimated cost $0.0312"
    )


def test_timings_line_lists_every_stage():
    reply = Reply(None, "", b"", None, None, [], [Stage("understand", "Understanding", 1500)],
                  Usage(), "openai", "m")  # fmt: skip
    assert timings_line(reply) == "Understanding 1.5 s"
