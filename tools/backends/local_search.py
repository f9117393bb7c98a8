"""Help-centre search over data/manuals/*.md with SQLite FTS5 and BM25, no service needed.

The manuals are cut into passages by `##` section (long sections into overlapping windows of
about 120 words); the same passages can be uploaded to Azure AI Search (`chunk_manuals`).
The index lives in `<data_dir>/search.sqlite` and is rebuilt, atomically, whenever the
manuals' content changes. User text never reaches FTS5 as syntax: it is cut into words, each
word is quoted, stop-words are dropped, synonyms are added, and the words are OR-ed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tools.base import ToolUnavailable
from tools.help_search import Passage

# The project's own manuals: the default corpus (tools/backends/ -> the project root).
MANUALS_DIR = Path(__file__).resolve().parents[2] / "data" / "manuals"
INDEX_VERSION = "1"  # bump when chunking, tokenising or weights change: forces a rebuild
CHUNK_WORDS = 120
CHUNK_OVERLAP = 30
MAX_QUERY_TERMS = 40

# Column weights for BM25: the section heading says most about a passage, then the manual's
# title, then the body.
WEIGHTS = {"title": 2.0, "section": 4.0, "body": 1.0}

CREATE_SQL = (
    "CREATE VIRTUAL TABLE passages USING fts5(title, section, body, id UNINDEXED, "
    "source UNINDEXED, chunk UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2')",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
RANK_SQL = "INSERT INTO passages (passages, rank) VALUES ('rank', ?)"
RANK_FUNCTION = f"bm25({WEIGHTS['title']}, {WEIGHTS['section']}, {WEIGHTS['body']})"
INSERT_SQL = "INSERT INTO passages (title, section, body, id, source, chunk) VALUES (?, ?, ?, ?, ?, ?)"  # fmt: skip
# highlight() marks the matched (stemmed) words; the caption is the sentence with the most.
SEARCH_SQL = (
    "SELECT id, title, section, source, body, -rank, "
    "highlight(passages, 2, char(2), char(3)) FROM passages "
    "WHERE passages MATCH ? ORDER BY rank LIMIT ?"
)
COUNT_SQL = "SELECT COUNT(*) FROM passages"
COUNT_MATCH_SQL = "SELECT COUNT(*) FROM passages WHERE passages MATCH ?"
FINGERPRINT_SQL = "SELECT value FROM meta WHERE key = 'fingerprint'"

# --- manuals to passages -------------------------------------------------------------------


def chunk_manuals(manuals_dir: Path = MANUALS_DIR) -> list[dict[str, Any]]:
    """Every passage of every manual, in file order, as dicts with the Passage fields (but
    score and caption) plus `chunk`, the passage's number within its section."""
    passages: list[dict[str, Any]] = []
    for path in sorted(Path(manuals_dir).glob("*.md")):
        passages.extend(chunk_markdown(path.read_text(encoding="utf-8"), path.name))
    return passages


def chunk_markdown(text: str, source: str) -> list[dict[str, Any]]:
    title = Path(source).stem.replace("-", " ").capitalize()
    sections: list[tuple[str, list[str]]] = [("Overview", [])]
    for line in text.splitlines():
        if line.startswith("# ") and not line.startswith("##"):
            title = line[2:].strip()
        elif line.startswith("## "):
            sections.append((line[3:].strip(), []))
        else:
            sections[-1][1].append(line)
    passages = []
    for section, lines in sections:
        units = _units(lines)
        for index, body in enumerate(_windows(units)):
            passages.append(
                {
                    "id": passage_id(source, section, index),
                    "title": title,
                    "section": section,
                    "source": source,
                    "text": body,
                    "chunk": index,
                }
            )
    return passages


def passage_id(source: str, section: str, chunk: int) -> str:
    """Stable across rebuilds; letters and digits only, as Azure AI Search keys require."""
    return hashlib.sha1(f"{source}\x1f{section}\x1f{chunk}".encode()).hexdigest()[:20]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def _plain(line: str) -> str:
    """Markdown line to plain text: no emphasis, no bullets (numbered steps are kept)."""
    line = re.sub(r"^\s*[*-]\s+", "", line)
    line = line.replace("**", "").replace("__", "").replace("`", "")
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)


def _units(lines: list[str]) -> list[str]:
    """Sentences (and list items), the pieces a passage is built of."""
    blocks: list[str] = []
    current: list[str] = []
    for raw in lines:
        starts_item = bool(re.match(r"^\s*([*-]|\d+\.)\s+", raw))
        if not raw.strip() or starts_item:
            if current:
                blocks.append(" ".join(current))
            current = []
        if raw.strip():
            current.append(_plain(raw).strip())
    if current:
        blocks.append(" ".join(current))
    units = []
    for block in blocks:
        units.extend(s.strip() for s in _SENTENCE_END.split(block) if s.strip())
    return units


def _windows(units: list[str]) -> list[str]:
    """Units joined into passages of about CHUNK_WORDS words, overlapping by CHUNK_OVERLAP."""
    if not units:
        return []
    sizes = [len(u.split()) for u in units]
    if sum(sizes) <= CHUNK_WORDS * 1.4:  # a short section stays whole
        return ["\n".join(units)]
    windows, start = [], 0
    while start < len(units):
        end, words = start, 0
        while end < len(units) and (words < CHUNK_WORDS or end == start):
            words += sizes[end]
            end += 1
        if len(units) - end <= 1 and end < len(units):  # don't leave a lone sentence behind
            end = len(units)
        windows.append("\n".join(units[start:end]))
        if end >= len(units):
            break
        back, overlap = end, 0
        while back - 1 > start and overlap < CHUNK_OVERLAP:
            back -= 1
            overlap += sizes[back]
        start = back if back > start else end
    return windows


def manuals_fingerprint(manuals_dir: Path = MANUALS_DIR) -> str:
    digest = hashlib.sha256(f"v{INDEX_VERSION}".encode())
    for path in sorted(Path(manuals_dir).glob("*.md")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _passages_fingerprint(passages: list[dict[str, Any]]) -> str:
    blob = json.dumps(passages, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(f"v{INDEX_VERSION}".encode() + blob).hexdigest()


# --- the index ---------------------------------------------------------------------------


def build_index(
    index_path: Path,
    manuals_dir: Path = MANUALS_DIR,
    passages: Iterable[dict[str, Any]] | None = None,
) -> int:
    """Build the FTS5 index file atomically from the manuals (or from given passages, e.g. a
    benchmark's); return the number of passages indexed."""
    if passages is None:
        rows, fingerprint = chunk_manuals(manuals_dir), manuals_fingerprint(manuals_dir)
    else:
        rows = list(passages)
        fingerprint = _passages_fingerprint(rows)
    index_path = Path(index_path)
    index_path.parent.mkdir(parents=True, exist_ok=True)
    temp = index_path.with_name(f".{index_path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        conn = sqlite3.connect(temp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("BEGIN")
            for statement in CREATE_SQL:
                conn.execute(statement)
            conn.execute(RANK_SQL, (RANK_FUNCTION,))  # BM25 with our column weights
            conn.executemany(
                INSERT_SQL,
                (
                    (p["title"], p["section"], p["text"], p["id"], p["source"], p.get("chunk", 0))
                    for p in rows
                ),
            )
            conn.execute("INSERT INTO meta (key, value) VALUES ('fingerprint', ?)", (fingerprint,))
            conn.execute("COMMIT")
            conn.execute("INSERT INTO passages (passages) VALUES ('optimize')")
            conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            conn.close()
        os.replace(temp, index_path)
    finally:
        temp.unlink(missing_ok=True)
    return len(rows)


# --- queries -----------------------------------------------------------------------------

_STOP_WORDS = """a about above after again against all am an and any are as at be because been before
    being below between both but by can cannot could did do does doing down during each few for
    from further get got had has have having he her here hers herself him himself his how i if
    in into is it its itself just let me more most my myself no nor not of off on once only or
    other our ours ourselves out over own please same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves hi hello thanks thank hey want wanted need needs tell know like happen
    happened happens anything something someone also ok okay still playarena im ive dont cant
    doesnt didnt isnt wont s t"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

# Words people say, and the words the manuals use for the same thing. Keys are word tuples.
SYNONYMS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("2fa",): ("two", "step", "verification"),
    ("mfa",): ("two", "step", "verification"),
    ("two", "factor"): ("step", "verification"),
    ("otp",): ("code", "verification"),
    ("authenticator",): ("two", "step", "verification"),
    ("cashout",): ("withdraw",),
    ("cash", "out"): ("withdraw",),
    ("payout",): ("withdraw",),
    ("topup",): ("deposit",),
    ("top", "up"): ("deposit",),
    ("recharge",): ("deposit",),
    ("add", "money"): ("deposit",),
    ("twice",): ("double", "duplicate"),
    ("duplicate",): ("double",),
    ("cheater",): ("cheating", "report"),
    ("cheaters",): ("cheating", "report"),
    ("cheat",): ("cheating",),
    ("hacker",): ("cheating", "suspicious"),
    ("hacked",): ("suspicious", "hacked"),
    ("bot",): ("cheating",),
    ("bots",): ("cheating",),
    ("kid",): ("teen", "parental"),
    ("kids",): ("teen", "parental"),
    ("child",): ("teen", "parental"),
    ("children",): ("teen", "parental"),
    ("son",): ("teen", "parental"),
    ("daughter",): ("teen", "parental"),
    ("minor",): ("teen", "parental"),
    ("teenager",): ("teen",),
    ("laggy",): ("lag",),
    ("latency",): ("lag", "ping"),
    ("slow",): ("lag",),
    ("freezes",): ("freeze", "crash"),
    ("frozen",): ("freeze", "crash"),
    ("crashing",): ("crash",),
    ("login",): ("sign", "in"),
    ("log", "in"): ("sign",),
    ("logged", "out"): ("sign",),
    ("signin",): ("sign",),
    ("complaint",): ("grievance",),
    ("complain",): ("grievance",),
    ("ticket",): ("grievance",),
    ("early", "access"): ("beta",),
    ("testflight",): ("beta",),
    ("tester",): ("beta",),
    ("kyc",): ("identity", "verification"),
    ("id",): ("identity",),
    ("addicted",): ("responsible", "break"),
    ("addiction",): ("responsible", "break"),
    ("gambling",): ("responsible", "exclusion"),
    ("customer", "care"): ("support", "contact"),
    ("helpline",): ("support", "contact", "phone"),
    ("call",): ("phone", "callback"),
    ("elo",): ("rating",),
    ("disconnected",): ("disconnection",),
    ("coins",): ("points",),
    ("username",): ("user", "name"),
    ("showed", "up"): ("missing",),
    ("show", "up"): ("missing",),
    ("never", "arrived"): ("missing",),
    ("not", "credited"): ("missing",),
    ("working", "together"): ("collusion", "colluding"),
    ("teaming", "up"): ("collusion", "colluding"),
    ("caught",): ("penalties",),
    ("banned",): ("penalties", "suspension", "restricted"),
    ("punishment",): ("penalties",),
    ("year", "old"): ("age",),
    ("years", "old"): ("age",),
    ("block", "me"): ("self", "exclusion"),
    ("disappeared",): ("missing", "expire"),
    ("vanished",): ("missing", "expire"),
    ("two", "accounts"): ("multiple", "more", "than", "one", "account"),
    ("second", "account"): ("multiple", "more", "than", "one"),
    ("real", "person"): ("human", "agent", "contact"),
    ("speak", "to"): ("contact",),
    ("talk", "to"): ("contact",),
    ("voucher",): ("bonus",),
}
_MAX_PHRASE = max(len(k) for k in SYNONYMS)
_WORD = re.compile(r"[^\W_]+")


def query_terms(text: str) -> list[str]:
    """The user's words, minus stop-words, plus synonyms; unique, in order."""
    words = [w for w in _WORD.findall(text.casefold().replace("'", "")) if len(w) < 40]
    terms: list[str] = []
    for i in range(len(words)):
        for n in range(_MAX_PHRASE, 0, -1):
            terms.extend(SYNONYMS.get(tuple(words[i : i + n]), ()))
        if words[i] not in STOP_WORDS:
            terms.append(words[i])
    if not terms:  # a question made only of stop-words: better them than nothing
        terms = words
    unique = list(dict.fromkeys(terms))
    return unique[:MAX_QUERY_TERMS]


def match_expression(text: str) -> str | None:
    """An FTS5 query that can never be read as syntax: every term is a quoted string."""
    return _or_of(query_terms(text))


def _or_of(terms: list[str]) -> str | None:
    if not terms:
        return None
    return " OR ".join(_quoted(term) for term in terms)


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def best_sentence(highlighted: str) -> str:
    """The sentence with the most distinct matched words (marked \\x02...\\x03 by FTS5)."""
    best, best_score = "", (-1, 0)
    for index, sentence in enumerate(_sentences(highlighted)):
        hits = {m.lower() for m in re.findall("\x02(.*?)\x03", sentence)}
        score = (len(hits), -index)
        if score > best_score:
            best, best_score = sentence, score
    return best.replace("\x02", "").replace("\x03", "").strip()


def _sentences(text: str) -> list[str]:
    parts = []
    for line in text.split("\n"):
        parts.extend(p for p in re.split(r"(?<=[.!?])\s+", line) if p.strip())
    return parts


class LocalHelpSearch:
    """`HelpSearchBackend` over an FTS5 index file, rebuilt from the manuals when they change.

    With `manuals_dir=None` the index file is used as it is (e.g. a benchmark's own passages).
    """

    kind = "embedded"
    RECHECK_SECONDS = 2.0  # how often to look whether the manuals changed

    def __init__(self, index_path: Path, manuals_dir: Path | None = MANUALS_DIR):
        self.path = Path(index_path)
        self.manuals_dir = Path(manuals_dir) if manuals_dir is not None else None
        self.where = str(self.path)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._listing: tuple | None = None  # the manuals' (name, size, mtime) last verified
        self._checked_at = float("-inf")
        self._df_cache: dict[str | None, int] = {}  # document frequencies, for pruning
        self._df_identity: tuple[int, int] | None = None  # of the index file they count

    def search(self, query: str, top: int = 3) -> list[Passage]:
        terms = query_terms(query)
        if not terms or top <= 0:
            return []
        expression = _or_of(self._informative(terms))
        # A few spare rows, so that a section cut into several chunks takes one place only.
        rows = self._query(SEARCH_SQL, (expression, top * 3))
        passages, sections = [], set()
        for pid, title, section, source, body, score, marked in rows:
            if (source, section) in sections:
                continue
            sections.add((source, section))
            passages.append(
                Passage(
                    id=pid,
                    title=title,
                    section=section,
                    source=source,
                    text=body,
                    score=round(float(score), 4),
                    caption=best_sentence(marked) or None,
                )
            )
            if len(passages) == top:
                break
        return passages

    def check(self) -> None:
        self._query(COUNT_SQL, ())

    def rebuild(self) -> int:
        with self._lock:
            count = build_index(self.path, self.manuals_dir or MANUALS_DIR)
            self._checked_at = float("-inf")
            return count

    # --- plumbing -------------------------------------------------------------------------

    def _informative(self, terms: list[str]) -> list[str]:
        """Terms minus those in half the passages or more, whose BM25 weight FTS5 sets to
        ~0 anyway: dropping them changes no ranking but spares scoring most of the index."""
        total = self._document_frequency(None)
        if total < 20:  # a tiny index: nothing to spare
            return terms
        counts = {term: self._document_frequency(term) for term in terms}
        kept = [t for t in terms if counts[t] > 0 and 2 * counts[t] < total]
        if kept:
            return kept
        present = [t for t in terms if counts[t] > 0]
        return [min(present, key=counts.__getitem__)] if present else terms  # the rarest

    def _document_frequency(self, term: str | None) -> int:
        """Passages containing `term` (all passages for None), cached per index file."""
        try:
            self._ensure_current()
        except (sqlite3.Error, OSError) as exc:
            raise self._unavailable(exc) from None
        identity = self._identity()
        if identity != self._df_identity:
            self._df_cache, self._df_identity = {}, identity
        cache = self._df_cache
        if term not in cache:
            if term is None:
                cache[term] = self._query(COUNT_SQL, ())[0][0]
            else:
                cache[term] = self._query(COUNT_MATCH_SQL, (_quoted(term),))[0][0]
        return cache[term]

    def _identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        try:
            self._ensure_current()
            return self._connection().execute(sql, params).fetchall()
        except (sqlite3.Error, OSError) as exc:
            self._local.conn = None
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: Exception) -> ToolUnavailable:
        if "disk is full" in str(exc) or getattr(exc, "errno", None) == errno.ENOSPC:
            return ToolUnavailable(
                f"The help-centre index {self.path} cannot be written because the disk is "
                "full; free some space and ask again."
            )
        return ToolUnavailable(
            f"The help-centre index {self.path} cannot be read; run "
            "'python -m assistant index' to rebuild it."
        )

    def _ensure_current(self) -> None:
        """Rebuild the index when it is missing or the manuals' content changed."""
        if self.manuals_dir is None:
            return
        now = time.monotonic()
        if now - self._checked_at < self.RECHECK_SECONDS and self.path.exists():
            return
        with self._lock:
            listing = tuple(
                (p.name, p.stat().st_size, p.stat().st_mtime_ns)
                for p in sorted(self.manuals_dir.glob("*.md"))
            )
            if listing != self._listing or not self.path.exists():
                wanted = manuals_fingerprint(self.manuals_dir)
                if self._stored_fingerprint() != wanted:
                    build_index(self.path, self.manuals_dir)
                self._listing = listing
            self._checked_at = now

    def _stored_fingerprint(self) -> str | None:
        if not self.path.exists():
            return None
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                row = conn.execute(FINGERPRINT_SQL).fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None  # unreadable or foreign: rebuild it
        return row[0] if row else None

    def _connection(self) -> sqlite3.Connection:
        """This thread's read-only connection; reopened when the file was replaced."""
        stat = os.stat(self.path)
        identity = (stat.st_ino, stat.st_mtime_ns)
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.identity == identity:
            return conn
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        self._local.conn, self._local.identity = conn, identity
        return conn
