"""Grievances in Jira Cloud, through the `jira` client, with nothing lost when Jira is away.

* Category and player become labels (`voicedesk`, `category-wallet`, `player-maria`) so a
  player's tickets are found with JQL; every value put into JQL goes through `jql_quote`.
* Every registration is first committed to the local outbox (see outbox.py). If Jira fails,
  the user is told the grievance is queued under a local reference (LOCAL-3F2A9C), and it is
  delivered on the next use of this backend or by `python -m assistant outbox flush`.
* Exactly once: each ticket carries the label `vd-<marker>`; before re-sending an entry whose
  earlier send may have reached Jira, we search for that label.
* The client is built lazily, on first use: the `jira` client calls serverInfo when built.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

from tools.backends.outbox import Entry, Outbox
from tools.base import ToolUnavailable, redact
from tools.grievances import Ticket, category_label, summary_line

ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,9}-[1-9][0-9]{0,8}")
PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,9}")
LOCAL_REF = re.compile(r"LOCAL-[0-9A-F]{6}")
ISSUE_FIELDS = [
    "summary", "description", "labels", "status", "priority",
    "duedate", "created", "updated", "comment",
]  # fmt: skip
APP_LABEL = "voicedesk"
# Inside {noformat} only a noformat tag means anything to Jira, and it has no escape: the brace
# of anything that could be read as one (any case, spaced, with parameters) becomes a fullwidth
# brace. Nothing is removed, so no nesting ({no{noformat}format}) can rebuild a tag.
_NOFORMAT_TAG = re.compile(r"\{(?=\s*noformat)", re.IGNORECASE)
# JQL string escapes (Atlassian's JQL grammar): backslash, both quotes, and control characters.
_JQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def jql_quote(value: str) -> str:
    """A JQL string literal that means exactly `value`, whatever it contains."""
    out = []
    for ch in str(value):
        if ch in _JQL_ESCAPES:
            out.append(_JQL_ESCAPES[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def fingerprint(user_name: str, description: str) -> str:
    """Same player, same words (ignoring case and spacing) -> same fingerprint."""
    words = " ".join(description.casefold().split())
    return hashlib.sha256(f"{user_name.lower()}\n{words}".encode()).hexdigest()[:32]


class _Failure(Exception):
    """Jira could not do it; the message is the sentence for the user."""

    def __init__(self, sentence: str, permanent: bool = False):
        super().__init__(sentence)
        self.permanent = permanent  # this entry will fail again as it is (400)


class JiraGrievances:
    kind = "cloud"

    def __init__(
        self,
        server: str,
        email: str | None,
        api_token: str | None,
        project_key: str,
        issue_type: str,
        outbox: Outbox,
        *,
        timeout: tuple[float, float] = (3.05, 5.0),
        max_retries: int = 2,
        max_retry_delay: float = 2.0,
        settle_s: float = 60.0,
    ):
        self.server = server.rstrip("/")
        self.where = urlparse(self.server).hostname or self.server
        self.email = email
        self._token = api_token
        self.project_key = project_key.strip().upper()
        self.issue_type = issue_type
        self.outbox = outbox
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_delay = max_retry_delay
        # Jira Cloud's search is eventually consistent: after a send that may have reached Jira,
        # wait this long before trusting "marker not found" enough to send again.
        self.settle_s = settle_s
        self.after_send: Callable[[Entry, str], None] | None = None  # test seam: crash here
        self._client: Any = None
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    def __repr__(self) -> str:  # never the token
        return f"JiraGrievances(where={self.where!r}, project_key={self.project_key!r})"

    # -- the protocol -------------------------------------------------------------------------

    def register(
        self, category: str, description: str, user_name: str, agent: str | None = None
    ) -> Ticket:
        payload = {
            "category": category,
            "description": description.strip(),
            "user_name": user_name.lower(),
            "agent": agent,
            "created": _now_iso(),
        }
        entry, is_new = self.outbox.add(payload, fingerprint(user_name, description), self._lease)
        if not is_new:  # said again within 10 minutes: the same grievance
            return self._ticket_for_entry(entry)
        try:
            ticket = self._deliver(entry)
        except _Failure as exc:
            self.outbox.release(entry.ref, str(exc))
            return _queued(entry, self.outbox.in_memory)
        self._kick_flush()
        return ticket

    def get(self, key: str) -> Ticket | None:
        key = key.strip().upper()
        if LOCAL_REF.fullmatch(key):
            entry = self.outbox.get(key)
            return self._ticket_for_entry(entry, strict=True) if entry else None
        if not ISSUE_KEY.fullmatch(key) or key.rpartition("-")[0] != self.project_key:
            return None  # never a request for anything but a well-formed key of our project
        raw = self._call(lambda jira: _issue_or_none(jira, key))
        self._kick_flush()
        return _ticket(raw) if raw else None

    def list_for(self, user_name: str) -> list[Ticket]:
        user = user_name.lower()
        jql = (
            f"project = {jql_quote(self.project_key)} AND labels = {jql_quote('player-' + user)} "
            "ORDER BY created DESC"
        )
        issues = self._call(lambda jira: _search(jira, jql, 50))
        found = {label for raw in issues for label in raw["fields"].get("labels") or []}
        queued = []
        for entry in self.outbox.pending():
            if entry.payload.get("user_name") != user:
                continue
            if "vd-" + entry.marker in found:  # it did reach Jira: record that now
                key = next(r["key"] for r in issues if "vd-" + entry.marker in _labels(r))
                self.outbox.delivered(entry.ref, key)
            else:
                queued.append(_queued(entry, self.outbox.in_memory))
        self._kick_flush()
        return queued[::-1] + [_ticket(raw) for raw in issues]

    def check(self) -> None:
        if not (self.email and self._token):
            raise ToolUnavailable(
                "Jira is configured without credentials; set JIRA_EMAIL and JIRA_API_TOKEN."
            )
        if not PROJECT_KEY.fullmatch(self.project_key):
            raise ToolUnavailable(
                f"JIRA_PROJECT_KEY '{self.project_key}' is not a Jira project key; "
                "use the letters before the dash in your tickets' keys, such as GRV."
            )
        self._call(lambda jira: jira.project(self.project_key))
        self._kick_flush()

    # -- delivery -----------------------------------------------------------------------------

    def pending_count(self) -> int:
        return self.outbox.pending_count()

    def flush(self, limit: int | None = None) -> tuple[int, int, str]:
        """Deliver queued grievances, oldest first. Returns (delivered, remaining, sentence)."""
        delivered, reason = 0, None
        for listed in self.outbox.pending(limit):
            entry = self.outbox.claim(listed.ref, self._lease)
            if entry is None:
                reason = reason or "another VoiceDesk process is sending them right now."
                continue
            if entry.sent_at and time.time() - entry.sent_at < self.settle_s:
                self.outbox.release(entry.ref, entry.last_error or "")
                reason = reason or (
                    "a send started less than a minute ago, and Jira's search must show it "
                    "before we can safely send again; run this again in a minute."
                )
                continue
            try:
                self._deliver(entry)
            except _Failure as exc:
                self.outbox.release(entry.ref, str(exc))
                reason = str(exc)
                if exc.permanent:
                    continue  # this one is wrong as it stands; the others may still go
                break  # Jira is unreachable or refusing us: the rest would fail the same way
            delivered += 1
        remaining = self.outbox.pending_count()
        return delivered, remaining, _flush_sentence(delivered, remaining, reason)

    def _deliver(self, entry: Entry) -> Ticket:
        """Create the entry's ticket once, record its key, and return it."""
        jira = self._connect()
        if entry.sent_at is not None:  # an earlier send may have reached Jira
            jql = f"labels = {jql_quote('vd-' + entry.marker)}"
            found = self._guard(lambda: _search(jira, jql, 1))
            if found:
                self.outbox.delivered(entry.ref, found[0]["key"])
                return _ticket(found[0])
        self.outbox.sending(entry.ref)  # durable before the request leaves
        created = self._guard(lambda: jira.create_issue(fields=self._fields(entry), prefetch=False))
        if self.after_send:
            self.after_send(entry, created.key)
        self.outbox.delivered(entry.ref, created.key)
        try:
            raw = _issue_or_none(jira, created.key)
        except Exception:  # created and recorded; only the read-back failed
            raw = None
        return _ticket(raw) if raw else _fresh(entry, created.key)

    def _fields(self, entry: Entry) -> dict[str, Any]:
        p = entry.payload
        summary = f"{category_label(p['category'])} grievance from {p['user_name']}: "
        summary += summary_line(p["description"], 120)  # Jira allows 255; a list shows less
        # The customer's words in a noformat block, so Jira renders none of their markup.
        words = _NOFORMAT_TAG.sub("\uff5b", p["description"])
        description = (
            f"{{noformat}}\n{words}\n{{noformat}}\n\n"
            f"Player: {p['user_name']}\nCategory: {p['category']}\n"
            f"Taken by: {p.get('agent') or 'not recorded (no one signed in)'}\n"
            f"Said on: {p['created']}\n"
            f"Registered by VoiceDesk; local reference {entry.ref}."
        )
        return {
            "project": {"key": self.project_key},
            "issuetype": {"name": self.issue_type},
            "summary": summary[:255],
            "description": description,
            "labels": [
                APP_LABEL,
                f"category-{p['category']}",
                f"player-{p['user_name']}",
                f"vd-{entry.marker}",
            ],
        }

    def _ticket_for_entry(self, entry: Entry, strict: bool = False) -> Ticket:
        """What a local reference stands for now: its Jira ticket once delivered."""
        if entry.pending or not entry.remote_key:
            return _queued(entry, self.outbox.in_memory)
        try:
            raw = self._call(lambda jira: _issue_or_none(jira, entry.remote_key))
        except ToolUnavailable:
            if strict:
                raise
            raw = None
        return _ticket(raw) if raw else _fresh(entry, entry.remote_key)

    def _kick_flush(self) -> None:
        """Jira just answered: deliver what is queued, in the background."""
        if self.outbox.pending_count() == 0:
            return
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flusher = threading.Thread(
                target=self.flush, name="jira-outbox-flush", daemon=True
            )
            self._flusher.start()

    def close(self) -> None:
        """Let go of the HTTP session (the next use opens a new client)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def wait_for_flush(self, timeout: float | None = None) -> None:
        """Wait for a background delivery started by the last use (for tests and shutdown)."""
        flusher = self._flusher
        if flusher is not None:
            flusher.join(timeout)

    # -- the client and its errors ------------------------------------------------------------

    @property
    def _lease(self) -> float:
        """How long one delivery may take, at most: requests, retries and their waits."""
        per_request = sum(self.timeout) * (self.max_retries + 1)
        return 3 * (per_request + self.max_retry_delay * self.max_retries) + 10

    def _connect(self) -> Any:
        if not (self.email and self._token):
            raise _Failure(
                "Jira is configured without credentials; set JIRA_EMAIL and JIRA_API_TOKEN."
            )
        with self._lock:
            if self._client is None:
                self._client = self._guard(self._build_client)
            return self._client

    def _build_client(self) -> Any:
        from jira import JIRA

        # Built without retries so its serverInfo call fails fast; then the session gets our
        # small retry count and a short cap on waits (its defaults sleep up to a minute).
        client = JIRA(
            server=self.server,
            basic_auth=(self.email, self._token),
            timeout=self.timeout,
            max_retries=0,
            logging=False,
        )
        client._session.max_retries = self.max_retries
        client._session.max_retry_delay = self.max_retry_delay
        _retry_reads_only(client._session)
        return client

    def _call(self, action: Callable[[Any], Any]) -> Any:
        try:
            jira = self._connect()
            return self._guard(lambda: action(jira))
        except _Failure as exc:
            raise ToolUnavailable(str(exc)) from None

    def _guard(self, action: Callable[[], Any]) -> Any:
        """Run one client call; any failure becomes a _Failure with one plain sentence."""
        import requests
        from jira import JIRAError

        try:
            return action()
        except JIRAError as exc:
            raise self._explain(exc.status_code, exc.text) from None
        except requests.Timeout:
            raise _Failure(f"Jira did not answer within {self.timeout[1]:g} seconds.") from None
        except requests.ConnectionError:
            raise _Failure(f"Jira at {self.where} cannot be reached; it may be down.") from None
        except requests.RequestException:
            raise _Failure(f"Jira at {self.where} dropped the connection.") from None
        except (KeyError, TypeError, ValueError):
            raise _Failure(f"Jira at {self.where} sent an answer we could not read.") from None

    def _redact(self, text: str) -> str:
        """Jira's words without our token, plain or in the Basic header (a proxy may echo it)."""
        if not self._token:
            return text
        basic = base64.b64encode(f"{self.email}:{self._token}".encode()).decode()
        return redact(text, [self._token, basic])

    def _explain(self, status: int | None, text: str | None) -> _Failure:
        if status == 401:
            return _Failure(
                "Jira is refusing our credentials (401); check JIRA_EMAIL and JIRA_API_TOKEN."
            )
        if status == 403:
            return _Failure(
                f"Jira does not let our account work in project {self.project_key} (403); "
                "give it the Browse projects and Create issues permissions there."
            )
        if status == 404:
            return _Failure(
                f"Jira has no project {self.project_key} that our account can see (404); "
                "check JIRA_PROJECT_KEY."
            )
        if status == 429:
            return _Failure("Jira is rate-limiting us (429); try again in a minute.")
        if status == 400:
            detail = " ".join(self._redact(text or "").split())[:160] or "no detail given"
            return _Failure(
                f"Jira rejected the request (400: {detail}); check JIRA_PROJECT_KEY, "
                "JIRA_ISSUE_TYPE and the project's required fields.",
                permanent=True,
            )
        if status is not None and status >= 500:
            return _Failure(f"Jira is not answering properly ({status}); it may be down.")
        return _Failure(f"Jira answered with an unexpected error ({status}).")


def _retry_reads_only(session: Any) -> None:
    """Let the client retry reads (429, 503, a dropped connection), never a write.

    Its ResilientSession resends a create on its own, beneath the outbox's marker check: a 503
    or a dropped connection after Jira made the issue gave two issues. A write is sent once;
    the outbox sends it again only after searching for its marker. The hook is the session's
    private retry test (jira 3.10); should it ever be renamed, no request is retried at all.
    """
    decide = getattr(session, "_ResilientSession__recoverable", None)
    if decide is None:
        session.max_retries = 0
        return

    def recoverable(response: Any, url: Any, request_method: str, counter: int = 1) -> bool:
        return request_method.upper() in _SAFE_METHODS and decide(
            response, url, request_method, counter
        )

    session._ResilientSession__recoverable = recoverable


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# -- reading Jira's answers --------------------------------------------------------------------


def _issue_or_none(jira: Any, key: str) -> dict[str, Any] | None:
    from jira import JIRAError

    try:
        return jira.issue(key, fields=",".join(ISSUE_FIELDS)).raw
    except JIRAError as exc:
        if exc.status_code == 404:
            return None
        raise


def _search(jira: Any, jql: str, limit: int) -> list[dict[str, Any]]:
    issues = jira.search_issues(jql, maxResults=limit, fields=list(ISSUE_FIELDS))
    return [issue.raw for issue in issues]


def _labels(raw: dict[str, Any]) -> list[str]:
    return (raw.get("fields") or {}).get("labels") or []


def _ticket(raw: dict[str, Any]) -> Ticket:
    fields = raw.get("fields") or {}
    labels = _labels(raw)
    status = fields.get("status") or {}
    comments = (fields.get("comment") or {}).get("comments") or []
    # Jira lists comments oldest first; on equal times the later in the list is the newer.
    order = sorted(enumerate(comments), key=lambda ic: (ic[1].get("created") or "", ic[0]))
    latest = order[-1][1] if order else None
    return Ticket(
        key=raw["key"],
        user_name=_label_value(labels, "player-") or "unknown",
        category=_label_value(labels, "category-") or "other",
        summary=fields.get("summary") or "",
        description=fields.get("description") or "",
        status=status.get("name") or "Unknown",
        status_category=(status.get("statusCategory") or {}).get("name") or "To Do",
        priority=(fields.get("priority") or {}).get("name") or "None",
        created=_iso(fields.get("created")),
        updated=_iso(fields.get("updated") or fields.get("created")),
        due_date=fields.get("duedate") or None,
        latest_comment=_comment_text(latest) if latest else None,
    )


def _comment_text(comment: dict[str, Any]) -> str:
    body = comment.get("body") or ""
    text = " ".join(body.split()) if isinstance(body, str) else ""
    author = (comment.get("author") or {}).get("displayName")
    return f"{author}: {text}" if author and text else text


def _label_value(labels: list[str], prefix: str) -> str | None:
    return next((label[len(prefix) :] for label in labels if label.startswith(prefix)), None)


def _queued(entry: Entry, in_memory: bool = False) -> Ticket:
    status = "Queued in memory only" if in_memory else "Queued"  # the outbox cannot be written
    return _local_ticket(entry, entry.ref, status, queued=True)


def _fresh(entry: Entry, key: str) -> Ticket:
    """A ticket we created but could not read back yet."""
    return _local_ticket(entry, key, "Registered", queued=False)


def _local_ticket(entry: Entry, key: str, status: str, *, queued: bool) -> Ticket:
    """What we know of a grievance from our own outbox entry, without asking Jira."""
    p = entry.payload
    return Ticket(
        key=key,
        user_name=p["user_name"],
        category=p["category"],
        summary=f"{category_label(p['category'])} grievance from {p['user_name']}",
        description=p["description"],
        status=status,
        status_category="To Do",
        priority="None",
        created=p["created"],
        updated=p["created"],
        queued=queued,
    )


def _iso(value: str | None) -> str:
    """Jira's '2026-11-03T10:15:30.000+0000' as ISO 8601 UTC; other text is kept as it is."""
    if not value:
        return ""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            moment = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
    return value


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _flush_sentence(delivered: int, remaining: int, reason: str | None) -> str:
    sent = f"Delivered {delivered} grievance{'' if delivered == 1 else 's'} to Jira"
    if remaining == 0:
        return (
            "The outbox is empty; nothing to deliver."
            if delivered == 0
            else sent + "; the outbox is empty."
        )
    still = f"{remaining} {'is' if remaining == 1 else 'are'} still queued"
    return f"{sent}; {still} because {reason or 'Jira did not take them.'}"
