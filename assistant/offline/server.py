"""The engine over HTTP on loopback, for any OpenAI client (`OPENAI_BASE_URL=http://127.0.0.1:N/v1`)."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from assistant.offline.engine import OfflineEngine
from assistant.offline.http_api import dispatch

log = logging.getLogger(__name__)
MAX_BODY = 40 * 1024 * 1024  # a 25 MB recording, base64-encoded, plus the messages


def make_server(
    engine: OfflineEngine, port: int = 0, host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """A server bound to loopback (port 0: any free port; read it from `server.server_address`)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "VoiceDeskOffline/1"

        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self.send_error(413, "Request body too large")
                return
            self._answer(self.rfile.read(length) if length else b"")

        def _answer(self, body: bytes) -> None:
            status, content_type, payload = dispatch(
                engine, self.command, self.path, self.headers.get("content-type", ""), body
            )
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args) -> None:
            log.info("%s %s", self.address_string(), format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
