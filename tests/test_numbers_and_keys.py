import pytest

from tools.grievances import parse_ticket_key
from tools.numbers import parse_spoken_number


@pytest.mark.parametrize(
    ("text", "number"),
    [("12", 12), ("twelve", 12), ("10,091", 10091), ("10 091", 10091), ("ten thousand ninety one", 10091),
     ("one oh nine one", 1091), ("number 7", 7), ("seventy-two", 72), ("", None), ("twelve apples", None),
     ("1; DROP TABLE", None), ("-3", None)],
)  # fmt: skip
def test_spoken_numbers(text, number):
    assert parse_spoken_number(text) == number


@pytest.mark.parametrize(
    ("text", "key"),
    [("GRV-12", "GRV-12"), ("grv 12", "GRV-12"), ("GRV12", "GRV-12"), ("G R V twelve", "GRV-12"),
     ("12", "GRV-12"), ("twelve", "GRV-12"), ("10,091", "GRV-10091"), ("ticket 12", "GRV-12"),
     ("grv-0012", "GRV-12"), ("ABC-7", "ABC-7")],
)  # fmt: skip
def test_ticket_keys_as_people_say_them(text, key):
    assert parse_ticket_key(text, "GRV") == key


@pytest.mark.parametrize(
    "text",
    ["", "0", "drop table", "12; DROP TABLE x", "GRV-12' OR '1'='1", "project = GRV", "*", "GRV-"],
)
def test_anything_else_is_refused(text):
    assert parse_ticket_key(text, "GRV") is None
