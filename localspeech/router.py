"""A deterministic router: from a question and the OFFERED tools to none, one or several calls.

It knows no tool by name. It reads each tool's description (its words and its quoted example
phrasings), the "only when ..." condition a description may state, and the JSON schema of the
arguments (enums and their explanations, ids, people, free text), then:

1. splits the question into requests ("how many games did I play and do I have tickets");
2. scores every tool for each request: words shared with the tool's description weighted by
   how specific they are across the offered tools (idf), plus how much of the tool's closest
   example phrasing was said, plus evidence from the arguments (a ticket number was said);
3. fills the chosen tool's arguments from the words; when a required one cannot be filled
   (no customer known and none named) it asks back instead of guessing.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from threading import Lock
from typing import Any, Literal

from localspeech import smalltalk
from localspeech.lexicon import (
    STOP_WORDS,
    SYNONYM_GROUPS,
    content_stems,
    expand_synonyms,
    stem,
    word_set,
    words,
)
from localspeech.normalize import normalize
from localspeech.players import NotAPlayer, Players
from localspeech.toolspec import Example, ParamSpec, ToolSpec, parse_tools, unquoted

MIN_SCORE = 1.0  # below this a request maps to no tool (measured on tests/localspeech fixtures)
EXAMPLE_WEIGHT = 1.6  # a fully said example phrasing counts as much as ~1-2 specific words
TEMPLATE_SCORE = 2.4  # a question opening like a "how do I ..." template: outranks topic words
REFUSAL = "Sorry, I can't help with that here."
ASKED_GATE_SCORE = 3.0  # "please file a complaint": the asked action outranks topic words
SYNONYM_CREDIT = 0.7  # a word matched only through a synonym or a shared prefix
# A long word the tools do not know, one slip away from one they do ("withdrawl", "grievence",
# "verifcation"): speech-to-text misspells; 0.85 needs 7+ letters for one changed letter.
NEAR_SPELLING = 0.85
NEAR_SPELLING_MIN_LEN = 6

_REQUEST_OPENERS = word_set(
    """what whats how why when where which who whom whose is are was were do does did can could
    would will should shall any show list tell give check look find search get register file
    report open raise log lodge complain i'd id i'm please also"""
)
_SPLITTERS = re.compile(r"(?<=[.?!;])\s+|,?\s+\b(?:and|also|plus|then)\b\s+", re.IGNORECASE)
_FILLER_OPENERS = re.compile(
    r"^(?:(?:hi|hello|hey|okay|ok|so|well|please|yes|um|uh)\b[,.!]?\s*)+", re.IGNORECASE
)
_POLITE = re.compile(
    r"^(?:(?:can|could|would) you (?:please )?(?:tell me |help me |check |look up )?|"
    r"i (?:want|would like|need|'d like) to know |please |tell me )",
    re.IGNORECASE,
)
_GREETINGS = {"hi", "hello", "hey", "morning", "afternoon", "evening", "good"}
_THANKS = {"thanks", "thank", "cheers", "great", "bye", "goodbye"}
_NAME_CUES = {"player", "user", "customer", "username", "account", "for", "about", "of", "named"}
# "does Sam have", "did Maria play": a third person asked about by name.
_ASKED_ABOUT = {"does", "did", "has", "is", "was", "can", "will", "would", "should"}
_PRONOUNS = {"i", "me", "my", "mine", "we", "our", "you", "your", "he", "she", "they", "them"}
_NUMBER_WORDS = word_set(
    "zero one two three four five six seven eight nine ten eleven twelve once twice"
)

# "How do I report ...", "do I have any complaints": a question about the action, not a request.
_QUESTION_OPENERS = word_set(
    "how what whats why when where which who whom whose is are was were do does did has have"
)
# An action asked of the assistant that no offered tool may do ("give me free points").
_ACTION_VERBS = word_set("give add send transfer credit grant pay top award")
_UNEARNED = word_set("free gift gifts freebie freebies")
# What such an action would hand over ("send me the steps" asks for information instead).
_VALUE = word_set(
    """point points chip chips coin coins money cash bonus bonuses credit credits dollar dollars
    euro euros fund funds reward rewards token tokens voucher vouchers balance"""
)
# Subjects no support tool is about: sports results, general knowledge, the news.
_OUTSIDE = word_set(
    """football soccer cricket basketball baseball tennis rugby hockey golf formula league
    championship champions olympics nba nfl fifa capital president election weather forecast
    stock stocks recipe movie movies song songs
    lottery horoscope"""
)
# Possessives of time, not of people ("yesterday's game", "last night's match").
_TIME_WORDS = word_set("today yesterday tomorrow tonight night week month year weekend")
_LODGE = re.compile(
    r"\b(?:lodge|log|raise|make|submit|open|put in) (?:a |an |another )?"
    r"(?:complaint|grievance|ticket|report)\b"
)
# Auxiliaries that make the same template: "how do I", "how can I", "what should / can I do".
_AUXILIARIES = word_set("do does can could should would will may might")

DecisionKind = Literal["tools", "clarify", "unknown", "chat", "repeat"]


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass
class Decision:
    kind: DecisionKind
    calls: list[Call] = field(default_factory=list)
    say: str | None = None  # what to answer when no tool is called
    question: str = ""  # the normalised question the decision was made on
    scores: list[dict[str, float]] = field(default_factory=list)  # per request, for the trace


@dataclass
class _Scored:
    spec: ToolSpec
    score: float
    example: float


class ToolIndex:
    """The offered tools, parsed once, with the weights the scoring needs."""

    def __init__(self, tools: list[dict[str, Any]], key_prefixes: set[str] | None = None):
        self.specs = parse_tools(tools)
        self.key_prefixes = set(key_prefixes or ())
        for spec in self.specs:
            for param in spec.params:
                self.key_prefixes |= param.key_prefixes
        # Words of the tools are not names ("Wallet" capitalised by speech-to-text is no
        # player); their quoted example values ('maria') are left out on purpose.
        self.vocabulary_words = {
            w
            for spec in self.specs
            for w in words(unquoted(f"{spec.name.replace('_', ' ')} {spec.description}"))
            + [w for p in spec.params for w in words(unquoted(p.description))]
            + [w for p in spec.params for w in words(" ".join(map(str, p.enum)).replace("_", " "))]
        }
        self.vocabulary_stems = {stem(w) for w in self.vocabulary_words}
        self._near: dict[str, str] = {}

    def spelled(self, stems: set[str]) -> set[str]:
        """The stems, each unknown long one replaced by the tools' stem it is one slip from."""
        return {self._nearest(s) for s in stems}

    def _nearest(self, term: str) -> str:
        if term in self.vocabulary_stems or len(term) < NEAR_SPELLING_MIN_LEN:
            return term
        if term not in self._near:  # a word is looked up once per tool set
            if len(self._near) >= 4096:  # bounded: a long-running server hears many words
                self._near.clear()
            close = difflib.get_close_matches(term, self.vocabulary_stems, 1, NEAR_SPELLING)
            self._near[term] = close[0] if close else term
        return self._near[term]

    def idf(self, specs: list[ToolSpec]) -> dict[str, float]:
        """How specific each word is among `specs` (the tools that could apply to a question)."""
        df: dict[str, int] = {}
        for spec in specs:
            for term in set(spec.doc):
                df[term] = df.get(term, 0) + 1
        # 1.5 for a word only one tool has, about 0.5 for one they all have: whatever the number
        # of tools, a matched word counts, and a distinctive one counts three times as much.
        n = len(specs)
        top = math.log((n + 1) / 1.5)
        return {t: 0.5 + math.log((n + 1) / (c + 0.5)) / top for t, c in df.items()}

    def capabilities(self) -> str:
        """What the assistant can do, said from the tools' own descriptions."""
        heads = [_lower_first(spec.headline) for spec in self.specs if spec.headline]
        if not heads:
            return (
                "I can only answer simple questions offline, and no tools are available right now."
            )
        return "I can " + _join(heads) + "."


_CACHE: OrderedDict[str, ToolIndex] = OrderedDict()
_CACHE_LOCK = Lock()


def index_for(tools: list[dict[str, Any]], key_prefixes: set[str] | None = None) -> ToolIndex:
    """Parse each distinct tool set once (the same tools come with every request)."""
    key = json.dumps([tools, sorted(key_prefixes or ())], sort_keys=True, default=str)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    index = ToolIndex(tools, key_prefixes)
    with _CACHE_LOCK:
        _CACHE[key] = index
        while len(_CACHE) > 16:
            _CACHE.popitem(last=False)
    return index


def route(
    question: str,
    tools: list[dict[str, Any]],
    customer: str | None = None,
    tool_choice: Any = "auto",
    key_prefixes: set[str] | None = None,
    players: Players | list[str] | tuple[str, ...] | None = None,
    last_answer: str | None = None,
) -> Decision:
    """Decide what to do with `question` given the offered `tools`, the customer, if known, the
    players that exist, if known, and the assistant's last answer, if any."""
    index = index_for(tools, key_prefixes)
    text = normalize(question, index.key_prefixes)
    said = words(text)
    if smalltalk.asks_to_repeat(text) and len(said) <= 8:
        again = (last_answer or "").strip() or "I haven't said anything yet."
        return Decision("repeat", say=again, question=text)
    if smalltalk.asks_capabilities(text) and len(said) <= 6:
        return Decision("chat", say=index.capabilities(), question=text)
    if smalltalk.is_small_talk(text):
        return Decision("chat", say=smalltalk.reply(text), question=text)
    if tool_choice == "none" or not index.specs:
        return Decision("unknown", say=_cannot(text, index), question=text)
    forced = _forced_name(tool_choice)
    requests = split_requests(text)
    known = players if isinstance(players, Players) or players is None else Players(players)
    person = named_person(text, index, customer, known or None)
    all_stems = index.spelled(set(content_stems(text)))
    calls: list[Call] = []
    scores: list[dict[str, float]] = []
    missing: list[tuple[ToolSpec, ParamSpec]] = []
    refused = False
    for request in requests:
        ranked = _rank(request, all_stems, index)
        scores.append({r.spec.name: round(r.score, 3) for r in ranked})
        if forced:
            ranked = [r for r in ranked if r.spec.name == forced]
        elif tool_choice == "required" and not calls and request is requests[-1]:
            pass  # must call something: take the best even below the threshold
        elif _beyond_tools(request, index):
            ranked, refused = [], True
        else:
            ranked = [r for r in ranked if r.score >= MIN_SCORE]
        if not ranked:
            continue
        spec = ranked[0].spec
        if any(c.name == spec.name for c in calls):
            continue
        arguments, lacking = fill_arguments(spec, request, text, customer, person, index)
        if lacking:
            missing.append((spec, lacking))
            continue
        calls.append(Call(spec.name, arguments))
    if calls:
        return Decision("tools", calls, question=text, scores=scores)
    if missing:
        spec, param = missing[0]
        say = ask_for(spec, param)
        if param.kind == "person" and isinstance(person, NotAPlayer):
            # A name that is no player: never answered or filed for someone else.
            say = f"I can't find a player called {person.said}. {say}"
        return Decision("clarify", say=say, question=text, scores=scores)
    if said and said[0] in _GREETINGS | _THANKS:  # "Hello, Naira": a greeting, misheard name
        return Decision("chat", say=smalltalk.reply(text), question=text, scores=scores)
    if refused:  # one short sentence: the list of skills is for a question that was unclear
        return Decision("unknown", say=REFUSAL, question=text, scores=scores)
    return Decision("unknown", say=_cannot(text, index), question=text, scores=scores)


def split_requests(text: str) -> list[str]:
    """Separate requests; a piece that does not open like a request stays with its neighbour.

    "I was charged twice and I want to file a complaint" is one request (a statement then the
    ask); "how many games did I play and do I have any tickets" is two.
    """
    pieces = [p.strip(" ,") for p in _SPLITTERS.split(text) if p and p.strip(" ,")]
    requests: list[str] = []
    for piece in pieces:
        first = _first_word(piece)
        opens = first in _REQUEST_OPENERS or piece.rstrip().endswith("?")
        if requests and (not opens or not _is_request(requests[-1])):
            requests[-1] = f"{requests[-1]} {piece}"
        else:
            requests.append(piece)
    return requests or [text]


def _is_request(piece: str) -> bool:
    return _first_word(piece) in _REQUEST_OPENERS or piece.rstrip().endswith("?")


def _first_word(piece: str) -> str:
    found = words(_FILLER_OPENERS.sub("", piece))
    return found[0] if found else ""


def _rank(request: str, all_stems: set[str], index: ToolIndex) -> list[_Scored]:
    stems = index.spelled(set(content_stems(request)))
    expanded = expand_synonyms(stems, SYNONYM_GROUPS)
    said_words = words(_FILLER_OPENERS.sub("", _POLITE.sub("", _FILLER_OPENERS.sub("", request))))
    said_all = expand_synonyms(all_stems, SYNONYM_GROUPS)
    # "Only when the customer asks to report or complain": the others are out of the running.
    eligible = [s for s in index.specs if not s.gate or any(_matches(g, said_all) for g in s.gate)]
    idf = index.idf(eligible)
    asked = _asks_for_action(said_words)
    ranked = []
    for spec in eligible:
        doc = sum(_credit(t, spec.doc, idf) for t in stems)
        example = max(
            (_example_score(ex, expanded, said_words, idf) for ex in spec.examples), default=0.0
        )
        score = doc + example + _argument_evidence(spec, request, index)
        if spec.gate and asked and spec.gate & asked:
            score += ASKED_GATE_SCORE
        ranked.append(_Scored(spec, score, example))
    ranked.sort(key=lambda r: (r.score, r.example), reverse=True)
    return ranked


def _asks_for_action(said: list[str]) -> set[str]:
    """The verbs (stems) of a request that asks for something to be done ("please file a
    complaint", "I want to report a cheater"); none for a question ("how do I report one?")."""
    if not said or said[0] in _QUESTION_OPENERS:
        return set()
    verbs = {stem(w) for w in said}
    if _LODGE.search(" ".join(said)):  # "log a complaint" is filing one
        verbs.add("file")
    return verbs


def _beyond_tools(request: str, index: ToolIndex) -> bool:
    """A request no offered tool answers: about sports or the news, or asking the assistant to
    give or move something when no tool says it does ("can you give me free points?")."""
    said = words(_FILLER_OPENERS.sub("", _POLITE.sub("", _FILLER_OPENERS.sub("", request))))
    if any(w in _OUTSIDE and w not in index.vocabulary_words for w in said):
        return True
    if not said or said[0] in _QUESTION_OPENERS - {"do", "does"}:
        return False
    verbs = [w for w in said[:3] if w in _ACTION_VERBS and stem(w) not in index.vocabulary_stems]
    if not verbs:
        return False
    # "give me my stats" asks for information; "give me free points" for something of value.
    return bool(set(said) & (_UNEARNED | _VALUE)) or any(w.isdigit() for w in said)


def _credit(term: str, doc: Any, idf: dict[str, float]) -> float:
    """The weight of the description word that `term` matches: itself, a synonym or a longer form."""
    if term in doc:
        return idf.get(term, 0.0)
    best = 0.0
    for other in expand_synonyms({term}, SYNONYM_GROUPS) - {term}:
        if other in doc:
            best = max(best, SYNONYM_CREDIT * idf.get(other, 0.0))
    if len(term) >= 5:
        for other in doc:  # complain / complaint, cheat / cheater
            if len(other) >= 5 and (other.startswith(term) or term.startswith(other)):
                best = max(best, SYNONYM_CREDIT * idf.get(other, 0.0))
    return best


def _matches(term: str, said: set[str]) -> float:
    if term in said:
        return 1.0
    if len(term) >= 5 and any(
        len(s) >= 5 and (s.startswith(term) or term.startswith(s)) for s in said
    ):
        return SYNONYM_CREDIT
    return 0.0


def _example_score(
    ex: Example, expanded: set[str], said: list[str], idf: dict[str, float]
) -> float:
    """How much of a quoted example was said; a template ("how do I ...") by its opening."""
    if ex.prefix:
        return TEMPLATE_SCORE if _opens_like(said, ex.prefix) else 0.0
    if not ex.stems:
        return 0.0
    total = sum(max(idf.get(t, 0.0), 0.05) for t in ex.stems)
    hit = sum(max(idf.get(t, 0.0), 0.05) * _matches(t, expanded) for t in ex.stems)
    coverage = hit / total
    return EXAMPLE_WEIGHT * coverage * coverage  # half an example is weak evidence


def _opens_like(said: list[str], prefix: tuple[str, ...]) -> bool:
    """ "how can I ..." opens like the template "how do I ...": auxiliaries are interchangeable."""
    if len(said) < len(prefix):
        return False
    return all(
        s == p or (s in _AUXILIARIES and p in _AUXILIARIES)
        for s, p in zip(said, prefix, strict=False)
    )


def _argument_evidence(spec: ToolSpec, request: str, index: ToolIndex) -> float:
    """A said ticket number speaks for a tool that takes one; a needed one not said, against."""
    evidence = 0.0
    for param in spec.params:
        if param.kind in ("id", "number"):
            if _find_id(param, request, index) is not None:
                evidence += 0.8
            elif param.required:
                evidence -= 0.6
    return evidence


# ---- arguments -------------------------------------------------------------------------


def fill_arguments(
    spec: ToolSpec,
    request: str,
    question: str,
    customer: str | None,
    person: str | NotAPlayer | None,
    index: ToolIndex,
) -> tuple[dict[str, Any], ParamSpec | None]:
    """The arguments for `spec`, or the first required parameter that could not be filled."""
    arguments: dict[str, Any] = {}
    for param in spec.params:
        value = _value_for(param, request, question, customer, person, index)
        if value is None:
            if param.required:
                return arguments, param
            continue
        arguments[param.name] = value
    return arguments, None


def _value_for(
    param: ParamSpec,
    request: str,
    question: str,
    customer: str | None,
    person: str | NotAPlayer | None,
    index: ToolIndex,
) -> Any:
    if param.kind == "person":
        if isinstance(person, NotAPlayer):
            return None
        value = person or customer
        if value and param.pattern and not re.fullmatch(param.pattern, value):
            return None
        return value
    if param.kind == "enum":
        return choose_enum(param, question)
    if param.kind == "id":
        return _find_id(param, request, index) or _find_id(param, question, index)
    if param.kind == "number":
        found = _find_id(param, request, index)
        if found is None:
            return None
        digits = re.sub(r"\D", "", found)
        return (int(digits) if param.type == "integer" else float(digits)) if digits else None
    if param.kind == "boolean":
        said = set(content_stems(request))
        return bool(said & set(content_stems(param.name.replace("_", " "))))
    if param.kind == "freetext":
        # A description of a problem keeps everything said; a search keeps this request only.
        source = question if _is_description(param) else request
        return _clean_free_text(source)
    return _find_entity(request, index) or _find_entity(question, index)


def _is_description(param: ParamSpec) -> bool:
    return param.name.lower() in ("description", "details", "detail", "body", "problem", "reason")


def choose_enum(param: ParamSpec, question: str) -> Any:
    """The enum value whose own words and explanation best match what was said."""
    stems = expand_synonyms(set(content_stems(question)), SYNONYM_GROUPS)
    docs = {
        value: set(
            content_stems(f"{str(value).replace('_', ' ')} {param.glosses.get(str(value), '')}")
        )
        for value in param.enum
        if value != param.fallback
    }
    df: dict[str, int] = {}
    for doc in docs.values():
        for term in doc:
            df[term] = df.get(term, 0) + 1
    best, best_score = param.fallback, 0.0
    for value, doc in docs.items():
        score = sum(
            math.log((len(docs) + 1) / (df.get(t, 0) + 0.5)) * _matches(t, doc) for t in stems
        )
        if score > best_score:
            best, best_score = value, score
    return best


def _find_id(param: ParamSpec, text: str, index: ToolIndex) -> str | None:
    """A ticket key ('GRV-12') or a number, preferring one said next to the argument's noun."""
    keys = re.findall(r"\b([A-Z]{2,10})-(\d{1,9})\b", text)
    for prefix, number in keys:
        if not param.key_prefixes or prefix in param.key_prefixes or prefix in index.key_prefixes:
            return f"{prefix}-{number}"
    tokens = re.findall(r"[A-Za-z']+|\d+(?:\.\d+)?", text)
    cues = {stem(w) for w in words(param.noun + " " + param.name.replace("_", " "))}
    cues |= expand_synonyms(cues, SYNONYM_GROUPS) | {"number", "no", "id", "key", "#"}
    numbers = [(i, t) for i, t in enumerate(tokens) if t[0].isdigit()]
    if not numbers:
        return None
    for i, number in numbers:
        before = [stem(t.lower()) for t in tokens[max(0, i - 3) : i]]
        if cues & set(before):
            return number
    return numbers[-1][1] if len(numbers) == 1 else None


def named_person(
    text: str, index: ToolIndex, customer: str | None = None, players: Players | None = None
) -> str | NotAPlayer | None:
    """A player named in the question: "Maria's games", "for player sam", "did Alex play".

    With a customer known, overriding them needs an explicit mention (a possessive, a cue word
    such as "for" or "player", or "does X ..."); a capital letter alone is not enough, because
    speech-to-text capitalises other words too ("the poker game Keeps freezing").
    With the players known, a name is one of them ("Priya" is priya.sharma, "does sam have ..."
    typed in lower case too), and a name that is none of them is a NotAPlayer.
    """
    if players:
        return _known_person(text, index, customer, players)
    for token, lower, possessive, previous, start in _words(text, commas=False):
        if (
            lower in STOP_WORDS
            or lower in _PRONOUNS
            or lower in _NUMBER_WORDS
            or lower in index.vocabulary_words
            or stem(lower) in index.vocabulary_stems
            or token.isupper()
            or len(token) < 2
        ):
            continue
        capitalised = token[0].isupper() and not start
        if possessive or previous in _NAME_CUES:
            return lower
        if capitalised and (customer is None or previous in _ASKED_ABOUT):
            return lower
    return None


def _words(text: str, *, commas: bool) -> Iterator[tuple[str, str, bool, str, bool]]:
    """Each word that might name someone: (word, lower case, possessive, the token before it,
    whether it starts a sentence). With `commas`, a comma is a token (so "Maria, ..." is seen as
    a word before a pause) but does not start a sentence."""
    pauses = "[.?!,]" if commas else "[.?!]"
    tokens = re.findall(r"[A-Za-z][A-Za-z0-9_.\-]*(?:'s)?|" + pauses, text)
    sentence_start = True
    for i, raw in enumerate(tokens):
        if raw in ".?!,":
            sentence_start = raw != ","
            continue
        possessive = raw.lower().endswith("'s")
        token = (raw[:-2] if possessive else raw).rstrip(".-")
        previous = tokens[i - 1].lower() if i > 0 else ""
        yield token, token.lower(), possessive, previous, sentence_start
        sentence_start = False


def _known_person(
    text: str, index: ToolIndex, customer: str | None, players: Players
) -> str | NotAPlayer | None:
    unknown: NotAPlayer | None = None
    for token, lower, possessive, previous, start in _words(text, commas=True):
        player = players.resolve(lower) if lower in players.names else None
        if player is None and (
            lower in STOP_WORDS
            or lower in _PRONOUNS
            or lower in _NUMBER_WORDS
            or lower in _TIME_WORDS
            or lower in index.vocabulary_words
            or stem(lower) in index.vocabulary_stems
            or len(token) < 2
        ):
            continue
        capitalised = token[0].isupper() and not token.isupper()
        slot = possessive or previous in _NAME_CUES or previous in _ASKED_ABOUT
        if not (slot or (capitalised and not start)):
            continue
        player = player or players.resolve(lower)
        if player:
            return player
        # An unknown word in a player's place: a name only if it looks like one.
        if (possessive or capitalised) and (slot or customer is None) and unknown is None:
            unknown = NotAPlayer(token)
    # A player that exists wins over an unknown name: "What are Bob's stats?" answered "Maria".
    return unknown


def _find_entity(text: str, index: ToolIndex) -> str | None:
    """A short named thing for a free string argument such as `city`: 'Paris', 'in london'."""
    tokens = re.findall(r"[A-Za-z][A-Za-z\-]*|[.?!]", text)
    for i, token in enumerate(tokens):
        lower = token.lower()
        if lower in STOP_WORDS or lower in _PRONOUNS or lower in index.vocabulary_words:
            continue
        after_preposition = i > 0 and tokens[i - 1].lower() in {
            "in",
            "at",
            "for",
            "from",
            "to",
            "about",
        }
        if (token[0].isupper() and i > 0 and tokens[i - 1] not in ".?!") or after_preposition:
            return token
    return None


def _clean_free_text(text: str) -> str:
    cleaned = _POLITE.sub("", _FILLER_OPENERS.sub("", text.strip())).strip()
    return (cleaned or text.strip())[:500]


# ---- what to say when no tool is called ----------------------------------------------


def ask_for(spec: ToolSpec, param: ParamSpec) -> str:
    """A question back for a required argument that was not said."""
    if param.kind == "person":
        return f"Which {param.noun} is this about?"
    if param.kind in ("id", "number"):
        return f"Which {param.noun} number is it?"
    if param.kind == "enum":
        options = [str(v).replace("_", " ") for v in param.enum]
        return f"Which {param.noun.replace('_', ' ')} is it: {_join(options, 'or')}?"
    return f"Which {param.noun.replace('_', ' ')} do you mean?"


def _cannot(text: str, index: ToolIndex) -> str:
    return "Sorry, I can't help with that offline. " + index.capabilities()


def _small_talk(text: str, index: ToolIndex) -> str:
    said = set(words(text))
    if said & _THANKS:
        return "You're welcome. " + index.capabilities()
    if said & _GREETINGS:
        return "Hello! " + index.capabilities()
    return index.capabilities()


def _forced_name(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, dict):
        return (tool_choice.get("function") or {}).get("name")
    return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _join(items: list[str], conjunction: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]
