"""VoiceDesk's page: record or type a question, watch it being worked on, hear and read the
answer. This file only renders and wires; the engine is in assistant/, the page's helpers in
page/. `make run` serves it with the stream socket beside it (serve.py); `streamlit run app.py`
alone also works, and then answers play whole once generated."""

from __future__ import annotations

import logging
from functools import partial

import streamlit as st

st.set_page_config(
    page_title="VoiceDesk",
    page_icon="🎧",  # an emoji: a material icon is fetched from a font server
    layout="centered",
    initial_sidebar_state="auto",  # open on a desktop, closed on a phone (it would cover the page)
)

from assistant.config import ConfigError, Settings  # noqa: E402  (set_page_config comes first)
from page import auth, resources  # noqa: E402
from page.actions import render_actions  # noqa: E402
from page.asking import Turn, answer  # noqa: E402
from page.conversation import (  # noqa: E402
    customer_changes,
    notice_body,
    render_customer_change,
    render_exchange,
    render_failed,
    render_live_answer,
    render_question,
)
from page.intro import intro_place, render_intro  # noqa: E402
from page.keeping import kept_page_state  # noqa: E402
from page.live import render_live  # noqa: E402
from page.player import render_player, start_answer  # noqa: E402
from page.sidebar import render_conversation_controls, render_sidebar  # noqa: E402
from page.state import mic_key  # noqa: E402

log = logging.getLogger("voicedesk.page")


def start() -> Settings:
    """Settings and tools, read once per process; a broken setting is one sentence, then stop."""
    try:
        settings = resources.settings()
        auth.refuse_open_network(settings.voicedesk_allow_unauthenticated_remote)
        resources.tools()
        resources.warm_imports()
    except ConfigError as exc:
        st.error(str(exc), icon=":material/settings:")
        st.stop()
    return settings


def main() -> None:
    agent = auth.require_staff()  # stops with a sign-in screen when sign-in is configured
    settings = start()
    state = kept_page_state()  # survives a reload of the tab
    choices, controls = render_sidebar(settings, agent)
    intro = intro_place(choices.customer)

    def replay(target: str) -> None:
        state.replay = target

    def retry(kind: str) -> None:
        state.retry = kind

    identity = auth.signed_in_identity()
    with st.bottom:  # Live mode: hands-free, the conversation continues in it
        render_live(state, customer=choices.customer, agent=agent, voice=choices.voice,
                    engine=partial(resources.engine, choices.provider, choices.model),
                    engine_key=f"{choices.provider}/{choices.model}", identity=identity)  # fmt: skip
    with st.bottom, st.container(horizontal=True, vertical_alignment="center"):
        recording = st.audio_input(
            "Ask by voice", key=mic_key(state), sample_rate=16000, label_visibility="collapsed",
            help="Press the microphone, ask, then press stop.",
        )  # fmt: skip
        typed = st.chat_input("…or type a question", key="typed")
        # Last in the row, so its "Stop speaking" coming and going moves neither input.
        render_player(identity)  # plays answers as they arrive
    taken = state.take_question(recording, typed)  # before the history: a question stops it

    show_actions = partial(render_actions, conversation=state.conversation,
                           registry=lambda: resources.tools()[1], agent=agent)  # fmt: skip
    exchanges = state.conversation.exchanges
    changes = customer_changes([e.reply.customer for e in exchanges], choices.customer)
    for number, exchange in enumerate(exchanges):
        render_customer_change(changes[number])
        exchange_key = f"{state.conversation_no}-{number}"
        render_exchange(
            exchange, exchange_key, newest=number == len(exchanges) - 1,
            autoplay=exchange_key == state.autoplay, replay=state.replay, on_replay=replay,
            show_actions=show_actions,
        )  # fmt: skip

    render_customer_change(changes[-1])  # a change since the last question
    offline_offered = "offline" in resources.providers() and choices.provider != "offline"
    show_notice = partial(notice_body, offline_offered=offline_offered, on_retry=retry)
    key = f"{state.conversation_no}-{len(exchanges)}"  # of the exchange a question would add

    if taken is not None:
        question, override = taken
        turn = Turn(
            provider=override or choices.provider,
            model=settings.voicedesk_model if override else choices.model,
            voice=None if override else choices.voice,
            customer=choices.customer,
            agent=agent,
        )
        show_words = render_question(question, key)
        stream = start_answer()
        # "Answer offline" answers in the offline provider's own mode (the cascade by default).
        mode = settings.mode_for(override)[0] if override else choices.mode
        reply = render_live_answer(
            lambda sink: answer(state, question, turn, partial(resources.engine, mode=mode), sink),
            key,
            notice=lambda: show_notice(state.notice),
            show_actions=show_actions,
            stream=stream,
            show_heard=show_words,
        )
        if reply is not None:
            show_words(state.conversation.exchanges[-1].user_text)
            # Its whole-answer player autoplays unless the answer already played as it arrived
            # (or was stopped); reruns leave that player as it is.
            state.autoplay = None if stream.played_in_browser() else key
    elif state.notice is not None and state.failed is not None:
        render_question(state.failed, key)
        render_failed(lambda: show_notice(state.notice))

    # Drawn last, so they already include this run's answer.
    render_intro(intro, settings, state)
    render_conversation_controls(controls, state)


try:
    main()
except Exception:  # a bug: the log gets the traceback, the page one sentence
    log.exception("the page failed")
    st.error(
        "Something went wrong on this page; the details are in the log. Reload to go on.",
        icon=":material/error:",
    )
