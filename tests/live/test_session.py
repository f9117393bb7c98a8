"""The live session against the realtime double, through the real `openai` SDK realtime client."""

from __future__ import annotations

import asyncio
import json
import sys
import types

import pytest

from assistant.history import Conversation
from assistant.live import factory
from assistant.live.factory import open_live_session
from assistant.live.session import TOOL_CUE
from assistant.pricing import PRICES
from tests.live.realtime_double import Call, Say, Turn
from tests.live.support import Listener, settled, speak


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario, 60))


def test_two_questions_are_answered_in_one_session(realtime_double, live_engine):
    realtime_double.script(
        Turn("How do I turn on two-step verification?", [Say("Open Settings, then Security.")]),
        Turn("And how long do withdrawals take?", [Say("Up to three working days.")]),
    )
    engine = live_engine()
    conversation = Conversation()

    async def scenario():
        session = await open_live_session(engine, conversation)
        heard = Listener(session)
        await speak(session)
        await heard.count("answer_done", 1)
        await speak(session)
        done = await heard.count("answer_done", 2)
        await session.close()
        await heard.closed()
        return heard, [e.reply for e in done]

    heard, replies = run(scenario())
    assert [r.transcript for r in replies] == [
        "Open Settings, then Security.", "Up to three working days."]  # fmt: skip
    assert [r.input_transcript for r in replies] == [
        "How do I turn on two-step verification?", "And how long do withdrawals take?"]  # fmt: skip
    assert [e.user_text for e in conversation.exchanges] == [r.input_transcript for r in replies]
    assert realtime_double.connections == 1
    assert heard.texts("heard") == [r.input_transcript for r in replies]
    states = heard.texts("state")
    assert states[:2] == ["connecting", "listening"] and states[-1] == "closed"
    assert {"hearing", "speaking"} <= set(states)
    audio = b"".join(e.audio for e in heard.of("audio"))
    assert len(audio) == 2 * 600 * 48  # two answers of 600 ms, PCM16 at 24 kHz
    assert replies[0].audio_wav[:4] == b"RIFF" and replies[0].extra["mode"] == "live"
    assert replies[0].extra["first_sound_s"] >= 0
    assert heard.of("closed")[-1].text == "closed"


def test_the_session_is_configured_as_the_brief_says(realtime_double, live_engine):
    realtime_double.script(Turn("Hello?", [Say("Hello, how can I help?")]))
    engine = live_engine(voicedesk_voice="marin")
    conversation = Conversation(customer="maria")

    async def scenario():
        session = await open_live_session(engine, conversation)
        await session.close()

    run(scenario())
    sent = realtime_double.sessions[0]
    assert sent["type"] == "realtime" and sent["output_modalities"] == ["audio"]
    assert sent["instructions"].startswith(engine.system_prompt)
    assert "Customer being helped: maria" in sent["instructions"]
    pcm = {"type": "audio/pcm", "rate": 24000}
    assert sent["audio"]["input"]["format"] == pcm and sent["audio"]["output"]["format"] == pcm
    assert sent["audio"]["output"]["voice"] == "marin"
    assert sent["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert sent["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    tools = {t["name"]: t for t in sent["tools"]}
    assert set(tools) == set(engine.registry.tools)
    assert all(t["type"] == "function" and t["parameters"]["type"] == "object"
               for t in tools.values())  # fmt: skip
    assert realtime_double.paths[0] == "/v1/realtime?model=gpt-realtime"
    assert realtime_double.headers[0]["Authorization"] == "Bearer sk-test"


def test_azure_openai_is_reached_with_its_key_and_deployment(realtime_double, live_engine):
    realtime_double.script(Turn("Hello?", [Say("Hello there.")]))
    engine = live_engine("azure")

    async def scenario():
        session = await open_live_session(engine, Conversation())
        heard = Listener(session)
        await speak(session)
        done = await heard.count("answer_done", 1)
        await session.close()
        return done[0].reply

    reply = run(scenario())
    assert reply.transcript == "Hello there." and reply.provider == "azure"
    path = realtime_double.paths[0]
    assert path.startswith("/openai/realtime?") and "deployment=realtime-prod" in path
    assert "api-version=2025-04-01-preview" in path
    assert realtime_double.headers[0]["api-key"] == "azure-key-test"


def test_a_function_call_runs_the_registry_tool_bound_to_the_customer(realtime_double, live_engine):
    realtime_double.script(Turn("How are maria and priya doing?", [
        Call(("get_player_summary", {"user_name": "maria"}),
             ("get_player_summary", {"user_name": "priya.sharma"})),
        Say("Maria is a gold player."),
    ]))  # fmt: skip
    engine = live_engine()
    conversation = Conversation(customer="maria")

    async def scenario():
        session = await open_live_session(engine, conversation)
        heard = Listener(session)
        await speak(session)
        done = await heard.count("answer_done", 1)
        await session.close()
        return heard, done[0].reply

    heard, reply = run(scenario())
    # Every output of the response, then one response.create.
    assert realtime_double.client_types()[:4] == [
        "session.update", "conversation.item.create", "conversation.item.create",
        "response.create"]  # fmt: skip
    outputs = [json.loads(e["item"]["output"]) for e in realtime_double.client_logs[0]
               if e["type"] == "conversation.item.create"]  # fmt: skip
    assert outputs[0]["ok"] is True and "maria" in json.dumps(outputs[0]).lower()
    assert outputs[1]["ok"] is False and outputs[1]["error"] == "other_player"
    assert [c.name for c in reply.tool_calls] == ["get_player_summary"] * 2
    assert [a.kind for a in reply.actions] == ["other_player"]
    assert reply.transcript == "Maria is a gold player."
    assert "looking_up" in heard.texts("state")
    assert any(e.audio == TOOL_CUE and e.item_id is None for e in heard.of("audio"))
    assert "tool" in reply.timings_ms
    assert reply.usage.model_calls == 2  # the call response and the spoken one


def test_usage_and_cost_come_from_response_done_at_realtime_prices(realtime_double, live_engine):
    realtime_double.script(Turn("Hi", [Say("Hello.")]))
    engine = live_engine()

    async def scenario():
        session = await open_live_session(engine, Conversation())
        heard = Listener(session)
        await speak(session)
        done = await heard.count("answer_done", 1)
        await session.close()
        return done[0].reply

    usage = run(scenario()).usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (200, 100)
    assert (usage.audio_prompt_tokens, usage.audio_completion_tokens) == (50, 80)
    assert usage.cached_tokens == 64
    price = PRICES["gpt-realtime"]
    expected = ((150 - 64) * price["text_in"] + 64 * price["cached_text_in"]
                + 50 * price["audio_in"] + 20 * price["text_out"]
                + 80 * price["audio_out"]) / 1e6  # fmt: skip
    assert usage.cost_usd == pytest.approx(expected)


def test_barge_in_interrupts_cancels_and_truncates_at_the_played_ms(realtime_double, live_engine):
    realtime_double.script(
        Turn("Tell me about the wallet.",
             [Say("The wallet holds your balance and your bonus points for games.",
                  audio_ms=4000, pace_s=0.05)]),
        Turn("What about bonuses?", [Say("Bonuses arrive within a day.")]),
    )  # fmt: skip
    engine = live_engine()
    conversation = Conversation()

    async def scenario():
        session = await open_live_session(engine, conversation)
        heard = Listener(session)
        await speak(session)
        first = (await heard.count("audio", 1))[0]
        await heard.count("audio", 3)
        await session.played(first.item_id, 120)
        await speak(session)
        done = await heard.count("answer_done", 2)
        await settled(lambda: realtime_double.truncations)
        await session.close()
        return heard, first.item_id, [e.reply for e in done]

    heard, item_id, replies = run(scenario())
    kinds = [e.kind for e in heard.events]
    assert kinds.index("interrupted") < kinds.index("answer_done")
    assert heard.of("interrupted")[0].item_id == item_id
    sent = realtime_double.client_types()
    assert sent.index("response.cancel") < sent.index("conversation.item.truncate")
    assert realtime_double.truncations == [{
        "type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
        "audio_end_ms": 120}]  # fmt: skip
    stopped, answered = replies
    assert stopped.transcript.endswith("…") and stopped.extra["warning"]
    assert len(stopped.audio_wav) - 44 == 120 * 48  # what was heard, not what was sent
    assert answered.transcript == "Bonuses arrive within a day."
    assert len(conversation.exchanges) == 2


def test_without_a_report_from_the_tab_the_truncation_is_capped_at_what_was_sent(
    realtime_double, live_engine
):
    realtime_double.script(
        Turn("Tell me about the wallet.", [Say("A long answer.", audio_ms=4000, pace_s=0.05)]),
        Turn("Stop.", [Say("Stopped.")]),
    )
    engine = live_engine()

    async def scenario():
        session = await open_live_session(engine, Conversation())
        heard = Listener(session)
        await speak(session)
        await heard.count("audio", 2)
        await speak(session)
        await heard.count("answer_done", 2)
        await settled(lambda: realtime_double.truncations)
        sent_ms = len(b"".join(e.audio for e in heard.of("audio"))) // 48
        await session.close()
        return sent_ms

    sent_ms = run(scenario())
    (truncation,) = realtime_double.truncations
    assert 0 <= truncation["audio_end_ms"] <= sent_ms


def test_a_dropped_connection_reconnects_and_keeps_the_conversation(realtime_double, live_engine):
    realtime_double.script(
        Turn("How do I reset my password?", [Say("Use the Forgot password link.")]),
        Turn("And my username?", [Say("Your username is on the welcome email.", drop_after=1)]),
        Turn("Are you there?", [Say("Yes, I am here.")]),
    )
    engine = live_engine()
    conversation = Conversation()

    async def scenario():
        session = await open_live_session(engine, conversation)
        heard = Listener(session)
        await speak(session)
        await heard.count("answer_done", 1)
        await speak(session)
        await heard.until(lambda: heard.texts("state").count("listening") >= 3)  # reconnected
        await speak(session)
        done = await heard.until(
            lambda: [e for e in heard.of("answer_done") if e.reply.transcript == "Yes, I am here."]
        )
        await session.close()
        return heard, done

    heard, _ = run(scenario())
    assert realtime_double.drops == 1 and realtime_double.connections == 2
    (error,) = heard.texts("error")
    assert "dropped" in error and "reconnecting" in error
    reseeded = realtime_double.sessions[1]["instructions"]
    assert "How do I reset my password?" in reseeded and "Use the Forgot password link." in reseeded
    texts = [e.reply.transcript for e in conversation.exchanges]
    assert texts[0] == "Use the Forgot password link." and texts[-1] == "Yes, I am here."
    assert not heard.of("closed")[-1].text.startswith("The")  # closed by us, not by the drop


def test_offline_live_reaches_the_local_realtime_server_through_the_same_upstream(
    realtime_double, live_engine, monkeypatch
):
    """The local engine's server (localspeech.realtime_server, another part of this work) is
    stood in for by the double: what is checked is how the factory starts and reaches it."""
    started = []

    def start_loopback(engine=None):
        started.append(engine)
        return f"ws://127.0.0.1:{realtime_double.port}/v1", lambda: None

    fake = types.ModuleType("localspeech.realtime_server")
    fake.start_loopback = start_loopback
    monkeypatch.setitem(sys.modules, "localspeech.realtime_server", fake)
    monkeypatch.setattr(factory, "_LOCAL", {})
    realtime_double.script(Turn("Hello?", [Say("Hello from this machine.")]),
                           Turn("Again?", [Say("Still here.")]))  # fmt: skip
    engine = live_engine(voicedesk_live_provider="offline", openai_api_key="sk-cloud-secret")

    async def scenario():
        replies = []
        for _ in range(2):  # a second session reuses the server started by the first
            session = await open_live_session(engine, Conversation())
            heard = Listener(session)
            await speak(session)
            replies.append((await heard.count("answer_done", 1))[0].reply)
            await session.close()
        return replies

    replies = run(scenario())
    assert [r.transcript for r in replies] == ["Hello from this machine.", "Still here."]
    assert replies[0].provider == "offline" and replies[0].usage.cost_usd == 0
    from localspeech.client import shared_engine

    assert started == [shared_engine()], "the process's own engine: one set of models"
    assert realtime_double.paths[0] == "/v1/realtime?model=voicedesk-offline"
    assert "sk-cloud-secret" not in realtime_double.headers[0]["Authorization"]


def test_a_grievance_asked_for_live_is_a_draft_and_the_per_question_limit_holds(
    realtime_double, live_engine
):
    complaint = {"category": "reward_points", "description": "Bonus points never came.",
                 "user_name": "dev"}  # fmt: skip
    realtime_double.script(Turn("File a complaint, twice.", [
        Call(("register_grievance", complaint), ("register_grievance", complaint)),
        Say("I have drafted it; it is filed once you confirm."),
    ]))  # fmt: skip
    engine = live_engine()
    before = engine.registry.run("list_grievances", '{"user_name": "dev"}').result.data
    conversation = Conversation(customer="dev")

    async def scenario():
        session = await open_live_session(engine, conversation)
        heard = Listener(session)
        await speak(session)
        done = await heard.count("answer_done", 1)
        await session.close()
        return done[0].reply

    reply = run(scenario())
    outputs = [json.loads(e["item"]["output"]) for e in realtime_double.client_logs[0]
               if e["type"] == "conversation.item.create"]  # fmt: skip
    assert outputs[0]["ok"] is True and outputs[0]["data"]["state"] == "drafted"
    assert outputs[1]["ok"] is False and outputs[1]["error"] == "per_question_limit"
    assert [(a.kind, a.state) for a in reply.actions] == [("grievance", "drafted")]
    assert conversation.action(reply.actions[0].id) is reply.actions[0]
    after = engine.registry.run("list_grievances", '{"user_name": "dev"}').result.data
    assert after == before  # nothing filed until the agent confirms


def test_azure_openai_without_a_key_signs_in_with_an_entra_id_token(
    realtime_double, live_engine, monkeypatch
):
    from assistant.providers import azure

    asked = []

    def token_provider():
        asked.append(True)
        return "entra-token"

    monkeypatch.setattr(azure, "_entra_token_provider", lambda: token_provider)
    realtime_double.script(Turn("Hello?", [Say("Signed in.")]))
    engine = live_engine("azure", azure_openai_api_key=None)

    async def scenario():
        session = await open_live_session(engine, Conversation())
        heard = Listener(session)
        await speak(session)
        done = await heard.count("answer_done", 1)
        await session.close()
        return done[0].reply

    assert run(scenario()).transcript == "Signed in."
    assert asked and realtime_double.headers[0]["Authorization"] == "Bearer entra-token"
    assert "api-key" not in realtime_double.headers[0]


def test_an_answers_stages_follow_one_another_so_they_add_up_to_its_time(
    realtime_double, live_engine, monkeypatch
):
    """The page adds the stages up ("Answered in …"): the wait for the first sound, the rest of
    the answer and the lookup must not overlap, or a slow lookup is counted two or three times."""
    import time

    from assistant.turn import _TurnState

    slow = _TurnState.run_tools

    def run_tools(self, calls, round_no):
        time.sleep(0.6)  # a slow backend
        return slow(self, calls, round_no)

    monkeypatch.setattr(_TurnState, "run_tools", run_tools)
    realtime_double.script(Turn("How is maria doing?", [
        Call(("get_player_summary", {"user_name": "maria"})),
        Say("Maria is a gold player.", audio_ms=500, chunk_ms=100, pace_s=0.1),
    ]))  # fmt: skip
    engine = live_engine()

    async def scenario():
        session = await open_live_session(engine, Conversation(customer="maria"))
        heard = Listener(session)
        began = time.monotonic()
        await speak(session)
        done = await heard.count("answer_done", 1)
        took = (time.monotonic() - began) * 1000
        await session.close()
        return done[0].reply, took

    reply, took = run(scenario())
    timings = reply.timings_ms
    assert timings["tool"] >= 600 and timings["answer"] >= 300, timings
    assert sum(timings.values()) <= took + 100, (timings, took)


def test_an_answer_finished_but_still_playing_when_talked_over_is_kept_as_stopped(
    realtime_double, live_engine
):
    """Engines write faster than the answer plays (the local one does: a 4 s answer is done in
    a moment): talked over while it plays, it is kept as what was heard, marked stopped."""
    realtime_double.script(
        Turn("Tell me about the wallet.",
             [Say("The wallet holds your balance and your bonus points.", audio_ms=4000)]),
        Turn("What about bonuses?", [Say("Bonuses arrive within a day.")]),
    )  # fmt: skip
    engine = live_engine()
    conversation = Conversation()

    async def scenario():
        session = await open_live_session(engine, conversation)
        heard = Listener(session)
        await speak(session)
        first = (await heard.count("answer_done", 1))[0]  # all of it written, none heard yet
        await speak(session)
        await heard.count("interrupted", 1)
        await session.played(first.item_id, 240)  # the tab stopped it: what it had played
        await heard.count("answer_done", 2)
        await settled(lambda: realtime_double.truncations)
        await session.close()
        return heard, first.item_id

    heard, item_id = run(scenario())
    assert heard.of("interrupted")[0].item_id == item_id
    stopped, answered = (exchange.reply for exchange in conversation.exchanges)
    assert stopped.transcript.endswith("…") and stopped.extra["warning"]
    assert len(stopped.audio_wav) - 44 == 240 * 48  # what was heard, not what was sent
    assert answered.transcript == "Bonuses arrive within a day."
