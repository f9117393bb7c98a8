"""Misheard words still route (issue 12): the sound-alike spellings speech-to-text writes for the
domain's words are respelled, and a long word one slip from a tool's word still counts for it.

Written transcripts only (deterministic): the misspellings are the kinds Whisper writes for the
tuning set's questions and for words it cannot know; tests/localspeech/heldout.yaml is measured,
never tested or tuned on."""

from __future__ import annotations

import pytest

from localspeech.lexicon import stem
from localspeech.normalize import normalize
from localspeech.players import Players
from localspeech.router import index_for, route
from localspeech.stt import SpeechToText
from tests.localspeech.cases import tool_schemas

TOOLS = tool_schemas()
PLAYERS = ["maria", "dev", "sam", "arjun_rao", "wanjiru.k", "lucas88"]


def _calls(decision):
    return [(c.name, c.arguments) for c in decision.calls]


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("Show my grievences.", "Show my grievances."),
        ("Is my greivance GRV 12 resolved?", "Is my grievance GRV-12 resolved?"),
        ("What is the rule for reporting cheetahs?", "What is the rule for reporting cheaters?"),
        ("How long does a with drawl take?", "How long does a withdrawal take?"),
        ("How do I turn on self inclusion?", "How do I turn on self-exclusion?"),
        ("How do I turn on 2 step verification?", "How do I turn on two-step verification?"),
        ("How many Rumi games did I play?", "How many rummy games did I play?"),
        ("How do I reset my pass word?", "How do I reset my password?"),
    ],
)
def test_sound_alike_spellings_of_the_domain_words_are_respelled(heard, meant):
    assert normalize(heard, ["GRV"]) == meant


def test_ordinary_words_near_the_domain_words_are_left_alone():
    said = "The room is roomy, the lid is open and the cheetah at the zoo is fast."
    assert normalize(said, ["GRV"]).replace("cheater", "cheetah") == said
    assert normalize("I withdrew all of it", ["GRV"]) == "I withdrew all of it"


@pytest.mark.parametrize(
    ("heard", "tool", "query_has"),
    [
        ("What is the rule for reporting cheetahs?", "search_help_center", "cheaters"),
        ("How long does a withdrawl take?", "search_help_center", "withdrawal"),
        ("How do I switch on self inclusion?", "search_help_center", "self-exclusion"),
    ],
)
def test_a_misheard_how_to_question_still_reaches_the_help_centre_with_the_right_word(
    heard, tool, query_has
):
    decision = route(heard, TOOLS, "maria", players=PLAYERS)
    assert [c.name for c in decision.calls] == [tool], _calls(decision)
    assert query_has in decision.calls[0].arguments["query"]


def test_a_long_word_one_slip_from_a_tool_word_counts_for_that_tool():
    # "grievanses" is in no table: only the near spelling of "grievances" routes it.
    decision = route("Show my grievanses", TOOLS, "maria", players=PLAYERS)
    assert _calls(decision) == [("list_grievances", {"user_name": "maria"})]
    decision = route("Please list my complaynts", TOOLS, "maria", players=PLAYERS)
    assert _calls(decision) == [("list_grievances", {"user_name": "maria"})]


def test_a_short_word_or_a_word_two_slips_away_is_not_taken_for_a_tool_word():
    index = index_for(TOOLS)
    # "poser" is one letter from "poker" but short; "statement" is no slip of "statistics".
    assert index.spelled({"poser", "statement", "wallet"}) == {"poser", "statement", "wallet"}
    assert index.spelled({stem("complaynts")}) == {stem("complaints")}


def test_a_misheard_short_player_name_is_never_filed_for_someone_else():
    decision = route("File a complaint for Sem, his deposit is missing.", TOOLS, "maria", PLAYERS)
    assert decision.calls == [] or decision.calls[0].arguments.get("user_name") != "maria"
    players = Players(PLAYERS)
    assert players.resolve("Sem") is None  # too short to be a near match of "sam"


def test_whisper_is_shown_the_domain_words_before_the_players():
    stt = SpeechToText({"GRV"}, loader=lambda: None)
    stt.names = "Maria, Sam"
    prompt = stt.prompt
    assert "grievance" in prompt.lower() and "self-exclusion" in prompt and "rummy" in prompt
    assert prompt.index("rummy") < prompt.index("Players: Maria, Sam.")
