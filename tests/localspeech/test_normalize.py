"""Transcripts become uniform: digits for numbers, ticket keys as PREFIX-NUMBER."""

import pytest

from localspeech.normalize import normalize


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        (
            "What is the status of grievance G R V twelve?",
            "What is the status of grievance GRV-12?",
        ),
        ("Any news on ticket 10,091?", "Any news on ticket 10091?"),
        ("ticket ten thousand ninety one", "ticket 10091"),
        ("Where is my complaint 10,000 91?", "Where is my complaint 10091?"),
        ("is ticket one oh nine one done", "is ticket 1091 done"),
        ("grv 12 please", "GRV-12 please"),
        ("G.R.V. 7", "GRV-7"),
        ("What is the status of grievance GRB12?", "What is the status of grievance GRV-12?"),
        ("I was charged twice for twenty five dollars", "I was charged twice for 25 dollars"),
    ],
)
def test_numbers_and_ticket_keys_are_normalised(heard, expected):
    assert normalize(heard, ["GRV"]) == expected


def test_ordinary_words_and_small_numbers_are_left_alone():
    assert normalize("I played two games, is 12 ok", ["GRV"]) == "I played two games, is 12 ok"
    assert normalize("Is it over", ["GRV"]) == "Is it over"
    assert normalize("tickets 10 91 and 2000 5000", ["GRV"]) == "tickets 10 91 and 2000 5000"
