"""HTTP in front of the engine, shared by the in-process transport and the loopback server.

Routes: POST /v1/chat/completions (JSON), POST /v1/audio/transcriptions (multipart form),
GET /v1/models, GET /v1/offline/status. Every failure is an OpenAI-shaped error body.
"""

from __future__ import annotations

import json
import logging
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from assistant.offline.engine import OfflineEngine
from assistant.offline.protocol import ENGINE_MODELS, OfflineAPIError

log = logging.getLogger(__name__)
JSON = "application/json"


def dispatch(
    engine: OfflineEngine, method: str, path: str, content_type: str, body: bytes
) -> tuple[int, str, bytes]:
    """(status, content type, body) for one HTTP request."""
    route = "/" + path.split("?", 1)[0].strip("/")
    if route.startswith("/v1/"):
        route = route[3:]
    try:
        if route == "/chat/completions":
            _need(method, "POST")
            return _json(200, engine.chat(_json_body(content_type, body)))
        if route == "/audio/transcriptions":
            _need(method, "POST")
            fields, audio = parse_multipart(content_type, body)
            result = engine.transcription(fields, audio)
            if isinstance(result, str):
                return 200, "text/plain; charset=utf-8", result.encode("utf-8")
            return _json(200, result)
        if route == "/models":
            _need(method, "GET")
            return _json(200, {"object": "list", "data": [_model(m) for m in ENGINE_MODELS]})
        if route == "/offline/status":
            _need(method, "GET")
            return _json(200, engine.status())
        raise OfflineAPIError(f"Unknown path {route}.", status=404, code="unknown_url")
    except OfflineAPIError as exc:
        return _json(exc.status, exc.body())
    except Exception:  # never a traceback to the client; the log has it
        log.exception("offline engine failed")
        error = OfflineAPIError(
            "The offline engine failed to answer; see its log.", status=500, type="server_error"
        )
        return _json(500, error.body())


def _need(method: str, wanted: str) -> None:
    if method.upper() != wanted:
        raise OfflineAPIError(f"Use {wanted} for this path.", status=405, code="method_not_allowed")


def _json_body(content_type: str, body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise OfflineAPIError("The request body is not valid JSON.") from exc


def _json(status: int, value: Any) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(value, ensure_ascii=False).encode("utf-8")


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "voicedesk"}


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """The text fields and the `file` bytes of a multipart/form-data upload."""
    if "multipart/form-data" not in (content_type or ""):
        raise OfflineAPIError("Upload the recording as multipart/form-data.", param="file")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    audio: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            audio = payload
        elif name:
            fields[str(name)] = payload.decode("utf-8", "replace")
    if audio is None:
        raise OfflineAPIError("The upload has no file.", param="file")
    return fields, audio
