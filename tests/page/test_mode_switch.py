"""The sidebar shows the voice mode and switches it for this tab only: a question asked after
choosing Cascade is heard, thought and spoken by the cascade's parts."""

from __future__ import annotations

import pytest

from tests.modes import cascade_support
from tests.page.helpers import messages, plain

audio_double = cascade_support.audio_double  # the fixture


@pytest.fixture
def cascade_env(cloud_env, audio_double, monkeypatch):
    """The text model on the Chat Completions double, speech on the audio double."""
    monkeypatch.setenv("VOICEDESK_TEXT_BASE_URL", cloud_env.base_url)
    monkeypatch.setenv("VOICEDESK_TEXT_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_BASE_URL", audio_double.base_url)
    return cloud_env, audio_double


def test_the_sidebar_switches_this_tab_to_the_cascade(cascade_env, make_app):
    text_double, audio_double = cascade_env
    at = make_app().run()
    control = at.sidebar.segmented_control(key="mode")
    assert control.value == "audio_chat" and control.options == ["Audio model", "Cascade"]

    text_double.reply_without_audio("Maria played twelve games. Well done!")
    at = control.set_value("cascade").run()
    at = at.chat_input(key="typed").set_value("How did Maria do?").run()

    assert not at.exception, at.exception
    (request,) = text_double.chat_requests
    assert "modalities" not in request.json and request.json["model"] == "gpt-4o-mini"
    assert [r.json["input"] for r in audio_double.of("speech")] == [
        "Maria played twelve games.", "Well done!"]  # fmt: skip
    shown = [plain(m.value) for m in messages(at, "assistant")[-1].markdown]
    assert any("Maria played twelve games. Well done!" in text for text in shown), shown
    assert any("Hearing" not in text and "Speaking the rest" in text for text in shown)
    assert make_app().run().sidebar.segmented_control(key="mode").value == "audio_chat", (
        "another tab keeps the default")


def test_a_tab_that_switches_to_offline_takes_the_cascade_unless_the_agent_chose(
    cloud_env, make_app
):
    at = make_app().run()
    assert at.selectbox(key="provider").options == ["OpenAI", "Offline (on this machine)"]
    assert at.sidebar.segmented_control(key="mode").value == "audio_chat"

    at = at.selectbox(key="provider").set_value("offline").run()
    assert not at.exception, at.exception
    assert at.sidebar.segmented_control(key="mode").value == "cascade", "offline's one path"
    at = at.selectbox(key="provider").set_value("openai").run()
    assert at.sidebar.segmented_control(key="mode").value == "audio_chat"

    at = at.sidebar.segmented_control(key="mode").set_value("cascade").run()  # the agent's
    at = at.selectbox(key="provider").set_value("offline").run()
    at = at.selectbox(key="provider").set_value("openai").run()
    assert at.sidebar.segmented_control(key="mode").value == "cascade", "the agent's choice"
