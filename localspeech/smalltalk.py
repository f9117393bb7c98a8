"""What is said to the assistant rather than asked of the tools: thanks, greetings, filler sounds,
"how are you", and "what did you just say?". Each gets a short reply, never a list of skills."""

from __future__ import annotations

import re

from localspeech.lexicon import STOP_WORDS, word_set, words

GREETINGS = word_set("hi hello hey morning afternoon evening good")
THANKS = word_set("thanks thank cheers appreciate appreciated")
FAREWELL = word_set("bye goodbye later")
# Sounds and words that carry no request: "um", "okay", "hold on a second".
FILLER = word_set(
    """um umm uh uhh hmm hm mm mhm er erm ah oh okay ok alright right sure fine cool great nice
    perfect wow hold wait on second sec moment minute today doing going there"""
)
_REPEAT = re.compile(
    r"\b(?:what did you (?:just )?say|what was that|(?:repeat|say) (?:that|it|this)(?: again)?|"
    r"come again|say again|(?:didn't|did not|couldn't|could not) (?:hear|catch|understand) "
    r"(?:that|you|it)|pardon)\b",
    re.IGNORECASE,
)
_HOW_ARE_YOU = re.compile(r"\bhow (?:are|r) (?:you|u)\b|\bhow's it going\b", re.IGNORECASE)
_CAPABILITIES = re.compile(
    r"\bwhat (?:can|do) you do\b|\bwhat are you\b|\bhow can you help\b", re.IGNORECASE
)


def asks_to_repeat(text: str) -> bool:
    return bool(_REPEAT.search(text))


def asks_capabilities(text: str) -> bool:
    return bool(_CAPABILITIES.search(text))


def is_small_talk(text: str) -> bool:
    """Nothing but greetings, thanks, goodbyes and filler: no request in it."""
    said = set(words(text))
    if _HOW_ARE_YOU.search(text):
        said -= {"how", "are", "you", "r", "u", "it", "going"}
    return not said - STOP_WORDS - GREETINGS - THANKS - FAREWELL - FILLER


def reply(text: str) -> str:
    """A one-sentence answer to small talk."""
    said = set(words(text))
    if said & THANKS:
        return "You're welcome."
    if said & FAREWELL:
        return "Goodbye!"
    if _HOW_ARE_YOU.search(text):
        return "Fine, thanks. What can I look up for you?"
    if said & GREETINGS:
        return "Hello! What can I look up for you?"
    return "I'm listening."
