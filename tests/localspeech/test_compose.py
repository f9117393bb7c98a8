"""Spoken answers come from the tool results and stay short."""

import json

from localspeech.compose import ANSWER_WORDS, ToolOutcome, answer, for_speech


def outcome(name, result):
    return ToolOutcome(name, {}, json.dumps(result))


def test_the_summary_of_each_tool_is_said_in_order():
    said = answer(
        [
            outcome(
                "get_player_summary",
                {"ok": True, "summary": "Maria played 3 chess games.", "data": {}},
            ),
            outcome(
                "list_grievances", {"ok": True, "summary": "maria has no grievances.", "data": {}}
            ),
        ]
    )
    assert said == "Maria played 3 chess games. maria has no grievances."


def test_a_help_passage_is_said_by_its_caption_or_first_sentences():
    passage = {
        "title": "Withdrawals",
        "section": "Timing",
        "text": "**Withdrawals** take 1 to 3 days. "
        "Bank transfers can take longer. Cards are fastest. Fees apply.",
        "caption": None,
    }
    result = {
        "ok": True,
        "summary": "Best match: 'Withdrawals' — Timing.",
        "data": {"passages": [passage]},
    }
    assert answer([outcome("search_help_center", result)]) == (
        "Withdrawals take 1 to 3 days. Bank transfers can take longer."
    )
    passage["caption"] = "Withdrawals take one to three working days."
    assert answer([outcome("search_help_center", result)]) == passage["caption"]


def test_a_ticket_gets_its_status_then_its_next_step():
    ticket = {
        "key": "GRV-12",
        "status": "In Progress",
        "status_category": "In Progress",
        "due_date": "2026-12-01",
        "queued": False,
    }
    result = {
        "ok": True,
        "summary": "Grievance GRV-12 (wallet) is In Progress; latest note: refund sent.",
        "data": {"ticket": ticket},
    }
    assert answer([outcome("get_grievance_status", result)]) == (
        "Grievance GRV-12 (wallet) is In Progress. An agent is working on it; it is due by "
        "2026-12-01. Latest note: refund sent."
    )


def test_a_failed_tool_is_said_plainly():
    result = {"ok": False, "summary": "There is no grievance GRV-99.", "error": "not_found"}
    assert answer([outcome("get_grievance_status", result)]) == "There is no grievance GRV-99."


def test_long_results_are_cut_to_a_listenable_length_at_a_clause():
    games = ", ".join(f"{n} chess games ({n * 10:,} points, ${n}.00 won)" for n in range(1, 30))
    said = answer(
        [
            outcome(
                "get_player_summary", {"ok": True, "summary": f"Maria played {games}.", "data": {}}
            )
        ]
    )
    assert len(said.split()) <= ANSWER_WORDS
    assert said.startswith("Maria played 1 chess games (10 points, $1.00 won), 2 chess games")
    assert said.endswith(", and more.")


def test_speech_text_spells_keys_and_reads_dollars():
    assert for_speech("Grievance GRV-12 paid $45.00 and $3.50") == (
        "Grievance G R V 12 paid 45 dollars and 3 dollars 50"
    )


MARIA = {
    "user_name": "maria",
    "display_name": "Maria Lopez",
    "games_played": 75,
    "games": [
        {"game": "chess", "games_played": 46, "entry_fees": 115.0, "points_earned": 1727,
         "cash_won": 117.0, "last_played": "2026-10-02T12:05:50"},
        {"game": "poker", "games_played": 29, "entry_fees": 345.0, "points_earned": 2260,
         "cash_won": 190.65, "last_played": "2026-10-26T19:40:12"},
    ],
}  # fmt: skip
PER_GAME = "Maria Lopez played 46 chess games (1,727 points, $117.00 won), 29 poker games."


def stats(question):
    result = {"ok": True, "summary": PER_GAME, "data": MARIA}
    return answer([ToolOutcome("get_player_summary", {"user_name": "maria"}, json.dumps(result))],
                  question)  # fmt: skip


def test_a_question_about_games_gets_the_total_summed_over_the_games():
    assert stats("How many games have I played?") == (
        "Maria Lopez has played 75 games in all: 46 chess and 29 poker."
    )
    assert stats("How many points does she have in total?") == "Maria Lopez has earned 3,987 points."


def test_a_game_never_played_is_said_so_and_one_game_gets_its_own_figures():
    assert stats("Has maria played rummy?") == "Maria Lopez hasn't played rummy, only chess and poker."
    assert stats("How many chess games did she play?") == "Maria Lopez has played 46 chess games."
    assert stats("How much has she won at poker?") == "Maria Lopez has won $190.65 at poker."


def test_a_period_question_is_told_the_figures_are_all_time():
    said = stats("How many games did maria play last month?")
    assert said.startswith("I only have all-time totals. ")
    assert "75 games" in said


def test_last_played_and_entry_fees_are_said_when_asked():
    assert stats("When did she last play?") == "Maria Lopez last played poker on 26 October 2026."
    assert stats("What were her entry fees?") == "Maria Lopez has paid $460.00 in entry fees."


def test_a_how_to_question_hears_the_numbered_steps_not_the_opening():
    text = ("If the app shows a blank screen:\n1.\nUpdate PlayArena from the app store.\n"
            "Old versions stop working.\n2.\nRestart your device: this frees memory.\n"
            "3.\nFree 500 MB of storage.")  # fmt: skip
    passage = {"title": "Troubleshooting", "section": "Launch", "text": text, "caption": None}
    result = {"ok": True, "summary": "Best match.", "data": {"passages": [passage]}}
    help_outcome = [outcome("search_help_center", result)]

    assert answer(help_outcome, "How do I fix the app not starting?") == (
        "Step 1: Update PlayArena from the app store. Step 2: Restart your device: this frees "
        "memory. Step 3: Free 500 MB of storage."
    )
    assert answer(help_outcome, "Why is the screen blank?").startswith("If the app shows")
