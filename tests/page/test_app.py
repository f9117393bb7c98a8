"""The page under AppTest, answering with the Chat Completions double."""

from __future__ import annotations

import importlib.util
import sqlite3

import pytest

from page.auth import NO_AUTHLIB
from page.transcript import transcript_markdown
from tests.page.helpers import (
    ask_by_voice,
    audios,
    button,
    input_audio_of,
    messages,
    plain,
    question_wav,
    silent_wav,
    texts,
)

pytestmark = pytest.mark.timeout(120)

PLAYER = ("get_player_summary", {"user_name": "maria"})
SEARCH = ("search_help_center", {"query": "how do I withdraw"})
ANSWER = "Maria played 75 games. To withdraw, open the wallet."


def open_trace(at, index: int = 0):
    """Open the "Behind the answer" panel of the index-th reply (it renders only when open)."""
    at.session_state[f"trace-{at.session_state['voicedesk'].conversation_no}-{index}"] = True
    return at.run()


def test_first_open_shows_the_microphone_and_no_traceback(cloud_env, make_app):
    at = make_app().run()
    assert not at.exception
    assert at.audio_input(key="mic").sample_rate == 16000
    assert at.chat_input(key="typed")
    assert "maria" in at.selectbox(key="customer").options
    assert not messages(at, "user")


def test_first_open_on_demo_data_helps_the_first_persona_so_an_example_answers(
    cloud_env, make_app
):
    double = cloud_env
    double.reply_tool_calls([PLAYER]).reply_audio("Maria played 74 games.")
    at = make_app().run()

    assert at.selectbox(key="customer").value == "maria"
    assert "Helping **maria**" in " ".join(plain(c.value) for c in at.main.caption)

    button(at, "How many games have I played?").click().run()

    assert not at.exception
    (assistant,) = messages(at, "assistant")
    assert "Maria played 74 games." in texts(assistant)
    first = double.chat_requests[0].json
    assert {"role": "system", "content": "Customer being helped: maria"} in first["messages"]


def test_a_configured_customer_wins_over_the_demo_persona(cloud_env, make_app, monkeypatch):
    monkeypatch.setenv("VOICEDESK_CUSTOMER", "dev")
    at = make_app().run()
    assert at.selectbox(key="customer").value == "dev"
    assert "Helping **dev**" in " ".join(plain(c.value) for c in at.main.caption)


def test_a_change_of_customer_shows_in_the_conversation_where_it_happened(cloud_env, make_app):
    double = cloud_env
    double.reply_audio("First answer.").reply_audio("Second answer.")
    at = make_app().run()
    at.chat_input(key="typed").set_value("My games?").run()
    assert not _changes(at), "no line before the first question: the top names the customer"

    at.selectbox(key="customer").set_value("dev").run()
    assert _changes(at) == ["Now helping dev"], "shown at once, under the last answer"

    at.chat_input(key="typed").set_value("And now?").run()
    at.run()
    assert _changes(at) == ["Now helping dev"], "and stays between the two exchanges"
    told = [m["content"] for m in double.chat_requests[-1].json["messages"] if m["role"] == "system"]
    assert "Customer being helped: dev" in told


def _changes(at) -> list[str]:
    return [plain(c.value).replace(":material/swap_horiz: ", "").replace("**", "")
            for c in at.main.caption if "Now helping" in c.value]  # fmt: skip


def test_spoken_question_gets_transcript_audio_and_a_trace_of_the_tools(transcribing, make_app):
    double = transcribing
    double.reply_tool_calls([PLAYER, SEARCH]).reply_audio(ANSWER)
    double.transcribe_as("How many games did I play, and how do I withdraw?")
    at = make_app().run()
    at.selectbox(key="customer").set_value("maria").run()
    wav = question_wav()

    ask_by_voice(at, wav)

    assert not at.exception
    assert not at.error
    (user,), (assistant,) = messages(at, "user"), messages(at, "assistant")
    assert texts(user) == ["How many games did I play, and how do I withdraw?"]
    assert len(audios(user)) == 1, "the agent's own recording can be replayed"
    assert ANSWER in texts(assistant)
    (reply_audio,) = audios(assistant)
    assert reply_audio.proto.autoplay, "the newest answer plays by itself"
    (status,) = assistant.status
    assert status.label.startswith("Answered in") and "2 tools" in status.label
    stages = status.markdown[0].value
    for label in ("Checking the recording", "Understanding the question",
                  "Looking up maria's games", "Searching the help centre",
                  "Composing the spoken answer"):  # fmt: skip
        assert label in stages
    first = double.chat_requests[0].json
    assert input_audio_of(double.chat_requests[0]) is not None
    assert {"role": "system", "content": "Customer being helped: maria"} in first["messages"]

    at = open_trace(at)
    (assistant,) = messages(at, "assistant")
    (panel,) = [e for e in assistant.expander if e.label == "Behind the answer"]
    (games,) = panel.dataframe
    assert {"Game", "Played", "Points", "Cash won"} <= set(games.value.columns)
    assert panel.get("arrow_vega_lite_chart") or panel.get("vega_lite_chart"), "points chart"
    citations = [t for t in texts(panel) if t.startswith("**[1]")]
    assert citations and "`" in citations[0], "passages are cited with their source file"
    captions = " ".join(c.value for c in panel.caption)
    assert 'get_player_summary(user_name="maria")' in captions
    assert "audio" in captions and "estimated cost $" in captions


def test_a_rerun_neither_asks_again_nor_touches_the_playing_answer(cloud_env, make_app):
    """The browser keeps an element sent again unchanged: the answer neither restarts nor stops
    (tests/page/test_browser.py checks the player itself). A newer answer takes over autoplay."""
    double = cloud_env
    double.reply_audio("Hello from the double.").reply_audio("A second answer.")
    at = ask_by_voice(make_app().run(), question_wav())
    (played,) = audios(messages(at, "assistant")[0])
    asked = len(double.chat_requests)

    at.run()

    assert len(double.chat_requests) == asked
    (assistant,) = messages(at, "assistant")
    (again,) = audios(assistant)
    assert again.proto == played.proto and again.proto.autoplay

    at.chat_input(key="typed").set_value("And another thing?").run()
    (stopped,) = audios(messages(at, "assistant")[0])
    assert not stopped.proto.autoplay, "a new question stops the answer before it"
    at.run()
    first, second = messages(at, "assistant")
    assert not audios(first), "an earlier answer waits behind a button"
    assert audios(second)[0].proto.autoplay


def test_an_earlier_answer_can_be_played_again(cloud_env, make_app):
    double = cloud_env
    double.reply_audio("First answer.").reply_audio("Second answer.")
    at = ask_by_voice(make_app().run(), question_wav())
    at.chat_input(key="typed").set_value("And another thing?").run()
    at.run()  # the run that answered drew the first exchange while it was still the newest
    first_user = messages(at, "user")[0]
    assert [b.label for b in first_user.button] == ["Play the recording"]

    button(at, "Play the answer again").click().run()

    first, second = messages(at, "assistant")
    (again,) = audios(first)
    assert again.proto.autoplay, "it plays at once"
    exchange = at.session_state["voicedesk"].conversation.exchanges[0]
    assert again.proto.url.endswith(".wav") and exchange.reply.audio_wav[:4] == b"RIFF"
    assert len(audios(second)) == 1
    at.run()
    assert audios(messages(at, "assistant")[0])[0].proto == again.proto, "not restarted"


def test_typed_question_is_answered_in_speech(cloud_env, make_app):
    double = cloud_env
    double.reply_audio("You can withdraw from the wallet page.")
    at = make_app().run()

    at.chat_input(key="typed").set_value("How do I withdraw my winnings?").run()

    assert not at.exception
    (user,), (assistant,) = messages(at, "user"), messages(at, "assistant")
    assert texts(user) == ["How do I withdraw my winnings?"]
    assert not audios(user)
    assert "You can withdraw from the wallet page." in texts(assistant)
    assert len(audios(assistant)) == 1
    request = double.chat_requests[0].json
    assert request["modalities"] == ["text", "audio"]
    assert request["messages"][-1] == {"role": "user", "content": "How do I withdraw my winnings?"}


def test_rejected_key_shows_one_sentence_and_try_again_resends_the_same_recording(
    cloud_env, make_app
):
    double = cloud_env
    double.fail(401, "Incorrect API key provided: sk-test-page.", code="invalid_api_key")
    at = ask_by_voice(make_app().run(), question_wav())

    assert not at.exception
    assert [e.value for e in at.error] == [
        "OpenAI refused the API key; check OPENAI_API_KEY and try again."
    ]
    assert "sk-test-page" not in str(at.main), "no secret on the page"
    (user,) = messages(at, "user")
    assert len(audios(user)) == 1, "the question stays on the page"

    double.reply_audio("Now it works.")
    button(at, "Try again").click().run()

    assert not at.error
    assert "Now it works." in texts(messages(at, "assistant")[0])
    first, second = double.chat_requests
    assert input_audio_of(first) == input_audio_of(second)
    assert len(at.session_state["voicedesk"].conversation.exchanges) == 1


def test_conversation_stays_when_a_later_turn_fails(cloud_env, make_app):
    double = cloud_env
    double.reply_audio("First answer.").fail(429, "Rate limit reached.", code="rate_limit_exceeded")
    at = make_app().run()
    at.chat_input(key="typed").set_value("First question").run()
    at.chat_input(key="typed").set_value("Second question").run()

    assert "First answer." in texts(messages(at, "assistant")[0])
    assert [e.value for e in at.error] == [
        "OpenAI is busy (rate limit); wait a few seconds and try again."
    ]
    assert [texts(m)[0] for m in messages(at, "user")] == ["First question", "Second question"]


def test_silent_recording_is_refused_without_a_pointless_try_again(cloud_env, make_app):
    at = ask_by_voice(make_app().run(), silent_wav())

    assert not at.exception
    (error,) = at.error
    assert "silent" in error.value
    assert "Try again" not in [b.label for b in at.button]
    assert cloud_env.chat_requests == [], "a silent recording never reaches the model"


def test_unreachable_model_offers_answer_offline(cloud_env, make_app):
    double = cloud_env
    double.close_connection()
    at = ask_by_voice(make_app().run(), question_wav())

    assert not at.exception
    (error,) = at.error
    assert error.value == "OpenAI cannot be reached; check the network connection and try again."
    labels = [b.label for b in at.button]
    assert "Try again" in labels and "Answer offline" in labels


@pytest.mark.offline_models
@pytest.mark.timeout(300)  # loads the speech models
def test_answer_offline_answers_that_turn_on_this_machine(cloud_env, make_app):
    double = cloud_env
    double.close_connection()
    at = make_app().run()
    at.selectbox(key="customer").set_value("maria").run()
    ask_by_voice(at, question_wav("How many games did I play?"))

    # Generous: the speech models load in this process, at the pace of a busy CPU.
    button(at, "Answer offline").click().run(timeout=180)

    assert not at.exception and not at.error
    (exchange,) = at.session_state["voicedesk"].conversation.exchanges
    assert exchange.reply.provider == "offline"
    assert exchange.reply.audio_wav[:4] == b"RIFF" and exchange.reply.transcript
    parts = [p["vendor"] for p in exchange.reply.extra["parts"]]
    assert parts == ["local", "local", "local"], "offline answers through the cascade's local parts"
    assert at.selectbox(key="provider").value == "openai", "only that turn went offline"
    assert len(double.chat_requests) == 1


def test_new_conversation_forgets_the_exchanges_but_does_not_reask(cloud_env, make_app):
    double = cloud_env
    double.reply_audio("An answer.")
    at = ask_by_voice(make_app().run(), question_wav())
    assert messages(at, "assistant")

    button(at, "New conversation").click().run()
    assert messages(at, "assistant"), "nothing is thrown away before the agent says yes"
    button(at, "Keep it").click().run()
    assert messages(at, "assistant") and not at.session_state["voicedesk"].confirming_new

    button(at, "New conversation").click().run()
    button(at, "Yes, start over").click().run()

    assert not messages(at, "user") and not messages(at, "assistant")
    assert len(double.chat_requests) == 1, "the recording still in the widget is not asked again"
    assert at.session_state["voicedesk"].conversation.exchanges == []
    mics = [widget for widget in at.get("audio_input")]
    assert len(mics) == 1 and mics[0].key != "mic" and mics[0].value is None, "an empty mic box"


def test_two_sessions_share_no_conversation_or_customer(cloud_env, make_app):
    double = cloud_env
    double.reply_audio("Answer for the first tab.")
    first, second = make_app().run(), make_app().run()
    first.selectbox(key="customer").set_value("dev").run()
    first.chat_input(key="typed").set_value("My games?").run()

    second.run()

    assert messages(first, "assistant")
    assert not messages(second, "user") and not messages(second, "assistant")
    assert second.selectbox(key="customer").value == "maria", "its own (demo) customer"
    assert first.session_state["voicedesk"] is not second.session_state["voicedesk"]


def test_transcript_download_holds_the_conversation(cloud_env, make_app):
    cloud_env.reply_audio("Your balance is fine.")
    at = make_app().run()
    (download,) = at.sidebar.download_button
    assert download.proto.disabled, "nothing to download before the first answer"
    at.chat_input(key="typed").set_value("Is my balance fine?").run()
    (download,) = at.sidebar.download_button
    assert not download.proto.disabled
    markdown = transcript_markdown(at.session_state["voicedesk"].conversation)
    assert "Is my balance fine?" in markdown and "Your balance is fine." in markdown


@pytest.mark.offline_models
@pytest.mark.timeout(300)  # loads the speech models
def test_first_open_without_keys_says_how_to_connect_and_loads_the_offline_models(
    page_env, make_app
):
    from localspeech.client import shared_engine

    at = make_app().run()

    assert not at.exception
    (connect,) = [e for e in at.expander if e.label == "Connect your systems"]
    assert not connect.proto.expanded, "out of the way until opened"
    note = " ".join(i.value for i in connect.info)
    assert "OPENAI_API_KEY" in note and "AZURE_OPENAI_ENDPOINT" in note
    assert "JIRA_SERVER" in note
    assert at.audio_input(key="mic")
    assert at.selectbox(key="provider").value == "offline"
    # The models started loading when the page opened; wait for them (a process must not exit
    # while they load), then the sidebar says they are ready.
    shared_engine().warm_up(background=False)
    at.run()
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Speech models ready" in captions, captions


AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
}


def test_sign_in_is_required_when_auth_is_configured(cloud_env, make_app):
    at = make_app()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()

    assert not at.exception
    assert not at.get("audio_input"), "nothing to use before signing in"
    if importlib.util.find_spec("authlib") is not None:
        assert "Sign in" in [b.label for b in at.button]
    else:  # requirements.txt brings Authlib; without it the page says what is missing
        assert [e.value for e in at.error] == [NO_AUTHLIB]


def test_sign_in_without_authlib_says_what_to_install(cloud_env, make_app, monkeypatch):
    import page.auth

    real = importlib.util.find_spec
    monkeypatch.setattr(page.auth.importlib.util, "find_spec",
                        lambda name, *a: None if name == "authlib" else real(name, *a))  # fmt: skip
    at = make_app()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.run()

    assert [e.value for e in at.error] == [NO_AUTHLIB]
    assert not at.button and not at.get("audio_input")


def test_signed_in_agent_is_named_on_the_grievance(cloud_env, page_env, make_app):
    double = cloud_env
    grievance = {"category": "wallet", "description": "Please file a complaint: charged twice.",
                 "user_name": "maria"}  # fmt: skip
    double.reply_tool_calls([("register_grievance", grievance)]).reply_audio("Registered.")
    at = make_app()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "name": "Ana Agent", "email": "ana@example.com"}
    at.run()
    assert "Signed in as **Ana Agent**" in [c.value for c in at.sidebar.caption]

    at.chat_input(key="typed").set_value("I was charged twice").run()

    assert not at.exception
    captions = [plain(c.value) for c in at.main.caption]
    assert "Category: Wallet · Summary: Charged twice" in captions, "the ticket's line, shown"
    button(at, "Confirm and file").click().run()  # a draft until the agent confirms it
    assert not at.exception
    exchange = at.session_state["voicedesk"].conversation.exchanges[0]
    (action,) = exchange.reply.actions
    assert action.state == "filed"
    number = int(action.result["data"]["ticket"]["key"].rsplit("-", 1)[1])
    store = page_env / "data" / "tickets.sqlite"  # the embedded ticket store
    with sqlite3.connect(store) as db:
        (agent,) = db.execute("SELECT agent FROM tickets WHERE number = ?", (number,)).fetchone()
    assert agent == "Ana Agent"


def test_a_bug_on_the_page_is_one_sentence_and_a_logged_traceback(
    cloud_env, page_env, make_app, monkeypatch
):
    import page.conversation

    def broken(reply):
        raise KeyError("passages")

    monkeypatch.setattr(page.conversation, "render_trace", broken)
    cloud_env.reply_audio("An answer.")
    at = make_app().run()
    at.chat_input(key="typed").set_value("A question").run()

    at = open_trace(at)

    assert not at.exception
    assert [e.value for e in at.error] == [
        "Something went wrong on this page; the details are in the log. Reload to go on."
    ]
    log = (page_env / "data" / "voicedesk.log").read_text()
    assert "the page failed" in log and "KeyError: 'passages'" in log
