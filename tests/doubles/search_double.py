"""An Azure AI Search double on 127.0.0.1 for the real `azure-search-documents` SDK.

Wire shapes are those the SDK sends and reads (recipes/vendor-doubles.md): the index is
PUT at `/indexes('NAME')`, documents go to `/indexes('NAME')/docs/search.index`, queries to
`/indexes('NAME')/docs/search.post.search`, all with `?api-version=` and an `api-key` header.
The index definition is checked the way the service checks it (semantic configuration and
vector profile must name real fields and vectorizers), queries are checked against it (an
unknown semantic configuration, or a text vector query on a field without a vectorizer, is a
400), and ranking is simple term overlap, so a test can tell which passage should come first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

_EMBEDDINGS = re.compile(r"/openai/deployments/([^/]+)/embeddings")
_PATH = re.compile(r"/indexes\('(?P<name>[^']+)'\)(?P<rest>/.*)?")
_WORD = re.compile(r"\w+")


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]


@dataclass
class SearchDouble:
    key: str = "search-key-123"
    openai_key: str = "aoai-key-123"  # the embedding deployment's (Azure OpenAI) key
    embedding_dimensions: int = 8
    indexes: dict[str, dict[str, Any]] = field(default_factory=dict)
    docs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def start(self) -> SearchDouble:
        self._server.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server.is_running():
            self._server.stop()

    def reset(self) -> None:
        with self._lock:
            self.indexes.clear()
            self.docs.clear()
            self.log.clear()
            self._faults.clear()
            self.key = "search-key-123"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    # -- what tests arrange and look at ---------------------------------------------------------

    def fail(self, method: str, path: str, status: int, times: int = 1, headers=None) -> None:
        with self._lock:
            self._faults.append(_Fault(method, re.compile(path), status, times, headers or {}))

    def requests(self, method: str | None = None, suffix: str | None = None) -> list[dict]:
        return [
            r
            for r in self.log
            if (method is None or r["method"] == method)
            and (suffix is None or r["path"].endswith(suffix))
        ]

    def add_index(self, name: str, definition: dict[str, Any] | None = None) -> None:
        """An index made elsewhere (the portal): id/title/section/source/text, plus extras."""
        base = {
            "name": name,
            "fields": [
                {"name": "id", "type": "Edm.String", "key": True},
                *({"name": n, "type": "Edm.String", "searchable": True}
                  for n in ("title", "section", "source", "text")),
            ],
        }  # fmt: skip
        with self._lock:
            self.indexes[name] = {**base, **(definition or {})}
            self.docs.setdefault(name, {})

    def add_docs(self, index: str, docs: list[dict[str, Any]]) -> None:
        with self._lock:
            for doc in docs:
                self.docs[index][doc["id"]] = dict(doc)

    # -- HTTP -----------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        raw = request.get_data(as_text=True)
        body = json.loads(raw) if raw else None
        entry = {"method": request.method, "path": request.path, "args": dict(request.args),
                 "json": body}  # fmt: skip
        with self._lock:
            self.log.append(entry)
            fault = self._take_fault(request.method, request.path)
        if fault is not None:
            return _error(fault.status, f"Injected {fault.status}", fault.headers)
        if not request.args.get("api-version"):
            return _error(400, "The api-version query parameter (?api-version=) is required.")
        embeddings = _EMBEDDINGS.fullmatch(request.path)
        if embeddings:
            return self._embeddings(request, embeddings.group(1), body)
        if request.headers.get("api-key") != self.key:
            return Response("", 401)  # the service answers 401 with an empty body
        match = _PATH.fullmatch(request.path)
        if not match:
            return _error(404, f"No route for {request.path} in the search double.")
        name, rest = match.group("name"), match.group("rest") or ""
        with self._lock:
            return self._route(request.method, name, rest, body)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.path.fullmatch(path) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _route(self, method: str, name: str, rest: str, body: Any) -> Response:
        if rest == "" and method == "PUT":
            problem = _index_problem(name, body)
            if problem:
                return _error(400, problem)
            created = name not in self.indexes
            self.indexes[name] = body
            self.docs.setdefault(name, {})
            return _json(body, 201 if created else 200)
        if rest == "" and method == "GET":
            if name not in self.indexes:
                return _error(404, f"No index with the name '{name}' was found in the service.")
            return _json(self.indexes[name])
        if name not in self.indexes:
            return _error(404, f"The index '{name}' for service 'double' was not found.")
        if rest == "/docs/$count" and method == "GET":
            return Response(f"\ufeff{len(self.docs[name])}", 200, content_type="text/plain")
        if rest == "/docs/search.index" and method == "POST":
            return self._index_docs(name, body)
        if rest == "/docs/search.post.search" and method == "POST":
            return self._search(name, body)
        return _error(404, f"No route for {method} {rest} in the search double.")

    def _embeddings(self, request: Request, deployment: str, body: Any) -> Response:
        """Azure OpenAI's embeddings endpoint: a deterministic unit vector per input text."""
        if request.headers.get("api-key") != self.openai_key:
            return _json({"error": {"code": "401", "message": "Access denied due to invalid "
                                    "subscription key or wrong API endpoint."}}, 401)  # fmt: skip
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(texts):
            vector = _unit_vector(text, self.embedding_dimensions)
            if body.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            else:
                encoded = vector
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(len(t.split()) for t in texts)
        return _json({"object": "list", "data": data, "model": deployment,
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})  # fmt: skip

    def _index_docs(self, name: str, body: Any) -> Response:
        key = _key_field(self.indexes[name])
        known = {f["name"] for f in self.indexes[name]["fields"]}
        results, store = [], self.docs[name]
        for action in body["value"]:
            action = dict(action)  # the log keeps the request as it came
            kind = action.pop("@search.action", "upload")
            doc_id = action.get(key)
            unknown = set(action) - known
            if unknown:
                return _error(400, f"The property '{sorted(unknown)[0]}' does not exist on type "
                                   f"'search.documentFields'.")  # fmt: skip
            if kind == "delete":
                store.pop(doc_id, None)
                results.append(
                    {"key": doc_id, "status": True, "errorMessage": None, "statusCode": 200}
                )
                continue
            existed = doc_id in store
            if kind == "merge" and not existed:
                results.append({"key": doc_id, "status": False,
                                "errorMessage": "Document not found.", "statusCode": 404})  # fmt: skip
                continue
            store[doc_id] = {**store.get(doc_id, {}), **action} if kind != "upload" else action
            results.append({"key": doc_id, "status": True, "errorMessage": None,
                            "statusCode": 200 if existed else 201})  # fmt: skip
        status = 200 if all(r["status"] for r in results) else 207
        return _json({"value": results}, status)

    def _search(self, name: str, body: dict[str, Any]) -> Response:
        index = self.indexes[name]
        semantic = body.get("queryType") == "semantic"
        if semantic:
            configs = {c["name"] for c in (index.get("semantic") or {}).get("configurations", [])}
            wanted = body.get("semanticConfiguration") or (index.get("semantic") or {}).get(
                "defaultConfiguration"
            )
            if wanted not in configs:
                return _error(400, f"Unknown semantic configuration '{wanted}'.")
        for vq in body.get("vectorQueries") or []:
            problem = _vector_query_problem(index, vq)
            if problem:
                return _error(400, problem)
        searchable = [f["name"] for f in index["fields"] if f.get("searchable") and
                      f["type"] == "Edm.String"]  # fmt: skip
        terms = {w.lower() for w in _WORD.findall(body.get("search") or "")}
        scored = []
        for doc in self.docs[name].values():
            if body.get("search") in (None, "", "*"):
                score = 1.0
            else:
                words = [
                    w.lower() for f in searchable for w in _WORD.findall(str(doc.get(f) or ""))
                ]
                score = float(sum(words.count(t) for t in terms))
            if score > 0 or body.get("vectorQueries"):
                scored.append((score, doc))
        scored.sort(key=lambda sd: (-sd[0], sd[1][_key_field(index)]))
        skip, top = body.get("skip", 0), body.get("top", 50)
        select = body.get("select")
        fields = select.split(",") if select else [f["name"] for f in index["fields"]]
        value = []
        for score, doc in scored[skip : skip + top]:
            item = {"@search.score": score, **{f: doc.get(f) for f in fields}}
            if semantic:
                item["@search.rerankerScore"] = round(min(4.0, score), 3)
                if body.get("captions", "").startswith("extractive"):
                    item["@search.captions"] = [_caption(doc.get("text") or "", terms)]
            value.append(item)
        reply: dict[str, Any] = {"value": value}
        if body.get("count"):
            reply["@odata.count"] = len(scored)
        return _json(reply)


def _index_problem(name: str, body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("name") != name:
        return "The index name in the body must match the name in the URL."
    fields = {f["name"]: f for f in body.get("fields") or []}
    if sum(1 for f in fields.values() if f.get("key")) != 1:
        return "The index must have exactly one key field."
    vector = body.get("vectorSearch") or {}
    profiles = {p["name"]: p for p in vector.get("profiles") or []}
    algorithms = {a["name"] for a in vector.get("algorithms") or []}
    vectorizers = {v["name"] for v in vector.get("vectorizers") or []}
    for f in fields.values():
        vector_field = f["type"] == "Collection(Edm.Single)"
        if vector_field and (
            not f.get("dimensions") or f.get("vectorSearchProfile") not in profiles
        ):
            return f"The vector field '{f['name']}' needs dimensions and a known profile."
    for p in profiles.values():
        if p.get("algorithm") not in algorithms:
            return f"The profile '{p['name']}' names an unknown algorithm."
        if p.get("vectorizer") and p["vectorizer"] not in vectorizers:
            return f"The profile '{p['name']}' names an unknown vectorizer."
    for config in (body.get("semantic") or {}).get("configurations") or []:
        prioritized = config.get("prioritizedFields") or {}
        named = [prioritized.get("titleField")] + prioritized.get("prioritizedContentFields", [])
        named += prioritized.get("prioritizedKeywordsFields", [])
        for ref in filter(None, named):
            if ref["fieldName"] not in fields:
                return f"The semantic configuration names an unknown field '{ref['fieldName']}'."
    return None


def _vector_query_problem(index: dict[str, Any], vq: dict[str, Any]) -> str | None:
    fields = {f["name"]: f for f in index["fields"]}
    target = fields.get(vq.get("fields", ""))
    if target is None or target["type"] != "Collection(Edm.Single)":
        return f"The field '{vq.get('fields')}' in the vector query is not a vector field."
    if vq.get("kind") == "text":
        vector = index.get("vectorSearch") or {}
        profile = next(p for p in vector["profiles"] if p["name"] == target["vectorSearchProfile"])
        if not profile.get("vectorizer"):
            return (
                f"The field '{target['name']}' does not have a vectorizer defined; a text "
                "vector query needs one."
            )
    return None


def _unit_vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [digest[i % len(digest)] - 127.5 for i in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _caption(text: str, terms: set[str]) -> dict[str, str]:
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    best = max(sentences, key=lambda s: sum(w.lower() in terms for w in _WORD.findall(s)))
    return {"text": best, "highlights": ""}


def _key_field(index: dict[str, Any]) -> str:
    return next(f["name"] for f in index["fields"] if f.get("key"))


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status, content_type="application/json; odata.metadata=none")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": {"code": "", "message": message}})
    return Response(body, status, headers=headers, content_type="application/json")
