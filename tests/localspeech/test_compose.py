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
