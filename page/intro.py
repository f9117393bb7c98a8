"""The top of the page: what VoiceDesk does, and, while no model is configured, how to connect
one and the company's own systems."""

from __future__ import annotations

from typing import Any

import streamlit as st

from assistant import providers
from assistant.config import Settings
from page.markup import md_escape
from page.state import PageState

EXAMPLES = (
    "How many games have I played?",
    "How do I withdraw my winnings?",
    "Do I have any open grievances?",
)
CONNECT_NOTE = (
    "**Running on this machine with demo data.** "
    "To answer with OpenAI set `OPENAI_API_KEY`; for Azure OpenAI set `AZURE_OPENAI_ENDPOINT` and "
    "`AZURE_OPENAI_DEPLOYMENT`. To use the company's systems set `SQL_CONNECTION_STRING` (player "
    "statistics), `AZURE_SEARCH_ENDPOINT` (help centre) and `JIRA_SERVER` (grievances). Every "
    "setting is described in `.streamlit/secrets.toml.example`."
)


def intro_place(customer: str | None) -> Any:
    """The top of the page, with the customer being helped (a phone hides the sidebar). Always
    one line and one container, empty or not, so what follows keeps its place and the browser
    never rebuilds (and replays) the answers below. Filled by `render_intro` at the end of the
    run, when it is known whether this run answered the first question."""
    st.markdown("### Ask VoiceDesk")
    st.caption(customer_line(customer))
    return st.container(key="intro")


def customer_line(customer: str | None) -> str:
    if customer:
        return f":material/person: Helping **{md_escape(customer)}** · change it in the side menu"
    return ":material/person_off: No customer chosen: pick one in the side menu, or name the player"


def render_intro(place: Any, settings: Settings, state: PageState) -> None:
    with place:
        if state.conversation.exchanges:
            return
        st.caption(
            "Record a question with the microphone below, or type it. The answer is spoken and "
            'written, with what was looked up to give it. Questions about "my" games or '
            "grievances are about the customer named above."
        )
        with st.container(horizontal=True):
            for number, example in enumerate(EXAMPLES):
                st.button(
                    example, key=f"example-{number}", icon=":material/chat_bubble:",
                    on_click=_suggest, args=(state, example),
                )  # fmt: skip
        if not providers.get(settings.provider).cloud:  # no account: say how to add one
            with st.expander("Connect your systems", icon=":material/cable:", expanded=False):
                st.info(CONNECT_NOTE, icon=":material/info:")


def _suggest(state: PageState, question: str) -> None:
    state.suggested = question
