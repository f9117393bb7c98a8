"""The calls that wait for the agent, under the answer that asked for them: a grievance draft
(Confirm, Edit, Discard) and a call about someone other than the customer (run it for them, or
switch the customer). Each settles once; what came of it stays in the conversation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from assistant import actions
from assistant.errors import TurnError
from assistant.history import Conversation
from assistant.models import Action
from page.markup import md_escape
from tools.grievances import Category, category_label, summary_line

STATE_WORDS = {
    "filed": ":material/task_alt: Filed",
    "queued": ":material/schedule_send: Queued for the ticket system",
    "done": ":material/check: Done",
    "failed": ":material/error: Did not work",
    "withdrawn": ":material/block: Set aside",
    "confirmed": ":material/hourglass_top: Running",
}


def render_actions(
    reply_actions: list[Action],
    key: str,
    *,
    conversation: Conversation,
    registry: Callable[[], Any],
    agent: str | None,
) -> None:
    for number, action in enumerate(reply_actions):
        with st.container(border=True, key=f"action-{key}-{number}"):
            if action.kind == "grievance":
                _grievance(action, f"{key}-{number}", conversation, registry, agent)
            else:
                _held(action, f"{key}-{number}", conversation, registry, agent)


def _grievance(action: Action, key: str, conversation, registry, agent) -> None:
    args = action.arguments
    title = "Grievance draft" if action.waiting else "Grievance"
    st.markdown(f"**:material/edit_note: {title} for {md_escape(action.player or '?')}**"
                + ("" if action.waiting else f" · {STATE_WORDS.get(action.state, action.state)}"))
    words = str(args.get("description", ""))
    st.caption(f"Category: {md_escape(category_label(str(args.get('category', ''))))} · "
               f"Summary: {md_escape(summary_line(words))}")  # as the ticket will read  # fmt: skip
    st.markdown(md_escape(str(args.get("description", ""))))  # the customer's words, as written
    if action.duplicate_of:
        st.caption(f":material/info: Open grievance {md_escape(action.duplicate_of)} may already "
                   "cover this.")  # fmt: skip
    if not action.waiting:
        st.caption(md_escape(action.reason))
        return
    if action.state == "failed":
        st.warning(action.reason, icon=":material/error:")
    editing = st.session_state.get(f"editing-{key}", False)
    if editing:
        _edit_form(action, key, conversation, registry, agent)
        return
    with st.container(horizontal=True):
        st.button("Confirm and file", key=f"confirm-{key}", type="primary",
                  icon=":material/send:", on_click=_confirm,
                  args=(action.id, key, conversation, registry, agent))  # fmt: skip
        st.button("Edit", key=f"edit-{key}", icon=":material/edit:",
                  on_click=_set, args=(f"editing-{key}", True))  # fmt: skip
        st.button("Discard", key=f"discard-{key}", type="tertiary", icon=":material/close:",
                  on_click=actions.withdraw, args=(conversation, action.id))  # fmt: skip
    _problem(key)


def _edit_form(action: Action, key: str, conversation, registry, agent) -> None:
    categories = [c.value for c in Category]
    current = str(action.arguments.get("category", "other"))
    with st.form(f"form-{key}", border=False):
        category = st.selectbox("Category", categories, format_func=category_label,
                                index=categories.index(current) if current in categories else 0,
                                key=f"category-{key}")  # fmt: skip
        description = st.text_area("The customer's words", str(action.arguments.get(
            "description", "")), max_chars=2000, key=f"words-{key}")  # fmt: skip
        with st.container(horizontal=True):
            filed = st.form_submit_button("File it", type="primary", icon=":material/send:")
            cancelled = st.form_submit_button("Cancel", type="tertiary")
    if filed:
        edits = {"category": category, "description": description}
        _confirm(action.id, key, conversation, registry, agent, edits)
        st.rerun()
    if cancelled:
        _set(f"editing-{key}", False)
        st.rerun()
    _problem(key)


def _held(action: Action, key: str, conversation, registry, agent) -> None:
    if not action.waiting:
        st.markdown(f"{STATE_WORDS.get(action.state, action.state)}: "
                    f"{md_escape(action.reason)}")  # fmt: skip
        return
    st.markdown(f":material/front_hand: **Not run.** {md_escape(action.reason)}")
    run_label = (
        f"Run it for {action.player}" if action.kind == "other_player" else "Show it anyway"
    )
    with st.container(horizontal=True):
        st.button(run_label, key=f"confirm-{key}", icon=":material/play_arrow:",
                  on_click=_confirm, args=(action.id, key, conversation, registry, agent))  # fmt: skip
        if action.kind == "other_player" and action.player:
            st.button(f"Switch the customer to {action.player}", key=f"switch-{key}",
                      type="tertiary", icon=":material/swap_horiz:",
                      on_click=_set, args=("customer", action.player))  # fmt: skip
    _problem(key)


def _confirm(action_id, key, conversation, registry, agent, edits=None) -> None:
    try:
        actions.confirm(registry(), conversation, action_id, agent=agent, edits=edits)
    except TurnError as exc:
        st.session_state[f"problem-{key}"] = str(exc)
        return
    st.session_state.pop(f"problem-{key}", None)
    st.session_state[f"editing-{key}"] = False


def _problem(key: str) -> None:
    problem = st.session_state.get(f"problem-{key}")
    if problem:
        st.error(problem, icon=":material/error:")


def _set(name: str, value: Any) -> None:
    st.session_state[name] = value
