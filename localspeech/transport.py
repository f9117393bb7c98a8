"""An httpx2 transport that hands the SDK's requests to the engine in process (no socket).
A streamed answer is read by the SDK as the engine produces it, event by event."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2

from localspeech.engine import OfflineEngine
from localspeech.http_api import dispatch


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
        headers = {"content-type": content_type}
        if isinstance(payload, bytes):
            return httpx2.Response(status, headers=headers, content=payload, request=request)
        return httpx2.Response(status, headers=headers, stream=_Events(payload), request=request)


class _Events(httpx2.SyncByteStream):
    def __init__(self, events: Iterator[bytes]):
        self._events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from self._events

    def close(self) -> None:  # the client stopped reading: stop voicing the rest
        close = getattr(self._events, "close", None)
        if close is not None:
            close()
