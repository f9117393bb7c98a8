"""The sockets beside the page (served by serve.py through st.App). The stream socket: the
tab's player presents its one-time token, then receives its session's answer audio as binary
frames and sends "stop" / "played". The live socket (page/live_relay.py): the tab's live
component presents its one-time token, then streams the microphone and hears the live session.
Runs on Streamlit's event loop: every step here is short or awaited.

Refused before the socket opens: a request from another origin, and, when sign-in is
configured, one without the signed-in person's cookie. Refused after: a bad, spent or expired
token, or one issued to someone else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlparse

from page.live_relay import LiveDesk, tab_message
from page.stream import END, Channel, StreamHub

log = logging.getLogger(__name__)

STREAM_PATH = "voicedesk/stream"
LIVE_PATH = "voicedesk/live"
HELLO_TIMEOUT_S = 10.0  # a socket that does not present its token within this time is closed
POLICY_VIOLATION = 1008  # WebSocket close code


def stream_path(base_url: str | None, name: str = STREAM_PATH) -> str:
    """The socket's path under Streamlit's server.baseUrlPath ("" or "desk" -> /desk/...)."""
    parts = [part for part in (base_url or "").strip("/").split("/") if part]
    return "/" + "/".join([*parts, name])


def live_path(base_url: str | None) -> str:
    return stream_path(base_url, LIVE_PATH)


def same_origin(origin: str | None, host: str | None) -> bool:
    """Only the page's own origin may open the stream (browsers always send Origin)."""
    if not origin or not host:
        return False
    return urlparse(origin).netloc.lower() == host.lower()


def signed_in_identity(cookies: dict[str, str], origin: str) -> str | None:
    """Who Streamlit's sign-in cookie says this is, or None (no cookie, bad signature, or a
    cookie issued for another origin)."""
    from streamlit.auth_util import get_cookie_with_chunks
    from streamlit.web.server.server_util import AUTH_COOKIE_NAME, get_cookie_secret
    from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value

    from page.auth import identity

    secret = get_cookie_secret()

    def one(name: str) -> bytes | None:
        raw = cookies.get(name)
        return None if raw is None else decode_signed_value(secret, name, raw.encode("latin-1"))

    try:
        decoded = get_cookie_with_chunks(one, AUTH_COOKIE_NAME)
        user = json.loads(decoded) if decoded else None
    except Exception:  # a damaged cookie is no sign-in
        log.warning("stream socket: unreadable sign-in cookie")
        return None
    if not isinstance(user, dict) or not user.get("is_logged_in"):
        return None
    parsed = urlparse(origin)
    if user.get("origin") != f"{parsed.scheme}://{parsed.netloc}":
        return None
    return identity(user)


@cache
def sign_in_configured() -> bool:
    """Read once, as the page does (restart after editing [auth])."""
    import streamlit as st

    from page.auth import auth_section

    return auth_section(st.secrets) is not None


def routes(
    hub: StreamHub,
    base_url: str | None,
    sign_in: Callable[[], bool] = sign_in_configured,
    live: LiveDesk | None = None,
) -> list[Any]:
    """The stream route (and the live route, given a LiveDesk) for st.App(routes=...); marks
    the hub (and the desk) as served."""
    from starlette.routing import WebSocketRoute

    hub.served = True
    served = [WebSocketRoute(stream_path(base_url), _endpoint(hub, sign_in))]
    if live is not None:
        live.served = True
        served.append(WebSocketRoute(live_path(base_url), _live_endpoint(live, sign_in)))
    return served


REFUSED = object()  # what `_admit` returns for a socket it closed


async def _admit(websocket, sign_in: Callable[[], bool]) -> Any:
    """The signed-in person (None without sign-in) of a socket from the page's own origin, or
    REFUSED after closing it (before accept: a 403)."""
    origin = websocket.headers.get("origin")
    if not same_origin(origin, websocket.headers.get("host")):
        await websocket.close(code=POLICY_VIOLATION)
        return REFUSED
    if not sign_in():
        return None
    identity = signed_in_identity(dict(websocket.cookies), origin)
    if identity is None:
        await websocket.close(code=POLICY_VIOLATION)
        return REFUSED
    return identity


def _live_endpoint(desk: LiveDesk, sign_in: Callable[[], bool]) -> Callable:
    async def endpoint(websocket) -> None:
        identity = await _admit(websocket, sign_in)
        if identity is REFUSED:
            return
        await websocket.accept()
        hello = await _hello_message(websocket)
        ticket = desk.redeem(hello.get("token"), identity) if hello else None
        if ticket is None:
            await websocket.close(code=POLICY_VIOLATION)
            return
        try:
            await desk.serve(websocket, ticket)
        except Exception:  # the relay already closed the session; the log says why
            log.warning("live socket ended with an error", exc_info=True)

    return endpoint


def _endpoint(hub: StreamHub, sign_in: Callable[[], bool]) -> Callable:
    async def endpoint(websocket) -> None:
        identity = await _admit(websocket, sign_in)
        if identity is REFUSED:
            return
        await websocket.accept()
        channel = await _hello(websocket, hub, identity)
        if channel is None:
            await websocket.close(code=POLICY_VIOLATION)
            return
        writer = asyncio.create_task(_write(websocket, channel))
        try:
            await websocket.send_json({"type": "ready"})
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                hub.heard_from(channel, tab_message(message.get("text")))
        except Exception:  # the tab went away mid-send
            log.debug("stream socket closed", exc_info=True)
        finally:
            hub.detach(channel)
            writer.cancel()

    return endpoint


async def _hello_message(websocket) -> dict | None:
    """The socket's first message, {"type": "hello", "token": ...}, or None."""
    try:
        message = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_S)
    except asyncio.TimeoutError:
        return None
    hello = tab_message(message.get("text"))
    if not isinstance(hello, dict) or hello.get("type") != "hello":
        return None
    return hello


async def _hello(websocket, hub: StreamHub, identity: str | None) -> Channel | None:
    hello = await _hello_message(websocket)
    if hello is None:
        return None
    return hub.redeem(hello.get("token"), identity, asyncio.get_running_loop())


async def _write(websocket, channel: Channel) -> None:
    """Send what the script thread queued, in order: audio as binary, the rest as JSON."""
    try:
        while True:
            item = await channel.queue.get()
            if item is END:
                await websocket.close()
                return
            if isinstance(item, bytes):
                await websocket.send_bytes(item)
            else:
                await websocket.send_json(item)
    except asyncio.CancelledError:
        raise
    except Exception:  # the tab went away
        channel.closed.set()

