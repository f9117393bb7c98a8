"""A large, realistic help centre generated from the shipped manuals, for search benchmarks.

A help centre of 10,000 passages is what a platform with many devices, countries, games and
audiences ends up with: the same topics, rewritten for each case. So every passage here is one
of the manuals' sections specialised for a device, a country, a game, an audience or a
release: a lead sentence saying so, a run of that section's own sentences (lightly
paraphrased), sometimes a sentence from a neighbouring section, and sometimes a closing line.
The vocabulary and its frequencies are therefore the manuals', at a hundred times the volume.
The first passages are the manuals' own, unchanged. Deterministic for a given seed:

    python -m bench.help_corpus --passages 10000 --seed 7 --out help-10k.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tools.backends.local_search import MANUALS_DIR, chunk_manuals, passage_id

PLATFORMS = (
    "Android phones", "iPhone", "iPad", "Windows PCs", "Mac", "web browsers", "Android tablets",
    "Chromebooks", "smart TVs",
)  # fmt: skip
COUNTRIES = (
    "India", "Brazil", "Mexico", "the Philippines", "Nigeria", "the United Kingdom", "Canada",
    "Germany", "Spain", "Indonesia", "Kenya", "Australia", "South Africa", "Bangladesh",
)  # fmt: skip
GAMES = ("chess", "poker", "ludo", "rummy", "carrom", "snakes and ladders")
AUDIENCES = (
    "newcomers", "VIP members", "families", "club captains", "tournament organisers",
    "beta testers", "returning members", "streamers",
)  # fmt: skip

SECTION_TEMPLATES = (
    ("platform", "{section} on {platform}"),
    ("platform", "Known issue: {section} on {platform}"),
    ("country", "{section} in {country}"),
    ("country", "{section}: rules for {country}"),
    ("game", "{section} in {game}"),
    ("audience", "{section} for {audience}"),
    ("version", "{section} (release {version})"),
    ("audience", "{section}: notes for {audience}"),
)
LEADS = {
    "platform": (
        "This article covers {topic} on {platform}.",
        "On {platform}, the menus are in the same place, but some screens look different.",
        "Everything below was checked on {platform}.",
    ),
    "country": (
        "This article covers {topic} in {country}, where local rules also apply.",
        "In {country}, amounts are shown in the local currency.",
    ),
    "game": (
        "These notes apply to {topic} in {game}.",
        "In {game}, {topic} works as described below.",
    ),
    "audience": (
        "This guide explains {topic} for {audience}.",
        "{audience_cap} will find the details of {topic} below.",
    ),
    "version": (
        "Since release {version}, {topic} works as described here.",
        "Release {version} changed how {topic} looks; what to do is unchanged.",
    ),
}
CLOSINGS = (
    "If this does not solve it, register a grievance from Help > Contact us.",
    "Support agents can check your account if the steps above did not help.",
    "Keep the reference number of any transaction you ask us about.",
    "We update this article whenever the app changes.",
)
# Paraphrases the help-centre writers use for the same instructions.
PARAPHRASES = (
    (r"\btap\b", ("select", "choose", "press")),
    (r"\bTap\b", ("Select", "Choose", "Press")),
    (r"\bwithin\b", ("in less than", "inside")),
    (r"\bWe recommend\b", ("We suggest", "We advise")),
    (r"\bregister a grievance\b", ("file a grievance", "open a grievance")),
    (r"\bcontact support\b", ("get in touch with support", "contact our support team")),
    (r"\bmake sure\b", ("check", "ensure")),
    (r"\bMake sure\b", ("Check", "Ensure")),
    (r"\busually\b", ("normally", "in most cases")),
    (r"\bcannot\b", ("can't", "is not able to")),
    (r"\bopen\b", ("go to", "open")),
)


def generate(count: int = 10_000, seed: int = 7, manuals_dir: Path = MANUALS_DIR) -> list[dict]:
    """`count` passages: the manuals' own first, then generated ones, all with unique ids."""
    base = chunk_manuals(manuals_dir)
    rng = random.Random(seed)
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for passage in base:
        by_source[passage["source"]].append(passage)
    passages = [dict(p) for p in base[:count]]
    seen = {p["id"] for p in passages}
    while len(passages) < count:
        origin = rng.choice(base)
        kind, template = rng.choice(SECTION_TEMPLATES)
        values = _values(rng)
        section = template.format(section=origin["section"], **values)
        number = len(passages)
        text = _body(rng, origin, by_source[origin["source"]], kind, values)
        pid = passage_id(origin["source"], f"{section}\x1f{number}", 0)
        if pid in seen:
            continue
        seen.add(pid)
        passages.append(
            {
                "id": pid,
                "title": origin["title"],
                "section": section,
                "source": origin["source"],
                "text": text,
                "chunk": 0,
            }
        )
    return passages


def _values(rng: random.Random) -> dict[str, str]:
    audience = rng.choice(AUDIENCES)
    return {
        "platform": rng.choice(PLATFORMS),
        "country": rng.choice(COUNTRIES),
        "game": rng.choice(GAMES),
        "audience": audience,
        "audience_cap": audience[0].upper() + audience[1:],
        "version": f"{rng.randint(4, 6)}.{rng.randint(0, 19)}",
    }


def _body(
    rng: random.Random,
    origin: dict[str, Any],
    siblings: list[dict[str, Any]],
    kind: str,
    values: dict[str, str],
) -> str:
    topic = origin["section"].lower()
    lines = [rng.choice(LEADS[kind]).format(topic=topic, **values)]
    units = [u for u in origin["text"].split("\n") if u.strip()]
    start = rng.randrange(max(1, len(units) - 2))
    run = units[start : start + rng.randint(3, 8)]
    lines += [_paraphrase(rng, u) for u in run if rng.random() > 0.15]
    if rng.random() < 0.4:
        other = rng.choice(siblings)
        other_units = [u for u in other["text"].split("\n") if len(u.split()) > 4]
        if other_units:
            lines.append(_paraphrase(rng, rng.choice(other_units)))
    if rng.random() < 0.5:
        lines.append(rng.choice(CLOSINGS))
    return "\n".join(lines)


def _paraphrase(rng: random.Random, sentence: str) -> str:
    for pattern, choices in PARAPHRASES:
        if rng.random() < 0.5:
            sentence = re.sub(pattern, lambda _, c=choices: rng.choice(c), sentence)
    return sentence


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate a large help centre from the manuals.")
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="a JSON-lines file (default: standard output)")
    args = parser.parse_args(argv)
    passages = generate(args.passages, args.seed)
    lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in passages)
    if args.out:
        args.out.write_text(lines, encoding="utf-8")
        print(f"Wrote {len(passages):,} passages to {args.out}.", file=sys.stderr)
    else:
        sys.stdout.write(lines)


if __name__ == "__main__":
    main()
