"""Cut text into sentences as it streams, so each can be spoken as soon as it is written.

A sentence ends at `. ! ? ;` followed by a space (or the end of the text), at `。！？；` at
once, and at a line break. Not inside numbers ("3.5", "$12.50"), not after a list number at
the start of a line ("1. Open Settings"), and not after common abbreviations ("Dr.", "e.g.").
A run of text with no end at all is cut at a space after MAX_SENTENCE_CHARS, so speech starts
and no request grows past what a voice accepts.
"""

from __future__ import annotations

import re

ENDS = ".!?;"
WIDE_ENDS = "。！？；"  # full-width: no space follows them
CLOSERS = "\"')]}”’»"  # closing quotes and brackets that belong to the sentence they end
MAX_SENTENCE_CHARS = 400
# Words a "." follows without ending the sentence ("etc." and "No." end sentences too often).
ABBREVIATIONS = frozenset(
    ("mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "approx", "dept",
     "inc", "ltd", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
     "dec")
)  # fmt: skip
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_LIST_NUMBER = re.compile(r"^\s*\d{1,3}$")
_MARKUP = re.compile(r"[*_`#]+|^\s*[-•]\s+")


class SentenceCutter:
    """Feed text pieces as they arrive; each call returns the sentences they completed."""

    def __init__(self, max_chars: int = MAX_SENTENCE_CHARS):
        self.max_chars = max_chars
        self._text = ""
        self._scan = 0  # where to look for the next end: before it, none was found

    def feed(self, piece: str) -> list[str]:
        self._text += piece
        found: list[str] = []
        while True:
            end = self._next_end()
            if end is None:
                break
            sentence, self._text, self._scan = self._text[:end], self._text[end:], 0
            if sentence.strip():
                found.append(sentence.strip())
        return found

    def flush(self) -> list[str]:
        """What is left once the text is complete: the last sentence, if any."""
        rest, self._text, self._scan = self._text.strip(), "", 0
        return [rest] if rest else []

    def _next_end(self) -> int | None:
        """The index just after the first sentence's end, or None while undecided."""
        text = self._text
        i = self._scan
        while i < len(text):
            char = text[i]
            if char == "\n" or char in WIDE_ENDS:
                return _past_closers(text, i + 1)
            if char in ENDS:
                after = _past_closers(text, i + 1)
                if after >= len(text):
                    self._scan = i  # the next piece says whether this ends a sentence
                    return self._overlong()
                if text[after].isspace() and not _is_abbreviation(text[:i], char):
                    return after
            i += 1
        self._scan = i
        return self._overlong()

    def _overlong(self) -> int | None:
        if len(self._text) <= self.max_chars:
            return None
        cut = self._text.rfind(" ", 0, self.max_chars)
        return cut + 1 if cut > 0 else self.max_chars


def split_sentences(text: str) -> list[str]:
    """Every sentence of a whole text."""
    cutter = SentenceCutter()
    return cutter.feed(text) + cutter.flush()


def for_speech(sentence: str) -> str:
    """A written sentence as a voice should get it: no Markdown marks or list bullets."""
    return _MARKUP.sub("", sentence).strip()


def _past_closers(text: str, i: int) -> int:
    while i < len(text) and text[i] in CLOSERS:
        i += 1
    return i


def _is_abbreviation(before: str, mark: str) -> bool:
    """Whether the `.` after `before` ends an abbreviation or a list number, not a sentence."""
    if mark != ".":
        return False
    line = before.rsplit("\n", 1)[-1]
    if _LIST_NUMBER.match(line):
        return True
    word = _WORD_BEFORE.search(before)
    if word is None:
        return False
    name = word.group(1).lower()
    return name in ABBREVIATIONS or (len(name) == 1 and word.group(1).isupper())
