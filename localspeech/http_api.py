"""HTTP in front of the engine, shared by the in-process transport and the loopback server.

Routes: POST /v1/chat/completions (JSON), POST /v1/audio/transcriptions (multipart form),
POST /v1/audio/speech (JSON; PCM streamed as it is voiced, or a WAV), GET /v1/models,
GET /v1/offline/status. Every failure is an OpenAI-shaped error body; a streamed
answer (`stream=true`) is server-sent events, its body an iterator of byte strings, and a
failure after its first event ends it with an error event. The checks
here (media type, body size and shape, field types) hold on both paths; the socket's own (host,
key, origin, slow or malformed requests) are in `server.py`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from localspeech.checks import load_json
from localspeech.engine import MAX_AUDIO_BYTES, OfflineEngine
from localspeech.protocol import ENGINE_MODELS, OfflineAPIError
from localspeech.speech import speak

log = logging.getLogger(__name__)
JSON = "application/json"
FORM = "multipart/form-data"
EVENTS = "text/event-stream"
Body = bytes | Iterator[bytes]
MB = 1024 * 1024
MAX_JSON_BODY = 36 * MB  # a 25 MB recording in base64 (33.3 MB), plus the messages
MAX_FORM_BODY = MAX_AUDIO_BYTES + 1 * MB
MAX_OTHER_BODY = 64 * 1024  # GET paths read no body; an unknown path still gets its 404
MAX_FORM_PARTS = 16  # file, model, language, prompt, response_format, temperature, ...


def body_limit(path: str) -> int:
    """The largest body a path accepts, known before a byte of it is read."""
    limits = {"/chat/completions": MAX_JSON_BODY, "/audio/transcriptions": MAX_FORM_BODY}
    return limits.get(_route(path), MAX_OTHER_BODY)


def _route(path: str) -> str:
    route = "/" + path.split("?", 1)[0].strip("/")
    return route[3:] if route.startswith("/v1/") else route


def dispatch(
    engine: OfflineEngine, method: str, path: str, content_type: str, body: bytes
) -> tuple[int, str, Body]:
    """(status, content type, body) for one HTTP request; the body of a streamed answer is an
    iterator of server-sent events."""
    route = _route(path)
    try:
        if len(body) > body_limit(path):
            raise too_large(body_limit(path))
        if route == "/chat/completions":
            _need(method, "POST")
            _need_type(content_type, JSON)
            answer = engine.chat(load_json(body))
            if isinstance(answer, dict):
                return _json(200, answer)
            return 200, EVENTS, events(answer)
        if route == "/audio/transcriptions":
            _need(method, "POST")
            _need_type(content_type, FORM)
            fields, audio = parse_multipart(content_type, body)
            result = engine.transcription(fields, audio)
            if isinstance(result, str):
                return 200, "text/plain; charset=utf-8", result.encode("utf-8")
            return _json(200, result)
        if route == "/audio/speech":
            _need(method, "POST")
            _need_type(content_type, JSON)
            kind, spoken = speak(engine.tts, load_json(body))
            return 200, kind, spoken
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


def events(chunks: Iterable[Any]) -> Iterator[bytes]:
    """Each chunk as a server-sent event, then `[DONE]`; a failure midway (the status is sent)
    as an error event in OpenAI's shape."""
    try:
        for chunk in chunks:
            yield b"data: " + json.dumps(chunk, ensure_ascii=False).encode("utf-8") + b"\n\n"
    except OfflineAPIError as exc:
        yield b"data: " + json.dumps(exc.body()).encode("utf-8") + b"\n\n"
        return
    except Exception:
        log.exception("offline engine failed while streaming")
        error = OfflineAPIError(
            "The offline engine failed to finish the answer; see its log.",
            status=500, type="server_error",
        )  # fmt: skip
        yield b"data: " + json.dumps(error.body()).encode("utf-8") + b"\n\n"
        return
    yield b"data: [DONE]\n\n"


def _need(method: str, wanted: str) -> None:
    if method.upper() != wanted:
        raise OfflineAPIError(f"Use {wanted} for this path.", status=405, code="method_not_allowed")


def too_large(limit: int) -> OfflineAPIError:
    size = f"{limit // MB} MB" if limit >= MB else f"{limit // 1024} KB"
    return OfflineAPIError(
        f"The request body is larger than {size}.", status=413, code="request_too_large"
    )


def media_type(content_type: str) -> str:
    """'Application/JSON; charset=utf-8' -> 'application/json'."""
    return content_type.split(";", 1)[0].strip().lower()


def _need_type(content_type: str, wanted: str) -> None:
    # A web page may post text/plain to loopback without asking first (a "simple request");
    # it cannot send application/json that way.
    if media_type(content_type) != wanted:
        raise OfflineAPIError(
            f"Send this request as {wanted}.", status=415, code="unsupported_media_type"
        )


def _json(status: int, value: Any) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(value, ensure_ascii=False).encode("utf-8")


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "voicedesk"}


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """The text fields and the `file` bytes of a multipart/form-data upload."""
    if media_type(content_type or "") != FORM:
        raise OfflineAPIError("Upload the recording as multipart/form-data.", param="file")
    header = Message(policy=HTTP)
    header["content-type"] = content_type
    boundary = header.get_boundary()
    # Each part becomes an email message object: count them before the parser builds them.
    if not boundary or body.count(b"--" + boundary.encode("latin-1")) > MAX_FORM_PARTS + 1:
        raise OfflineAPIError(
            f"The upload needs a boundary and at most {MAX_FORM_PARTS} parts.", param="file"
        )
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
