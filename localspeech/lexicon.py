"""Light lexical semantics: words, stems, stop words and a small everyday thesaurus.

Small on purpose: the router's knowledge of a tool comes from the tool's own description and
schema; this module only knows English, not the tools.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def word_set(text: str) -> frozenset[str]:
    """A set of words written as one blank-separated string (easier to read and edit)."""
    return frozenset(text.split())


STOP_WORDS = word_set(
    """a an the and or but if then than so to of in on at by for with from into onto about as
    is are was were be been being am do does did doing done have has had having will would can
    could should shall may might must i me my mine myself we us our you your yours he him his she
    her it its they them their this that these those there here what which who whom whose when
    where why how all any some each every no not nor only own same too very just also please
    can't cannot don't didn't doesn't won't isn't aren't wasn't i'm i've i'd it's that's what's
    let's tell know want like need get got give show see look find check hi hello hey thanks
    thank okay ok yes yeah well now still again one up out over just really e g eg etc more
    most much many lot way thing things something anything ask asks asked use using used"""
)

# Everyday words people say for the same thing. Each group is a set of equals; the router also
# derives groups from the offered tools ("grievance (complaint ticket)", enum glosses).
SYNONYM_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(group.split())
    for group in (
        "complaint grievance ticket case issue",
        "twice double duplicate",
        "charge bill debit",
        "money cash fund",
        "win won winning earn earned",
        "stats statistic statistics record figures",
        "status news update progress",
        "crash crashes crashing freeze freezes frozen",
        "lag laggy slow stutter",
        "withdraw withdrawal cash-out cashout payout",
        "deposit top-up topup",
        "login log-in sign-in signin password",
        "point points",
        "reward rewards bonus bonuses",
        "refund reimburse",
    )
)


def words(text: str) -> list[str]:
    """Lower-case words; possessive 's dropped ("maria's" -> "maria"), "can't" kept whole."""
    out = []
    for word in _WORD.findall(text.lower().replace("’", "'")):
        if word.endswith("'s"):
            word = word[:-2]
        out.append(word)
    return out


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A light suffix stripper: enough to equate charge/charged/charging and game/games."""
    w = word.lower()
    if len(w) <= 3 or not w.isalpha():
        return w
    for suffix, repl in (
        ("ies", "y"),
        ("sses", "ss"),
        ("xes", "x"),
        ("ches", "ch"),
        ("shes", "sh"),
    ):
        if w.endswith(suffix) and len(w) > len(suffix) + 1:
            return _final(w[: -len(suffix)] + repl)
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ingly", "edly", "ing", "ed", "ly", "ment", "ness", "ation", "ations"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":  # "stopped" -> "stop"
                w = w[:-1]
            break
    return _final(w)


def _final(w: str) -> str:
    # "charge"/"charg", "verify"/"verifi": drop a final e or y so both forms meet.
    if len(w) > 4 and w[-1] in "ey":
        return w[:-1]
    return w


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (stop words dropped), in order."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS and not w.isdigit()]


def expand_synonyms(stems: set[str], groups: tuple[frozenset[str], ...]) -> set[str]:
    """The stems plus the stems of every word sharing a synonym group with one of them."""
    out = set(stems)
    for group in groups:
        group_stems = {stem(w) for w in group}
        if stems & group_stems:
            out |= group_stems
    return out
