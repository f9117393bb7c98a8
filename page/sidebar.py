"""The sidebar: who is signed in, the customer being helped, the model and voice for this
session, the health of each support system, and the conversation's controls."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import streamlit as st

from assistant.config import Settings
from assistant.doctor import Row
from assistant.providers import PROVIDERS
from page import resources
from page.markup import md_escape
from page.offline import render_offline_models
from page.state import PageState
from page.transcript import transcript_markdown

NOBODY = "No one in particular"
MODE_CHOSEN = "mode_chosen"  # the agent chose this tab's mode: it no longer follows the provider
MODES = {"audio_chat": "Audio model", "cascade": "Cascade"}  # VOICEDESK_MODE -> the sidebar's word


@dataclass(frozen=True)
class Choices:
    provider: str
    model: str
    voice: str | None  # None: the engine's default (the offline engine has its own voice)
    customer: str | None
    mode: str = "audio_chat"  # the voice mode for this tab (by default Settings.mode_for)


def render_sidebar(settings: Settings, agent: str | None) -> tuple[Choices, Any]:
    """The session's choices, and a place for the conversation's controls, which are drawn
    last (`render_conversation_controls`) so they include the answer of this very run."""
    with st.sidebar:
        st.markdown("## :material/headset_mic: VoiceDesk")
        if agent:
            _signed_in(agent)
        customer = _customer(settings)
        provider, model, voice = _model_and_voice(settings)
        mode = _mode(settings, provider)
        controls = st.container()
        _health()
    return Choices(provider, model, voice, customer, mode), controls


def _mode(settings: Settings, provider: str) -> str:
    """Answer with the audio model, or hear, think and speak with the cascade's parts. Until
    the agent chooses, the mode follows the provider chosen above (the cascade offline)."""
    default = settings.mode_for(provider)[0]
    if not st.session_state.get(MODE_CHOSEN):
        st.session_state["mode"] = default  # before the control is drawn, so it shows it
    mode = st.segmented_control(
        "Voice mode", list(MODES), key="mode", format_func=MODES.__getitem__,
        on_change=_mode_chosen,
        help="Audio model: one model hears and speaks. Cascade: speech-to-text, a text model "
        "and text-to-speech, sentence by sentence (see `python -m assistant config`).",
    )  # fmt: skip
    return mode or default  # a click on the chosen one unselects it


def _mode_chosen() -> None:
    st.session_state[MODE_CHOSEN] = True


def _signed_in(agent: str) -> None:
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(f"Signed in as **{md_escape(agent)}**")
        st.button("Sign out", key="logout", type="tertiary", on_click=st.logout)


def _customer(settings: Settings) -> str | None:
    names_feed = resources.player_names()
    names = names_feed.get(wait=resources.FIRST_VIEW_WAIT_S) or []
    st.session_state.setdefault("customer", first_customer(settings, resources.tools()[0]))
    current = st.session_state["customer"]
    options: list[str | None] = [None, *names]
    if current not in options:
        options.append(current)
    customer = st.selectbox(
        "Customer being helped", options, key="customer",
        format_func=lambda name: NOBODY if name is None else name,
        help="The player the questions are about; the assistant is told who it is.",
    )  # fmt: skip
    if names_feed.error and not names:
        st.caption(":material/warning: The player list is not available right now.")
    return customer


def first_customer(settings: Settings, backends: Any) -> str | None:
    """Who a new session helps: VOICEDESK_CUSTOMER; else, on the demo data only, its first
    persona, so the example questions answer on the first click. Real player data gets no
    guess: helping the wrong customer is worse than asking which one."""
    if settings.voicedesk_customer or backends.stats.kind != "embedded":
        return settings.voicedesk_customer
    from ops.demo_data import PERSONAS  # only for the demo data

    return PERSONAS[0].user_name


def _model_and_voice(settings: Settings) -> tuple[str, str, str | None]:
    providers = resources.providers()
    st.session_state.setdefault("provider", providers[0])
    provider = st.selectbox(
        "Answered by", providers, key="provider",
        format_func=lambda name: PROVIDERS[name].label,
    )  # fmt: skip
    chosen = PROVIDERS[provider]
    models = resources.models_for(provider)
    if st.session_state.get("model") not in models:
        st.session_state["model"] = models[0]
    caption = chosen.model_caption(settings)
    if caption is None:
        model = st.selectbox("Model", models, key="model")
    else:
        model = models[0]
        st.caption(f"Model: **{md_escape(caption)}**")
    if not chosen.cloud:
        render_offline_models(resources.offline_engine(model))
    if not chosen.chooses_voice:
        return provider, model, None
    voices = list(chosen.voices(model))
    if st.session_state.get("voice") not in voices:
        st.session_state["voice"] = (
            settings.voicedesk_voice if settings.voicedesk_voice in voices else voices[0]
        )
    voice = st.selectbox("Voice", voices, key="voice", format_func=str.capitalize)
    return provider, model, voice


def render_conversation_controls(place: Any, state: PageState) -> None:
    conversation = state.conversation
    with place:
        if state.confirming_new:
            _confirm_new_conversation(state)
    with place, st.container(horizontal=True):
        st.button(
            "New conversation", key="new-conversation", icon=":material/add_comment:",
            on_click=state.ask_new_conversation, disabled=state.confirming_new,
        )  # fmt: skip
        st.download_button(
            "Transcript", data=partial(transcript_markdown, conversation), key="download-transcript",
            file_name=f"voicedesk-{time.strftime('%Y%m%d-%H%M')}.md", mime="text/markdown",
            icon=":material/download:", on_click="ignore", disabled=not conversation.exchanges,
            help="Download the conversation as Markdown",
        )  # fmt: skip


def _confirm_new_conversation(state: PageState) -> None:
    count = len(state.conversation.exchanges)
    st.warning(
        f"Start over? The {count} question{'s' if count != 1 else ''} and answers so far will be "
        "cleared; download the transcript first to keep them.",
        icon=":material/delete_history:",
    )
    with st.container(horizontal=True):
        st.button("Yes, start over", key="new-conversation-yes", type="primary",
                  on_click=state.new_conversation)  # fmt: skip
        st.button("Keep it", key="new-conversation-no", on_click=state.keep_conversation)


def _health() -> None:
    st.markdown("**Support systems**")
    feed = resources.health()
    rows = feed.get(wait=resources.FIRST_VIEW_WAIT_S)
    if rows is None:
        waiting = "Checking…" if feed.refreshing else f"Could not check: {feed.error}"
        st.caption(md_escape(waiting))
        return
    for row in rows:
        st.markdown(health_line(row), help=md_escape(health_details(row)))
        for extra in (row.fix if not row.ok else None, row.note):
            if extra:
                st.caption(md_escape(extra))
    st.button(
        "Check again", key="health-refresh", type="tertiary", icon=":material/refresh:",
        on_click=feed.refresh, kwargs={"wait": resources.FIRST_VIEW_WAIT_S},
        disabled=feed.refreshing,
    )  # fmt: skip


def health_line(row: Row) -> str:
    """One backend on one line: ':green[...] **Help centre** :gray[connected]'."""
    if not row.ok:
        icon, state = ":red[:material/cancel:]", ":red[down]"
    elif row.kind == "cloud":
        icon, state = ":green[:material/cloud_done:]", ":gray[connected]"
    else:
        icon, state = ":blue[:material/database:]", ":gray[demo data]"
    return f"{icon} **{md_escape(row.tool)}** {state}"


def health_details(row: Row) -> str:
    """The tooltip: which backend, where (never a secret) and how fast it answered."""
    took = f"answered in {row.latency:.0f} ms" if row.latency is not None else "no answer in time"
    return f"{row.backend}, at {row.where}: {took}."
