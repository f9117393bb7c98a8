"""What the router learns from an offered tool: its words, its example phrasings, its arguments.

Everything here is read from the Chat Completions `tools[]` entry (name, description, JSON
schema with enums and descriptions), so a new tool is understood without code changes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from localspeech.lexicon import content_stems, stem, words
from localspeech.normalize import key_prefixes_in

ParamKind = Literal["enum", "person", "id", "number", "boolean", "freetext", "entity"]

_PERSON_NAMES = {"user", "username", "player", "customer", "account", "member", "person"}
_FREETEXT_NAMES = {
    "query", "description", "text", "question", "message", "details", "detail", "comment",
    "reason", "notes", "note", "summary", "problem", "prompt", "search", "q", "body",
}  # fmt: skip
_ID_NAMES = {"id", "key", "number", "ref", "reference", "code"}
# A quoted example: opens after a space or bracket, may hold "can't", closes before punctuation.
_QUOTED = re.compile(
    r"(?:(?<=^)|(?<=[\s(\[,;:]))['\"“‘]((?:[^'\"”’]|'(?=[a-z]))+?)['\"”’](?=[\s,.;:)\]?!]|$)"
)
_GATE = re.compile(r"\bonly when\b(.*?)(?:[;.]|$)", re.IGNORECASE)
_GATE_VERBS = re.compile(r"\b(?:asks?|wants?|requests?|says?)\s+(?:to\s+)?(.*)", re.IGNORECASE)


@dataclass(frozen=True)
class Example:
    """A phrasing quoted in a description: 'how many games did I play', 'how do I ...'."""

    text: str
    stems: frozenset[str]
    prefix: tuple[str, ...] | None  # the words before "..." when the example is a template


@dataclass
class ParamSpec:
    name: str
    kind: ParamKind
    description: str
    required: bool
    type: str = "string"
    enum: list[Any] = field(default_factory=list)
    glosses: dict[str, str] = field(default_factory=dict)  # enum value -> its explanation
    fallback: Any = None  # the enum value for "anything else"
    pattern: str | None = None
    key_prefixes: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)

    @property
    def noun(self) -> str:
        """What the argument is, in words, for a question back ("Which player ...")."""
        if self.kind == "person":
            for word in words(self.description) + words(self.name.replace("_", " ")):
                if word in _PERSON_NAMES - {"user", "username", "account"}:
                    return word
            return "player"
        parts = [w for w in self.name.lower().split("_") if w not in _ID_NAMES]
        return " ".join(parts) or self.name


@dataclass
class ToolSpec:
    name: str
    description: str
    params: list[ParamSpec]
    doc: Counter  # stem -> count over name, description and parameters
    examples: list[Example]
    gate: (
        frozenset[str] | None
    )  # the stems of which one must be said, when the tool says "only when"

    @property
    def headline(self) -> str:
        """The description's first clause, for saying what the assistant can do."""
        first = re.split(r"\s\(|:|;|, e\.g\.|\.\s|\.$", self.description.strip(), maxsplit=1)[0]
        return first.rstrip(".:;, ")


def parse_tools(tools: list[dict[str, Any]]) -> list[ToolSpec]:
    specs = []
    for tool in tools or []:
        if tool.get("type") != "function":
            continue
        fn = tool.get("function") or {}
        if fn.get("name"):
            specs.append(parse_tool(fn))
    return specs


def parse_tool(fn: dict[str, Any]) -> ToolSpec:
    name = fn["name"]
    description = fn.get("description") or ""
    schema = fn.get("parameters") or {}
    defs = schema.get("$defs") or schema.get("definitions") or {}
    required = set(schema.get("required") or [])
    params = [
        _param(pname, _resolve(prop, defs), pname in required)
        for pname, prop in (schema.get("properties") or {}).items()
    ]
    doc: Counter = Counter(content_stems(name.replace("_", " ")) * 2)
    doc.update(content_stems(unquoted(description)))
    examples = [_example(text) for text in _QUOTED.findall(description)]
    for ex in examples:
        doc.update(ex.stems)
    for param in params:
        doc.update(content_stems(param.description))
        for value in param.enum:
            doc.update(content_stems(str(value).replace("_", " ")))
    return ToolSpec(name, description, params, doc, examples, _gate(description))


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline `$ref`s (pydantic puts enums in `$defs`) and single-branch `allOf`/`anyOf`."""
    merged = dict(prop)
    ref = merged.pop("$ref", None)
    if ref:
        target = defs.get(ref.rsplit("/", 1)[-1], {})
        merged = {**target, **merged}
    for key in ("allOf", "anyOf"):
        branches = [b for b in merged.get(key) or [] if b.get("type") != "null"]
        if len(branches) == 1 and ("$ref" in branches[0] or "enum" in branches[0]):
            merged.pop(key)
            merged = {**_resolve(branches[0], defs), **merged}
    return merged


def _param(name: str, prop: dict[str, Any], required: bool) -> ParamSpec:
    description = prop.get("description") or ""
    ptype = prop.get("type") or "string"
    enum = list(prop.get("enum") or [])
    glosses: dict[str, str] = {}
    for branch in prop.get("oneOf") or prop.get("anyOf") or []:  # {"const": v, "description": d}
        if "const" in branch:
            enum.append(branch["const"])
            glosses[str(branch["const"])] = branch.get("description") or ""
    name_words = set(name.lower().split("_"))
    desc_words = set(words(description))
    kind: ParamKind
    if enum:
        kind = "enum"
        glosses = {**_enum_glosses(description, enum), **glosses}
    elif ptype in ("integer", "number"):
        kind = "number"
    elif ptype == "boolean":
        kind = "boolean"
    elif name_words & _PERSON_NAMES or "user name" in description.lower():
        kind = "person"
    elif name_words & _ID_NAMES or ({"key", "id"} & desc_words):
        kind = "id"
    elif name_words & _FREETEXT_NAMES or (prop.get("maxLength") or 0) >= 200:
        kind = "freetext"
    else:
        kind = "entity"
    fallback = None
    for value in enum:
        gloss = glosses.get(str(value), "").lower()
        if str(value).lower() in ("other", "others", "misc", "general") or "anything else" in gloss:
            fallback = value
    return ParamSpec(
        name=name,
        kind=kind,
        description=description,
        required=required,
        type=ptype,
        enum=enum,
        glosses=glosses,
        fallback=fallback,
        pattern=prop.get("pattern"),
        key_prefixes=key_prefixes_in(description),
        examples=_QUOTED.findall(description),
    )


def _enum_glosses(description: str, enum: list[Any]) -> dict[str, str]:
    """'wallet: money, refunds; reward_points: points not credited' -> {value: explanation}."""
    names = sorted((str(v) for v in enum), key=len, reverse=True)
    marker = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\s*[:=—-]\s*")
    hits = list(marker.finditer(description))
    glosses = {}
    for i, hit in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(description)
        glosses[hit.group(1)] = description[hit.end() : end].strip(" ;,.")
    return glosses


def _example(text: str) -> Example:
    prefix = None
    if "..." in text or "…" in text:
        head = re.split(r"\.\.\.|…", text, maxsplit=1)[0]
        prefix = tuple(words(head))
    return Example(text=text, stems=frozenset(content_stems(text)), prefix=prefix or None)


def unquoted(description: str) -> str:
    """The text without its quoted examples."""
    return _QUOTED.sub(" ", description)


def _gate(description: str) -> frozenset[str] | None:
    """'Only when the customer asks to report or complain' -> {report, complain}."""
    match = _GATE.search(description)
    if not match:
        return None
    clause = match.group(1)
    verbs = _GATE_VERBS.search(clause)
    if verbs:
        pieces = re.split(r",|\bor\b|\band\b", verbs.group(1))
        stems = {stem(w[0]) for w in (words(p) for p in pieces) if w}
    else:
        stems = set(content_stems(clause))
    return frozenset(stems) or None
