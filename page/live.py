"""Live mode on the page: the "Start live" / "End live" component (live.js), which streams the
microphone over the live socket and plays answers through the answer player, showing the
session's state and both sides' words as they arrive. The page only hands it a token and keeps
this session's ticket up to date (page/live_relay.py); a finished answer, which the session
adds to the conversation, makes the component ask for a rerun, so it is drawn like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from assistant.live.base import LIVE_SAMPLE_RATE
from page.live_relay import LIVE, TOKEN_TTL_S, LiveDesk, LiveTicket
from page.player import session_id
from page.state import PageState
from page.stream import HUB, StreamHub
from page.stream_route import live_path

# The local barge-in gate (live.js): frames of 20 ms; speech is a level (RMS, full scale 1.0)
# above both `min` and `ratio` times the room's noise floor, for `frames` frames in a row while
# an answer plays. The answer pauses at once and resumes after `holdMs` unless the server
# confirms the interruption. Echo cancellation keeps the answer itself below it.
GATE = {"on": True, "min": 0.02, "ratio": 4, "frames": 2, "holdMs": 900}
CSS = """
.live { display: flex; flex-direction: column; gap: 0.35rem; font-size: 0.875rem;
        color: var(--st-text-color); }
.bar { display: flex; align-items: center; gap: 0.6rem; flex-wrap: wrap; }
button.go {
  font: inherit; white-space: nowrap; cursor: pointer; padding: 0.35rem 0.8rem;
  border-radius: 0.5rem; border: 1px solid var(--st-primary-color);
  color: #fff; background: var(--st-primary-color);
}
button.go.end {
  color: var(--st-primary-color); background: var(--st-secondary-background-color);
}
button.go:focus-visible { outline: 2px solid var(--st-primary-color); outline-offset: 2px; }
.state { display: inline-flex; align-items: center; gap: 0.4rem; opacity: 0.85; min-width: 0; }
.dot { width: 0.6rem; height: 0.6rem; border-radius: 50%; flex: none;
       background: rgba(128, 128, 128, 0.6); }
.state[data-state="listening"] .dot { background: #21c354; }
.state[data-state="hearing"] .dot { background: #21c354; animation: pulse 0.8s infinite; }
.state[data-state="looking_up"] .dot { background: #ffbd45; animation: pulse 1.2s infinite; }
.state[data-state="speaking"] .dot { background: var(--st-primary-color);
                                      animation: pulse 0.6s infinite; }
.state[data-state="connecting"] .dot { background: #ffbd45; }
.state[data-state="interrupted"] .dot { background: #ff8c42; }
.state[data-state="error"] .dot { background: #ff4b4b; }
@keyframes pulse { 50% { transform: scale(1.5); opacity: 0.6; } }
.lines { display: flex; flex-direction: column; gap: 0.15rem; max-height: 5.2rem;
         overflow-y: auto; }
.lines[hidden], .lines p[hidden], .sentence[hidden] { display: none; }
.lines p, .sentence { margin: 0; line-height: 1.35; overflow-wrap: anywhere; }
.who { font-weight: 600; }
.sentence { color: #ff4b4b; }
"""
_component = st.components.v2.component(
    "voicedesk_live", css=CSS, js=(Path(__file__).with_name("live.js")).read_text()
)


def _rerun() -> None:
    """The component's triggers ("answered", "ended", "token") only need the rerun itself."""


def render_live(
    state: PageState,
    *,
    customer: str | None,
    agent: str | None,
    voice: str | None,
    engine: Callable[[], Any],
    engine_key: str,
    identity: str | None,
    desk: LiveDesk = LIVE,
    hub: StreamHub = HUB,
) -> None:
    """The Live button and its state; nothing where the server does not serve the sockets
    (`streamlit run app.py`): there is no live mode without them."""
    session = session_id()
    if session is None or not (hub.served and desk.served):
        return
    ticket = LiveTicket(
        session_id=session, identity=identity, conversation=state.conversation,
        customer=customer, agent=agent, voice=voice, engine=engine,
    )  # fmt: skip
    data = {
        # What the session was opened with: when it changes (another customer, voice or model,
        # a new conversation), the tab ends its live session rather than go on with the old.
        "opened_with": f"{state.conversation_no}|{customer}|{voice}|{engine_key}",
        "token": desk.offer(ticket),
        "path": live_path(st.get_option("server.baseUrlPath")),
        "ttl": TOKEN_TTL_S,
        "rate": LIVE_SAMPLE_RATE,
        "gate": GATE,
    }
    _component(
        key="live", data=data, width="stretch", on_answered_change=_rerun,
        on_ended_change=_rerun, on_token_change=_rerun,
    )  # fmt: skip
