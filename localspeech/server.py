"""The engine over HTTP on loopback, for any OpenAI client (`OPENAI_BASE_URL=http://127.0.0.1:N/v1`).

The standard library's `http.server` parses requests (with its limits on the request line and
on headers); this module adds what a server on a desk machine needs against a hostile local
program or a web page in the agent's browser. In the order a request meets them:

* at most MAX_CONNECTIONS connections, each with one thread; one more gets a 503 at once;
* the whole request (headers and body) must arrive within READ_TIMEOUT_S, however it trickles;
* the Host header must name loopback or a configured name (a DNS-rebinding page names its own);
* a browser's Origin must too (a page may post a form or text/plain without asking first);
* the bearer key, when one is set;
* one plain Content-Length within the path's limit, checked before the body is read;
* then `http_api`: media type, body shape and size, field types; or, for `GET /v1/realtime`
  with a WebSocket upgrade, `realtime_server` (at most MAX_SESSIONS live sessions at once).

Every refusal is a 4xx (503 for "busy") with an OpenAI-shaped error body. uvicorn (installed
with Streamlit) was considered: its asyncio gains nothing for an engine whose work is synchronous,
it has no deadline for a request's headers, and it answers malformed requests in plain text.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from localspeech.engine import OfflineEngine
from localspeech.http_api import JSON, body_limit, dispatch, too_large
from localspeech.protocol import OfflineAPIError
from localspeech.realtime_server import (
    MAX_SESSIONS,
    is_realtime,
    serve_websocket,
    session_limit,
    upgrade_refusal,
)

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 8  # threads; the engine's work is CPU-bound on a desk machine's few cores
READ_TIMEOUT_S = 20.0  # for a whole request to arrive, and for an idle kept-alive connection
WRITE_TIMEOUT_S = 30.0  # for a client to take the answer
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_LENGTH = re.compile(r"[0-9]{1,15}")
_PROTOCOL_ERRORS = {  # http.server's own refusals, as one sentence each
    400: ("The request is not valid HTTP.", "bad_request"),
    408: ("The request took too long to arrive.", "request_timeout"),
    414: ("The request line is too long.", "uri_too_long"),
    431: ("The request headers are too many or too long.", "headers_too_large"),
    501: ("Use GET or POST.", "method_not_allowed"),
    505: ("Use HTTP/1.1.", "bad_request"),
}


def make_server(
    engine: OfflineEngine,
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    api_key: str | None = None,
    allowed_hosts: Iterable[str] = (),
) -> ThreadingHTTPServer:
    """A server bound to loopback (port 0: any free port; read it from `server.server_address`).

    `api_key`: when set, every request needs `Authorization: Bearer <api_key>`.
    `allowed_hosts`: host names besides loopback that the Host header may name.
    """
    hosts = LOOPBACK | {h.strip().lower() for h in allowed_hosts if h.strip()}
    return _Server((host, port), _handler(engine, api_key or None, hosts))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.realtime_slots = threading.BoundedSemaphore(MAX_SESSIONS)
        self.realtime_links: set = set()  # open live sessions, closed with the server
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _refuse_busy(sock: socket.socket) -> None:
    """A 503 from the accepting thread, after reading briefly what was sent (closing on unread
    bytes would reset the connection before the client reads the answer)."""
    error = OfflineAPIError(
        "The offline engine is busy with other connections; try again shortly.",
        status=503,
        type="server_error",
        code="server_busy",
    )
    payload = json.dumps(error.body()).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    try:
        sock.settimeout(0.2)
        seen = b""
        while b"\r\n\r\n" not in seen and len(seen) < 65536:
            chunk = sock.recv(65536)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    try:
        sock.settimeout(1.0)
        sock.sendall(head.encode() + payload)
    except OSError:
        pass


class _DeadlineReader(io.RawIOBase):
    """The socket, read against one deadline for a whole request rather than per read: a client
    sending a byte a second would satisfy any per-read timeout and hold its thread for ever."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.deadline = float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


def _handler(engine: OfflineEngine, api_key: str | None, hosts: frozenset[str]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "VoiceDeskOffline/1"

        def setup(self) -> None:
            super().setup()
            self._reader = _DeadlineReader(self.connection)
            self.rfile = io.BufferedReader(self._reader, 64 * 1024)

        def handle_one_request(self) -> None:
            self._reader.deadline = time.monotonic() + READ_TIMEOUT_S
            super().handle_one_request()

        def parse_request(self) -> bool:
            ok = super().parse_request()
            if ok and self.request_version == "HTTP/0.9":  # no headers: no Host, no key
                self.send_error(400)
                return False
            return ok

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            if is_realtime(self.path):
                self._realtime()
                return
            try:
                body = self._checked_body()
            except OfflineAPIError as exc:
                self.close_connection = True  # an unread body may follow on this connection
                self._refuse(exc)
                return
            if body is None:  # the client went away mid-body
                self.close_connection = True
                return
            status, content_type, payload = dispatch(
                engine, self.command, self.path, self.headers.get("content-type", ""), body
            )
            if isinstance(payload, bytes):
                self._send(status, content_type, payload)
            else:
                self._send_events(status, content_type, payload)

        def _realtime(self) -> None:
            """The WebSocket upgrade: the same checks as any request, then one live session."""
            self.close_connection = True
            try:
                self._check_access()
                refusal = upgrade_refusal(self.headers)
                if refusal is not None:
                    raise refusal
                if not self.server.realtime_slots.acquire(blocking=False):
                    raise session_limit()
            except OfflineAPIError as exc:
                self._refuse(exc)
                return
            try:
                serve_websocket(self, engine, self.server.realtime_links)
            finally:
                self.server.realtime_slots.release()

        def _refuse(self, exc: OfflineAPIError) -> None:
            extra = {"WWW-Authenticate": 'Bearer realm="voicedesk"'} if exc.status == 401 else {}
            if exc.status == 503:
                extra["Retry-After"] = "1"
            self._send(exc.status, JSON, json.dumps(exc.body()).encode(), extra)

        def _check_access(self) -> None:
            _check_host(self.headers.get_all("host") or [], hosts)
            _check_origin(self.headers.get("origin"), hosts)
            if api_key is not None:
                _check_key(self.headers.get("authorization") or "", api_key)

        def _checked_body(self) -> bytes | None:
            self._check_access()
            length = _content_length(self.command, self.headers)
            limit = body_limit(self.path)
            if length > limit:
                raise too_large(limit)
            try:
                body = self.rfile.read(length) if length else b""
            except TimeoutError:
                raise OfflineAPIError(
                    f"The request body did not arrive within {READ_TIMEOUT_S:g} seconds.",
                    status=408,
                    code="request_timeout",
                ) from None
            return body if len(body) == length else None

        def _send(self, status: int, content_type: str, payload: bytes, extra=None) -> None:
            self.connection.settimeout(WRITE_TIMEOUT_S)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and self.request_version != "HTTP/0.9":
                self.wfile.write(payload)

        def _send_events(self, status: int, content_type: str, events) -> None:
            """A streamed answer: each event written as soon as it is made; the end of the
            connection ends the body (no length is known in advance)."""
            self.close_connection = True
            self.connection.settimeout(WRITE_TIMEOUT_S)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for event in events:
                    self.wfile.write(event)
                    self.wfile.flush()
            except OSError:  # the client went away: stop voicing the rest
                log.info("streamed answer not taken to its end by %s", self.address_string())
            finally:
                close = getattr(events, "close", None)
                if close is not None:
                    close()

        def send_error(self, code: int, message: str | None = None, explain=None) -> None:
            """http.server's own refusals (bad request line, headers, method), OpenAI-shaped."""
            if code == 501:  # an unknown method is the client's mistake
                code = 405
            elif code == 505:
                code = 400
            text, error_code = _PROTOCOL_ERRORS.get(
                code, _PROTOCOL_ERRORS[501] if code == 405 else ("The request was refused.", None)
            )
            error = OfflineAPIError(text, status=code, code=error_code)
            self.request_version = "HTTP/1.1"  # an HTTP/0.9 answer would have no status line
            self.close_connection = True
            self._send(code, JSON, json.dumps(error.body()).encode())

        def log_message(self, format: str, *args) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def _check_host(values: list[str], hosts: frozenset[str]) -> None:
    name = _host_name(values[0]) if len(values) == 1 else None
    if name not in hosts:
        raise OfflineAPIError(
            "This server answers only to localhost; the Host header names another.",
            status=403,
            code="host_not_allowed",
        )


def _check_origin(origin: str | None, hosts: frozenset[str]) -> None:
    # Browsers send Origin with every cross-site POST; the OpenAI SDK sends none.
    if origin is not None and _host_name(origin, url=True) not in hosts:
        raise OfflineAPIError(
            "Requests from web pages on other sites are refused.",
            status=403,
            code="origin_not_allowed",
        )


def _host_name(value: str, url: bool = False) -> str | None:
    try:
        return urlsplit(value.strip() if url else "//" + value.strip()).hostname
    except ValueError:
        return None


def _check_key(header: str, api_key: str) -> None:
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), api_key.encode()
    ):
        raise OfflineAPIError(
            "This server needs its API key as a bearer token.",
            status=401,
            code="invalid_api_key",
        )


def _content_length(method: str, headers) -> int:
    if headers.get("transfer-encoding") is not None:
        raise _length_required("Send the body with a Content-Length, not in chunks.")
    values = {v.strip() for v in headers.get_all("content-length") or []}
    if not values:
        if method == "POST":
            raise _length_required("A POST needs a Content-Length header.")
        return 0
    value = values.pop()
    if values or not _LENGTH.fullmatch(value):
        raise OfflineAPIError(
            "The Content-Length header must be one whole number of bytes.",
            code="invalid_content_length",
        )
    return int(value)


def _length_required(message: str) -> OfflineAPIError:
    return OfflineAPIError(message, status=411, code="length_required")
