"""A Jira Cloud double on 127.0.0.1 for the real `jira` client (shapes in recipes/vendor-doubles.md).

It keeps issues in memory and answers the endpoints VoiceDesk uses: serverInfo, field, project,
issue create/read and the Cloud search (`GET /rest/api/2/search/jql`). JQL is parsed the way
Jira lexes it (quoted strings with backslash escapes; a raw newline or an unknown escape is a
400), so a value that was not escaped properly breaks the query here as it would there.
Faults are injected per endpoint: `fail("POST", "/rest/api/2/issue", 503, times=1)`, with
headers (`Retry-After`), after doing the work (`after=True`), or by dropping the connection
instead of answering (`drop=True`).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API = "/rest/api/2"


# A few of GET /rest/api/2/field's entries (Jira lists every system and custom field).
FIELDS = [
    {"id": name, "key": name, "name": name.title(), "custom": False, "clauseNames": [name]}
    for name in ("summary", "description", "labels", "status", "priority", "duedate",
                 "created", "updated", "comment")
]  # fmt: skip


class JqlError(ValueError):
    pass


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    delay: float
    after: bool  # carry the request out first, then answer with the fault (a lost reply)
    drop: bool  # close the connection instead of answering


@dataclass
class JiraDouble:
    email: str = "bot@example.com"
    token: str = "jira-token-123"
    project_key: str = "GRV"
    issue_types: tuple[str, ...] = ("Task", "Bug")
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._next = 1

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> JiraDouble:
        self._server.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server.is_running():
            self._server.stop()

    def reset(self) -> None:
        """Back to an empty Jira with the default credentials (one server for many tests)."""
        with self._lock:
            self.issues.clear()
            self.log.clear()
            self._faults.clear()
            self._next = 1
            self.email, self.token, self.project_key = "bot@example.com", "jira-token-123", "GRV"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    # -- what tests arrange and look at ---------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        after: bool = False,
        drop: bool = False,
    ) -> None:
        """The next `times` requests matching method and path (a regex) get `status`.

        With `after=True` the request is carried out first and only its reply is replaced:
        the server did the work but the client never heard (a timeout or a 504 in real life).
        With `drop=True` the connection is closed without a reply; with `after=True` and
        `status=0` the real answer is sent, after `delay` (a slow Jira).
        """
        with self._lock:
            self._faults.append(
                _Fault(method, re.compile(path), status, times, headers or {}, delay, after, drop)
            )

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict]:
        return [
            r
            for r in self.log
            if (method is None or r["method"] == method) and (path is None or r["path"] == path)
        ]

    def add_issue(self, summary: str, labels: list[str], **fields: Any) -> str:
        with self._lock:
            return self._create({"summary": summary, "labels": labels, **fields})

    def set_status(self, key: str, name: str, category: str) -> None:
        keys = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
        with self._lock:
            issue = self.issues[key]["fields"]
            issue["status"] = {
                "name": name,
                "statusCategory": {"key": keys[category], "name": category},
            }
            issue["updated"] = _jira_time()

    def add_comment(self, key: str, body: str, author: str = "Support Agent") -> None:
        with self._lock:
            block = self.issues[key]["fields"]["comment"]
            block["comments"].append(
                {"id": str(10000 + len(block["comments"])), "body": body,
                 "author": {"displayName": author}, "created": _jira_time()}
            )  # fmt: skip
            block["total"] = block["maxResults"] = len(block["comments"])

    # -- the HTTP side --------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        entry = {
            "method": request.method,
            "path": request.path,
            "args": request.args.to_dict(flat=False),
            "json": json.loads(body) if body else None,
        }
        with self._lock:
            self.log.append(entry)
            fault = self._take_fault(request.method, request.path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.after:
                with self._lock:
                    done = self._route(request, entry["json"])
                if fault.status == 0 and not fault.drop:
                    return done  # only slow: the real answer, late
            if fault.drop:  # the client reads an empty, closed connection
                request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return _json({"errorMessages": [f"Injected {fault.status}"], "errors": {}},
                         fault.status, fault.headers)  # fmt: skip
        if not self._authorised(request.headers.get("Authorization", "")):
            return Response(
                "Client must be authenticated to access this resource.", 401,
                content_type="text/html;charset=UTF-8",
            )  # fmt: skip
        with self._lock:
            return self._route(request, entry["json"])

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.path.fullmatch(path) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _authorised(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return header == f"Basic {expected}"

    def _route(self, request: Request, body: Any) -> Response:
        path, method = request.path, request.method
        if method == "GET" and path == f"{API}/serverInfo":
            return _json({"baseUrl": self.url, "version": "1001.0.0-SNAPSHOT",
                          "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud"})  # fmt: skip
        if method == "GET" and path == f"{API}/field":
            return _json(FIELDS)
        if method == "GET" and path.startswith(f"{API}/project/"):
            key = path.rsplit("/", 1)[1]
            if key != self.project_key:
                return _error(404, f"No project could be found with key '{key}'.")
            return _json({"id": "10000", "key": key, "name": "Grievances"})
        if method == "POST" and path == f"{API}/issue":
            return self._create_from(body)
        if method == "GET" and path.startswith(f"{API}/issue/"):
            issue = self.issues.get(path.rsplit("/", 1)[1])
            if issue is None:
                return _error(404, "Issue does not exist or you do not have permission to see it.")
            return _json(_only(issue, _fields_param(request)))
        if method == "GET" and path == f"{API}/search/jql":
            return self._search(request)
        if method == "GET" and path == f"{API}/search":
            return _error(
                410,
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API.",
            )
        return _error(404, f"No route for {method} {path} in the Jira double.")

    def _create_from(self, body: Any) -> Response:
        fields = (body or {}).get("fields") or {}
        errors = {}
        if (fields.get("project") or {}).get("key") != self.project_key:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
            errors["issuetype"] = "The issue type selected is invalid."
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or " " in label or len(label) > 255:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if errors:
            return _json({"errorMessages": [], "errors": errors}, 400)
        key = self._create(fields)
        issue = self.issues[key]
        return _json(
            {"id": issue["id"], "key": key, "self": f"{self.url}{API}/issue/{issue['id']}"}, 201
        )

    def _create(self, fields: dict[str, Any]) -> str:
        number, self._next = self._next, self._next + 1
        key = f"{self.project_key}-{number}"
        now = _jira_time()
        self.issues[key] = {
            "id": str(10000 + number),
            "key": key,
            "self": f"{self.url}{API}/issue/{10000 + number}",
            "fields": {
                "summary": fields["summary"],
                "description": fields.get("description"),
                "labels": list(fields.get("labels") or []),
                "status": {"name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}},
                "priority": {"name": fields.get("priority", {}).get("name", "Medium")},
                "duedate": fields.get("duedate"),
                "created": now,
                "updated": now,
                "comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0},
                "project": {"key": self.project_key},
                "issuetype": {"name": (fields.get("issuetype") or {}).get("name", "Task")},
            },
        }
        return key

    def _search(self, request: Request) -> Response:
        try:
            clauses, order = parse_jql(request.args.get("jql", ""))
        except JqlError as exc:
            return _json({"errorMessages": [f"Error in the JQL Query: {exc}"], "errors": {}}, 400)
        hits = [i for i in self.issues.values() if all(_matches(i, c) for c in clauses)]
        if order:
            name, descending = order
            hits.sort(key=lambda i: (i["fields"].get(name) or "", int(i["id"])), reverse=descending)
        limit = int(request.args.get("maxResults", "50"))
        wanted = _fields_param(request)
        return _json({"issues": [_only(i, wanted) for i in hits[:limit]], "isLast": True})


# -- JQL, the subset VoiceDesk uses: clause AND clause ... [ORDER BY field ASC|DESC] ------------

_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t", " ": " "}
_WORD = re.compile(r"[A-Za-z0-9_.\-+]+")


def tokenize(jql: str) -> list[tuple[str, str]]:
    """Tokens as (kind, text): kind is 'str' (a quoted string, unescaped), 'word' or 'op'."""
    tokens, i = [], 0
    while i < len(jql):
        ch = jql[i]
        if ch.isspace():
            i += 1
        elif ch in "\"'":
            value, i = _quoted(jql, i)
            tokens.append(("str", value))
        elif jql.startswith(("!=", ">=", "<="), i):
            tokens.append(("op", jql[i : i + 2]))
            i += 2
        elif ch in "=<>~()":
            tokens.append(("op", ch))
            i += 1
        else:
            match = _WORD.match(jql, i)
            if not match:
                raise JqlError(f"The character '{ch}' is a reserved JQL character.")
            tokens.append(("word", match.group()))
            i = match.end()
    return tokens


def _quoted(jql: str, start: int) -> tuple[str, int]:
    quote, out, i = jql[start], [], start + 1
    while i < len(jql):
        ch = jql[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch in "\n\r":
            raise JqlError("a quoted string may not contain a raw newline.")
        if ch == "\\":
            nxt = jql[i + 1 : i + 2]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", jql[i + 2 : i + 6]):
                out.append(chr(int(jql[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise JqlError(f"'\\{nxt}' is an illegal JQL escape sequence.")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise JqlError("the quoted string is not terminated.")


def parse_jql(jql: str) -> tuple[list[tuple[str, str, str]], tuple[str, bool] | None]:
    tokens = tokenize(jql)
    clauses: list[tuple[str, str, str]] = []
    order = None
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "word" and text.upper() == "ORDER":
            if i + 2 >= len(tokens) or tokens[i + 1][1].upper() != "BY":
                raise JqlError("expected BY after ORDER.")
            name = tokens[i + 2][1]
            direction = tokens[i + 3][1].upper() if i + 3 < len(tokens) else "ASC"
            order = (name, direction == "DESC")
            break
        if clauses:
            if kind != "word" or text.upper() != "AND":
                raise JqlError(f"expected AND or ORDER BY but got '{text}'.")
            i += 1
        if i + 3 > len(tokens):
            raise JqlError("incomplete clause.")
        (fkind, fname), (okind, op), (vkind, value) = tokens[i : i + 3]
        if fkind != "word" or okind != "op" or vkind not in ("str", "word"):
            raise JqlError(f"expected 'field operator value' at '{fname}'.")
        if vkind == "word" and value.upper() in ("AND", "OR", "NOT", "ORDER", "EMPTY"):
            raise JqlError(f"'{value}' is a reserved word; quote it.")
        clauses.append((fname.lower(), op, value))
        i += 3
    return clauses, order


def _matches(issue: dict[str, Any], clause: tuple[str, str, str]) -> bool:
    name, op, value = clause
    fields = issue["fields"]
    if name == "project":
        actual = [fields["project"]["key"]]
    elif name == "labels":
        actual = fields["labels"]
    elif name == "key":
        actual = [issue["key"]]
    elif name == "status":
        actual = [fields["status"]["name"]]
    else:
        raise JqlError(f"Field '{name}' is not supported by the double.")
    hit = any(a.casefold() == value.casefold() for a in actual)
    if op == "=":
        return hit
    if op == "!=":
        return not hit
    raise JqlError(f"Operator '{op}' is not supported by the double.")


# -- helpers ------------------------------------------------------------------------------------


def _fields_param(request: Request) -> set[str] | None:
    values = request.args.getlist("fields")
    names = {n.strip() for v in values for n in v.split(",") if n.strip()}
    return None if not names or "*all" in names else names


def _only(issue: dict[str, Any], wanted: set[str] | None) -> dict[str, Any]:
    if wanted is None:
        return issue
    return {**issue, "fields": {k: v for k, v in issue["fields"].items() if k in wanted}}


def _jira_time() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(value), status, headers=headers, content_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"errorMessages": [message], "errors": {}}, status)
