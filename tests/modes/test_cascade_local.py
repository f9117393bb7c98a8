"""The cascade with its local parts (offline: Whisper hears, the router thinks and calls tools,
Piper speaks), each reached through the OpenAI protocol the local engine serves, answering a
spoken question end to end. The verdict rests on the tool called and the answer being grounded
on its result, never on the models' exact words."""

from __future__ import annotations

import json
import re

import pytest

from assistant.history import Conversation
from tests.localspeech.conftest import require_models
from tests.modes.cascade_support import Sink
from tests.support import isolate_env, make_settings
from wavcodec import rms_dbfs

pytestmark = pytest.mark.offline_models


@pytest.fixture
def local_cascade(tmp_path, monkeypatch):
    require_models()
    isolate_env(monkeypatch)
    from assistant.service import build_engine
    from localspeech.client import shared_engine

    engine = build_engine(make_settings(tmp_path, voicedesk_mode="cascade"))
    shared_engine().warm_up(background=False)
    return engine, shared_engine()


def test_a_spoken_question_is_answered_by_the_local_parts_with_a_tool(local_cascade):
    engine, local = local_cascade
    question = local.tts.wav("How many games did I play?")  # Piper's voice: Whisper hears it
    sink = Sink()
    reply = engine.ask(Conversation(customer="maria"), audio=question, on_event=sink)

    assert reply.provider == "offline" and reply.model == "voicedesk-offline"
    assert [p["vendor"] for p in reply.extra["parts"]] == ["local", "local", "local"]
    assert reply.input_transcript and "game" in reply.input_transcript.lower()
    calls = [(c.name, c.arguments) for c in reply.tool_calls]
    assert calls == [("get_player_summary", {"user_name": "maria"})] and reply.tool_calls[0].ok
    said = set(re.findall(r"\d+", reply.transcript))
    found = set(re.findall(r"\d+", json.dumps(reply.tool_calls[0].result)))
    assert said and said <= found, "every figure said comes from the tool's result"
    assert sink.of("audio_chunk") and rms_dbfs(reply.audio_wav) > -40, "spoken, not silence"
    assert reply.usage.cost_usd == 0.0 and reply.extra["audio_model_cost_usd"] > 0


def test_offline_answers_through_the_cascade_unless_voicedesk_mode_asks_for_audio_chat(
    tmp_path, monkeypatch
):
    require_models()
    isolate_env(monkeypatch)
    from assistant.service import build_engine
    from localspeech.client import shared_engine

    cloud = make_settings(tmp_path, openai_api_key="sk-test")
    assert build_engine(cloud).mode.name == "audio_chat"
    offline = build_engine(cloud, provider="offline")  # `ask --offline`, "Answer offline"
    assert offline.mode.name == "cascade"
    shared_engine().warm_up(background=False)
    reply = offline.ask(Conversation(customer="maria"), text="How many games did I play?")
    assert [s.name for s in reply.stages] == ["think", "think", "speak"]
    assert [c.name for c in reply.tool_calls] == ["get_player_summary"]

    # The local engine's audio Chat Completions endpoint stays: it stands in for the audio model.
    chosen = build_engine(make_settings(tmp_path, voicedesk_mode="audio_chat"))
    assert chosen.mode.name == "audio_chat" and chosen.mode.provider == "offline"
    reply = chosen.ask(Conversation(customer="maria"), text="How many games did I play?")
    assert [s.name for s in reply.stages] == ["understand", "compose"]
    assert [c.name for c in reply.tool_calls] == ["get_player_summary"]
    assert reply.audio_wav[:4] == b"RIFF" and reply.transcript


def test_the_offline_engines_small_talk_replay_questions_back_and_drafts_hold_in_the_cascade(
    local_cascade,
):
    engine, _ = local_cascade
    maria = Conversation(customer="maria")
    hello = engine.ask(maria, text="Hello there!")
    assert hello.transcript and not hello.tool_calls and hello.audio_wav[:4] == b"RIFF"
    games = engine.ask(maria, text="How many games did I play?")
    again = engine.ask(maria, text="What did you just say?")
    assert again.transcript == games.transcript and not again.tool_calls, "said again, as said"
    draft = engine.ask(maria, text="I want to file a grievance: my withdrawal never arrived.")
    assert [a.tool for a in draft.actions] == ["register_grievance"]
    assert draft.actions[0].waiting, "a draft waits for the agent: nothing is filed yet"

    nobody = Conversation(customer=None)
    which = engine.ask(nobody, text="How many games did they play?")
    assert not which.tool_calls and which.transcript.endswith("?"), "asks which player"
    answered = engine.ask(nobody, text="Maria")
    assert [(c.name, c.arguments) for c in answered.tool_calls] == [
        ("get_player_summary", {"user_name": "maria"})]  # fmt: skip
