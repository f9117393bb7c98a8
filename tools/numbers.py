"""Numbers as people say them and speech-to-text writes them: '12', 'twelve', '10,091'."""

from __future__ import annotations

import re

from text_to_num import text2num

_DIGITS = re.compile(r"^\d{1,3}(?:[,\s]\d{3})+$|^\d+$")
_SINGLE_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip


def parse_spoken_number(text: str) -> int | None:
    """The whole text as one non-negative integer, or None when it is anything else."""
    cleaned = text.strip().lower().rstrip(".?!")
    cleaned = re.sub(r"^(?:number|no\.?|#)\s*", "", cleaned)
    if _DIGITS.match(cleaned):
        return int(re.sub(r"[,\s]", "", cleaned))
    words = cleaned.replace("-", " ").split()
    if not words or len(words) > 12:
        return None
    # Digits read one by one: "one oh nine one" is 1091.
    if len(words) > 1 and all(w in _SINGLE_DIGITS for w in words):
        return int("".join(_SINGLE_DIGITS[w] for w in words))
    try:
        return text2num(" ".join(words), "en")
    except ValueError:
        return None
