"""An httpx2 transport that hands the SDK's requests to the engine in process (no socket)."""

from __future__ import annotations

import httpx2

from assistant.offline.engine import OfflineEngine
from assistant.offline.http_api import dispatch


class OfflineTransport(httpx2.BaseTransport):
    def __init__(self, engine: OfflineEngine):
        self.engine = engine

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()
        status, content_type, payload = dispatch(
            self.engine,
            request.method,
            request.url.path,
            request.headers.get("content-type", ""),
            body,
        )
        return httpx2.Response(
            status, headers={"content-type": content_type}, content=payload, request=request
        )
