"""The player in the page (AppTest): served with the stream route, the page hands its player a
token bound to this session; the answer's heard question, text and audio flow through the
page's sink; and when no tab plays the stream, the whole answer autoplays as before."""

from __future__ import annotations

import asyncio
import json

import pytest

from page.stream import HUB
from tests.page.helpers import ask_by_voice, audios, messages, question_wav
from tests.page.streaming import ANSWER, HEARD, Pace, StreamingEngine


@pytest.fixture
def streaming(cloud_env, monkeypatch):
    """The page answering with the slow-streaming test engine (fast here)."""
    engine = StreamingEngine(Pace(first_chunk_s=0.0, chunks=4, chunk_s=0.1, every_s=0.0), "")
    monkeypatch.setattr("page.resources.engine", lambda provider, model, mode=None: engine)
    return engine


def player_data(at) -> dict | None:
    found = [el for el in at.get("bidi_component")]
    if not found:
        return None
    proto = found[0].proto
    return json.loads(proto.json) if proto.HasField("json") else None


def test_served_with_the_stream_the_page_hands_its_player_a_token_for_this_session(
    streaming, make_app, monkeypatch
):
    monkeypatch.setattr(HUB, "served", True)
    at = make_app().run()
    data = player_data(at)
    assert data is not None and data["path"] == "/voicedesk/stream" and data["rate"] == 24000
    assert len(data["token"]) >= 40
    at.run()
    assert player_data(at)["token"] == data["token"], "a rerun does not redraw the player"
    # AppTest gives every app the same session id: sessions apart are in test_stream.py.
    assert HUB.redeem(data["token"], None, asyncio.new_event_loop()) is not None


def test_without_the_stream_route_there_is_no_player_and_the_answer_autoplays_whole(
    streaming, make_app
):
    at = ask_by_voice(make_app().run(), question_wav())
    assert player_data(at) is None
    [user] = messages(at, "user")
    assert any(HEARD in m.value for m in user.markdown)
    [assistant] = messages(at, "assistant")
    assert any(ANSWER in m.value for m in assistant.markdown)
    [player] = audios(assistant)
    assert player.proto.autoplay, "nobody heard it streamed: the whole answer plays"
