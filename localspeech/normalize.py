"""Make transcripts and typed questions uniform: digits for numbers, `GRV-12` for ticket keys,
the domain's words spelled one way.

Whisper writes "10,091" or "ten thousand ninety one", "G R V twelve" or "GRV12"; people type
"grv 12". Everything downstream (the router, the history) sees "10091" and "GRV-12".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from text_to_num import alpha2digit

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_THOUSANDS = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_SPACES = re.compile(r"\s+")
_ROUND_THEN_REST = re.compile(r"\b(\d*[1-9]0{3,})\s+(\d{1,3})\b")
# Letters spelled one by one ("G R V", "G.R.V.", "G-R-V") or written together ("GRV"),
# then an optional joiner and a number.
_SPELLED_KEY = re.compile(r"\b((?:[A-Za-z][ .\-]{1,2}){1,5}[A-Za-z])\.?[ \-#]*(\d{1,9})\b")
_WORD_KEY = re.compile(r"\b([A-Za-z]{2,10})[ \-#]*(\d{1,9})\b")

# How speech-to-text (and hurried typing) spells the domain's words, and the one spelling the
# router and the tools know. Only sound-alikes that mean nothing else in a support question:
# "cheetahs" are never reported on a games platform, "Rumi" is no game.
_SOUND_ALIKES: tuple[tuple[str, str], ...] = (
    (r"gr(?:ie|ei|e)v[ae]n(?:ce|se|ts?)", "grievance"),
    (r"gr(?:ie|ei|e)v[ae]n(?:ces|ses)", "grievances"),
    (r"(?:cheetahs|cheeters)", "cheaters"),
    (r"(?:cheetah|cheeter)", "cheater"),
    (r"cheeting", "cheating"),
    (r"with ?drawl", "withdrawal"),
    (r"with ?drawls", "withdrawals"),
    (r"self[ \-]?(?:ex|in)clusion", "self-exclusion"),
    (r"(?:two|2)[ \-]step", "two-step"),
    (r"(?:to|too)[ \-]step(?= verif)", "two-step"),
    (r"two[ \-]?factor", "two-factor"),
    (r"(?:rumi|rummie|rummey|rumy)", "rummy"),
    (r"(?:carom|carrum|karom|karrom)", "carrom"),
    (r"(?:lido|loodo|ludu|luddo)", "ludo"),
    (r"re[ \-]ward", "reward"),
    (r"pass ?word", "password"),  # compounds heard as two words
    (r"pass ?words", "passwords"),
    (r"user ?name", "username"),
    (r"user ?names", "usernames"),
    (r"e[ \-]?wallet", "wallet"),
)
_RESPELL = [(re.compile(rf"\b{said}\b", re.IGNORECASE), meant) for said, meant in _SOUND_ALIKES]


def normalize(text: str, key_prefixes: Iterable[str] = ()) -> str:
    """Digits for spoken numbers, no thousands separators, ticket keys as PREFIX-NUMBER."""
    prefixes = {p.upper() for p in key_prefixes if p}
    text = _SPACES.sub(" ", text).strip()
    if not text:
        return text
    for said, meant in _RESPELL:  # a word already spelled right keeps its capital
        text = said.sub(lambda m, meant=meant: m[0] if m[0].lower() == meant else meant, text)
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = alpha2digit(text, "en")
    text = _ROUND_THEN_REST.sub(_join_round_number, text)
    text = _join_digit_runs(text)
    text = _SPELLED_KEY.sub(lambda m: _spelled_key(m, prefixes), text)
    return _WORD_KEY.sub(lambda m: _word_key(m, prefixes), text)


def _join_round_number(match: re.Match[str]) -> str:
    """'10000 91' (Whisper's "ten thousand ninety one") -> '10091'; '10 91' stays."""
    head, rest = match.group(1), match.group(2)
    zeros = len(head) - len(head.rstrip("0"))
    if zeros >= 3 and len(rest) <= zeros:
        return str(int(head) + int(rest))
    return match.group(0)


def _join_digit_runs(text: str) -> str:
    """'1 oh 9 1' (digits read one by one) -> '1091'; needs three or more in a row."""
    words = text.split(" ")
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= 3 and any(w[0].isdigit() for w in run):
            out.append("".join(_DIGIT_WORDS.get(w.lower(), w) for w in run))
        else:
            out.extend(run)
        run.clear()

    for word in words:
        bare = word.rstrip(".,?!")
        if (bare.isdigit() and len(bare) == 1) or bare.lower() in _DIGIT_WORDS:
            run.append(bare)
            if bare != word:  # punctuation ends the run
                flush()
                out[-1] += word[len(bare) :]
            continue
        flush()
        out.append(word)
    flush()
    return " ".join(out)


def _spelled_key(match: re.Match[str], prefixes: set[str]) -> str:
    letters = re.sub(r"[ .\-]", "", match.group(1)).upper()
    if letters in prefixes or (not prefixes and len(letters) >= 2):
        return f"{letters}-{int(match.group(2))}"
    return match.group(0)


def _word_key(match: re.Match[str], prefixes: set[str]) -> str:
    word, number = match.group(1), match.group(2)
    upper = word.upper()
    if upper in prefixes:
        return f"{upper}-{int(number)}"
    # Speech-to-text slips one letter of a known prefix ("GRB12"); only when written in capitals.
    if word.isupper() and any(_one_letter_off(upper, p) for p in prefixes):
        near = next(p for p in prefixes if _one_letter_off(upper, p))
        return f"{near}-{int(number)}"
    return match.group(0)


def _one_letter_off(word: str, prefix: str) -> bool:
    return (
        len(word) == len(prefix) >= 3
        and sum(a != b for a, b in zip(word, prefix, strict=True)) == 1
    )


def key_prefixes_in(text: str) -> set[str]:
    """Ticket-key prefixes shown in examples such as 'GRV-12' inside a description."""
    return set(re.findall(r"\b([A-Z]{2,10})-\d+\b", text))
