"""Sign-in for staff, only when `.streamlit/secrets.toml` has an [auth] section (OpenID Connect,
e.g. Microsoft Entra ID). Without it the page is open and no agent name is attached, so it is
served only on a loopback address unless the operator explicitly allows otherwise."""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

NO_AUTHLIB = "Sign-in is configured but needs the Authlib package: pip install Authlib."
SIGN_IN_FAILED = "Sign-in could not start; check the [auth] section of secrets.toml (see the log)."
OPEN_NETWORK = (
    "VoiceDesk is not served on {address} without sign-in: configure [auth] in secrets.toml, "
    "listen on 127.0.0.1 (server.address), or set VOICEDESK_ALLOW_UNAUTHENTICATED_REMOTE=true."
)
log = logging.getLogger(__name__)


def auth_section(secrets: Any) -> Mapping[str, Any] | None:
    """The [auth] section, or None when sign-in is not configured (or there is no secrets file)."""
    try:
        section = secrets.get("auth") if hasattr(secrets, "get") else None
    except Exception:  # no secrets.toml at all, or one that does not parse
        return None
    return section if isinstance(section, Mapping) else None


def provider_names(section: Mapping[str, Any]) -> list[str | None]:
    """Named providers ([auth.microsoft], ...) or [None] for the unnamed one in [auth] itself."""
    named = [name for name, value in section.items() if isinstance(value, Mapping)]
    return named or [None]


def agent_name(user: Mapping[str, Any]) -> str | None:
    """The signed-in person's name as grievances should carry it."""
    for claim in ("name", "preferred_username", "email"):
        value = user.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def identity(user: Mapping[str, Any]) -> str | None:
    """Who the signed-in person is, as both the page and the stream socket read it (their
    sign-in cookie): the provider's stable subject id, else their address or name."""
    for claim in ("sub", "email", "preferred_username", "name"):
        value = user.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def signed_in_identity() -> str | None:
    """This session's person when sign-in is configured (and passed), else None."""
    if configured_providers() is None:
        return None
    return identity(st.user)


@st.cache_resource(show_spinner=False)
def configured_providers() -> list[str | None] | None:
    """Read once per process (Streamlit re-reads a missing secrets.toml on every access): the
    sign-in providers, or None when sign-in is not configured. Restart after editing [auth]."""
    section = auth_section(st.secrets)
    return None if section is None else provider_names(section)


def require_staff() -> str | None:
    """With sign-in configured: the signed-in agent's name, or the sign-in screen and stop.
    Without it: None (the page is open)."""
    names = configured_providers()
    if names is None:
        return None
    if st.user.get("is_logged_in"):
        return agent_name(st.user) or "signed-in agent"
    _sign_in_screen(names)
    st.stop()
    return None  # not reached


def _sign_in_screen(names: list[str | None]) -> None:
    st.title("VoiceDesk")
    st.write("VoiceDesk is for support staff. Please sign in with your work account.")
    if importlib.util.find_spec("authlib") is None:
        st.error(NO_AUTHLIB, icon=":material/error:")
        return
    for name in names:
        label = f"Sign in with {name.capitalize()}" if name else "Sign in"
        if st.button(label, type="primary", icon=":material/login:", key=f"login-{name}"):
            try:
                st.login(name)
            except StreamlitAPIException:  # e.g. an [auth] section with a key missing
                log.exception("sign-in could not start")
                st.error(SIGN_IN_FAILED, icon=":material/error:")


def is_loopback(address: str | None) -> bool:
    """Whether Streamlit's server.address reaches this machine only. Empty means every
    interface; a host name other than localhost may resolve to anything."""
    host = (address or "").strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_open_network(allow_unauthenticated: bool) -> None:
    """Stop with one sentence when the page listens beyond this machine with nobody signing in
    (anyone who can reach it could read players' data and file grievances)."""
    address = st.get_option("server.address")
    if is_loopback(address) or allow_unauthenticated or configured_providers() is not None:
        return
    shown = address or "every network interface"
    _log_refusal(shown)
    st.error(OPEN_NETWORK.format(address=shown), icon=":material/lock:")
    st.stop()


@st.cache_resource(show_spinner=False)
def _log_refusal(address: str) -> None:
    """Once per process, not on every page view."""
    log.warning(
        "refusing to serve on %s: no sign-in configured and "
        "VOICEDESK_ALLOW_UNAUTHENTICATED_REMOTE is not set", address,
    )  # fmt: skip
