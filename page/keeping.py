"""The page's state for this tab, kept across a reload (page/shelf.py): the Streamlit side."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from page import auth, resources
from page.state import STATE_KEY, PageState

KEY_PARAM = "c"  # the address's query parameter that names the kept conversation


def kept_page_state() -> PageState:
    """This tab's state: its own on a rerun; after a reload, the conversation the tab had."""
    key = st.query_params.get(KEY_PARAM)
    state = st.session_state.get(STATE_KEY)
    if isinstance(state, PageState):
        if key:
            resources.shelf().touch(key)
        return state
    ctx = get_script_run_ctx()
    owner = ctx.session_id if ctx is not None else "no-session"
    identity = auth.signed_in_identity()
    shelf = resources.shelf()
    state = shelf.take(key, identity=identity, owner=owner, alive=_open)
    if state is None:
        state = PageState()
        st.query_params[KEY_PARAM] = shelf.keep(state, identity=identity, owner=owner)
    st.session_state[STATE_KEY] = state
    return state


def _open(session_id: str) -> bool:
    """Whether that Streamlit session still has its tab connected."""
    return Runtime.exists() and Runtime.instance().is_active_session(session_id)
