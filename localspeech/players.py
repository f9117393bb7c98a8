"""Which existing player a said name means: the user name, its first part, or one near match.

"Priya" means priya.sharma and "Lucas" lucas88 when no other player shares that first part;
Whisper's "Pria" is accepted only when one player is clearly the closest. Anything else is no
player: a question about them is asked back, never answered for someone else or filed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

NEAR = 0.8  # difflib ratio: "pria"/"priya" 0.89, "sam"/"dev" 0; measured on names, not tuned
_PART = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class NotAPlayer:
    """A name said where a player was meant, that is no player (or could be several)."""

    said: str


class Players:
    def __init__(self, names: Iterable[str]):
        self.names = sorted({n.strip().lower() for n in names if n and n.strip()})
        self._by_key: dict[str, set[str]] = {}
        for name in self.names:
            for key in _keys(name):
                self._by_key.setdefault(key, set()).add(name)

    def __bool__(self) -> bool:
        return bool(self.names)

    def resolve(self, said: str) -> str | None:
        """The one player `said` means, or None (no player, or more than one)."""
        said = said.lower().strip(".-_")
        if said in self.names:
            return said
        exact = self._by_key.get(said, set())
        if exact:
            return next(iter(exact)) if len(exact) == 1 else None
        if len(said) < 3:
            return None
        scored = [(difflib.SequenceMatcher(None, said, key).ratio(), key) for key in self._by_key]
        best = max((s for s, _ in scored), default=0.0)
        if best < NEAR:
            return None
        found = set().union(*(self._by_key[k] for s, k in scored if s == best))
        return next(iter(found)) if len(found) == 1 else None

    def spoken_forms(self, limit_chars: int = 400) -> str:
        """The players as a speech-to-text prompt: "Maria, Dev, Priya Sharma, Lucas"; first
        names only when the full names would not fit (Whisper reads ~220 tokens of prompt)."""
        full = [" ".join(p.capitalize() for p in _PART.findall(n)) for n in self.names]
        forms = list(dict.fromkeys(f for f in full if f))
        if len(", ".join(forms)) > limit_chars:
            forms = list(dict.fromkeys(f.split()[0] for f in forms))
        out, size = [], 0
        for form in forms:
            if size + len(form) + 2 > limit_chars:
                break
            out.append(form)
            size += len(form) + 2
        return ", ".join(out)


def _keys(name: str) -> set[str]:
    """The ways a player is named aloud: the user name, its first part, its letters joined."""
    parts = _PART.findall(name)
    keys = {name}
    if parts:
        keys.add(parts[0])
        keys.add("".join(parts))
    return keys
