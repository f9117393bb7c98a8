"""What is asked decides (issue 12): an asked-for complaint outranks topic words, a question no
tool answers is refused, players named in the third person are the players that exist, small talk
gets a short reply and "what did you just say?" the last answer again.

The questions here are new or from the tuning set's kinds; tests/localspeech/heldout.yaml is
measured, never tested or tuned on (bench: heldout_routing_written, heldout_routing_spoken)."""

from __future__ import annotations

import pytest

from localspeech.players import Players
from localspeech.router import route
from tests.localspeech.cases import tool_schemas

TOOLS = tool_schemas()
PLAYERS = ["maria", "dev", "sam", "arjun_rao", "wanjiru.k", "alex.b", "alex.c", "lucas88"]


def _calls(decision):
    return [(c.name, c.arguments) for c in decision.calls]


@pytest.mark.parametrize(
    ("said", "category"),
    [
        ("Please file a complaint, my chess stats are wrong", "usage_history"),
        ("I want to report a rummy player who keeps cheating", "gaming_experience"),
        ("Can you raise a complaint that my poker points never arrived?", "reward_points"),
    ],
)
def test_an_asked_for_complaint_outranks_the_topic_words(said, category):
    decision = route(said, TOOLS, "maria", players=PLAYERS)
    assert [c.name for c in decision.calls] == ["register_grievance"], _calls(decision)
    assert decision.calls[0].arguments["category"] == category


@pytest.mark.parametrize(
    "said",
    [
        "How can I report a rude player?",
        "How do I switch off notifications in the ludo app?",
        "What should I do when poker will not open?",
    ],
)
def test_a_how_to_question_goes_to_the_help_centre_even_with_a_game_or_report_in_it(said):
    decision = route(said, TOOLS, "maria", players=PLAYERS)
    assert [c.name for c in decision.calls] == ["search_help_center"], _calls(decision)


@pytest.mark.parametrize(
    "said",
    [
        "Who won the basketball final?",
        "Can you give me free coins?",
        "Please transfer fifty dollars to my card.",
        "Add some reward points to my account.",
    ],
)
def test_what_no_tool_answers_is_refused_without_a_tool_call(said):
    decision = route(said, TOOLS, "maria", players=PLAYERS)
    assert (decision.kind, decision.calls) == ("unknown", []), _calls(decision)
    assert decision.say == "Sorry, I can't help with that here."


def test_asking_for_information_with_give_or_send_is_not_refused():
    decision = route("Give me my stats", TOOLS, "maria", players=PLAYERS)
    assert _calls(decision) == [("get_player_summary", {"user_name": "maria"})]
    decision = route("Please send me the steps to reset my password", TOOLS, "maria")
    assert [c.name for c in decision.calls] == ["search_help_center"], _calls(decision)


@pytest.mark.parametrize(
    ("said", "call"),
    [
        ("What are arjun's stats?", ("get_player_summary", {"user_name": "arjun_rao"})),
        ("does wanjiru have open complaints", ("list_grievances", {"user_name": "wanjiru.k"})),
        ("How many points has Lucas got?", ("get_player_summary", {"user_name": "lucas88"})),
        ("Show me Arjen's stats", ("get_player_summary", {"user_name": "arjun_rao"})),
    ],
)
def test_a_player_named_in_the_third_person_is_the_player_that_exists(said, call):
    assert _calls(route(said, TOOLS, "maria", players=PLAYERS)) == [call]


@pytest.mark.parametrize(
    "said",
    [
        "What are Carlos's stats?",
        "File a complaint for Carlos, his deposit is missing.",
        "What are Alex's stats?",  # two players are called Alex: not a guess
    ],
)
def test_a_name_that_is_no_single_player_is_asked_back_never_answered_or_filed(said):
    decision = route(said, TOOLS, "maria", players=PLAYERS)
    assert (decision.kind, decision.calls) == ("clarify", []), _calls(decision)
    assert decision.say.endswith("Which player is this about?")


def test_near_matches_are_accepted_only_when_one_player_is_closest():
    players = Players(PLAYERS)
    assert players.resolve("Wanjiru") == "wanjiru.k"
    assert players.resolve("arjen") == "arjun_rao"
    assert players.resolve("alex") is None
    assert players.resolve("bob") is None


@pytest.mark.parametrize(
    "said", ["Thanks!", "Mm, okay.", "Uh, one moment.", "Hi there!", "How are you?", "Cheers."]
)
def test_small_talk_gets_a_short_reply(said):
    decision = route(said, TOOLS, "maria", players=PLAYERS)
    assert decision.kind == "chat" and not decision.calls
    assert len(decision.say.split()) <= 10, decision.say


def test_what_can_you_do_still_lists_what_the_tools_do():
    decision = route("What can you do?", TOOLS, "maria")
    assert decision.kind == "chat" and "help-centre" in decision.say


@pytest.mark.parametrize(
    "said", ["What did you just say?", "Can you repeat that please?", "Sorry, I didn't catch that."]
)
def test_what_did_you_just_say_repeats_the_last_answer(said):
    last = "Maria has played 74 games."
    decision = route(said, TOOLS, "maria", last_answer=last)
    assert (decision.kind, decision.say, decision.calls) == ("repeat", last, [])
    assert route(said, TOOLS, "maria").say == "I haven't said anything yet."


def test_whisper_is_told_full_names_or_first_names_when_there_are_many():
    assert Players(["priya.sharma", "lucas88", "sam"]).spoken_forms() == "Lucas, Priya Sharma, Sam"
    many = Players([f"{first}.{last}" for first in ("ana", "bo", "cy") for last in "pqrstuvwxyz"])
    assert many.spoken_forms(limit_chars=40) == "Ana, Bo, Cy"
