"""Conversations kept across a reload of the tab.

A reload starts a new Streamlit session, which would start an empty conversation. So the page's
state is also kept here, in the server process, under an unguessable key that the tab's address
carries (`?c=...`); the reloaded tab presents the key and gets its conversation back.

Who may take a kept conversation back: only a tab presenting its key, signed in as the same
person (when sign-in is configured), and only once its earlier tab is gone. A duplicated tab,
whose original is still open, starts a conversation of its own: one session's data never
appears in another. Entries expire after a while unused, and there is a cap on how many are
kept (the least recently used goes first). Nothing is written to disk.

No Streamlit import: tests build a shelf directly.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from page.state import PageState

KEEP_S = 4 * 3600.0  # a conversation unused this long is forgotten
CAPACITY = 500  # conversations kept at most, per server process
KEY_BYTES = 16  # 128 bits: not guessable


@dataclass
class _Kept:
    state: PageState
    identity: str | None  # the signed-in person (None without sign-in)
    owner: str  # the Streamlit session showing it now
    used: float


class Shelf:
    def __init__(
        self,
        keep_s: float = KEEP_S,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._keep_s, self._capacity, self._clock = keep_s, capacity, clock
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def take(
        self, key: str | None, *, identity: str | None, owner: str, alive: Callable[[str], bool]
    ) -> PageState | None:
        """The conversation kept under `key` for this session, or None. `alive(session)` tells
        whether the tab that showed it last is still open."""
        if not key:
            return None
        with self._lock:
            self._forget_old()
            kept = self._kept.get(key)
            if kept is None or kept.identity != identity:
                return None
            if kept.owner != owner and alive(kept.owner):
                return None  # a duplicated tab: the original keeps its conversation
            kept.owner, kept.used = owner, self._clock()
            self._kept.move_to_end(key)
            return kept.state

    def keep(self, state: PageState, *, identity: str | None, owner: str) -> str:
        """Keep `state` for this session; the key its tab's address should carry."""
        key = secrets.token_urlsafe(KEY_BYTES)
        with self._lock:
            self._forget_old()
            self._kept[key] = _Kept(state, identity, owner, self._clock())
            while len(self._kept) > self._capacity:
                self._kept.popitem(last=False)
        return key

    def touch(self, key: str) -> None:
        """The conversation was used: it stays kept for another KEEP_S."""
        with self._lock:
            if key in self._kept:
                self._kept[key].used = self._clock()
                self._kept.move_to_end(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def _forget_old(self) -> None:
        limit = self._clock() - self._keep_s
        while self._kept and next(iter(self._kept.values())).used < limit:
            self._kept.popitem(last=False)
