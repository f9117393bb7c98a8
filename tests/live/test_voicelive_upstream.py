"""The Voice Live upstream: the real `azure-ai-voicelive` SDK, through the adapter, against a
double that follows the SDK's own models. What the session logic sends is GA (checked against
OpenAI's schema); what Voice Live receives must fit the SDK's models; what comes back must be
GA again, so the session logic written for GA consumes it unchanged."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from azure.ai.voicelive.models import ServerEventType

from assistant.live import voicelive_events
from assistant.live.base import UpstreamClosed
from assistant.live.voicelive_upstream import VoiceLiveUpstream, connect
from tests.contracts.openai_realtime import client_event_errors as ga_client_errors
from tests.contracts.openai_realtime import event_types
from tests.contracts.openai_realtime import server_event_errors as ga_server_errors
from tests.contracts.voicelive_models import client_event_errors as vl_client_errors
from tests.live.voicelive_double import API_KEY, TOKEN, VoiceLiveDouble
from tests.support import isolate_env, make_settings

pytestmark = pytest.mark.timeout(120)

AVA = "en-US-Ava:DragonHDLatestNeural"
PCM = b"".join(i.to_bytes(2, "little", signed=True) for i in range(-2400, 2400))  # 0.2 s
GA_SESSION = {
    "type": "realtime",
    "instructions": "You are VoiceDesk. Answer briefly.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                               "silence_duration_ms": 500, "create_response": True,
                               "interrupt_response": True},
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"},
    },
    "tools": [{"type": "function", "name": "look_up_points", "description": "A player's points.",
               "parameters": {"type": "object", "properties": {"player": {"type": "string"}},
                              "required": ["player"]}}],
    "tool_choice": "auto",
}  # fmt: skip
GA_CLIENT_EVENTS = [
    {"type": "session.update", "session": GA_SESSION},
    {"type": "session.update", "session": {"type": "realtime", "instructions": "Be kind."}},
    {"type": "session.update", "session": {"type": "realtime",
     "audio": {"input": {"turn_detection": None}}}},
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(PCM).decode()},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {"type": "output_audio_buffer.clear"},
    {"type": "response.create"},
    {"type": "response.create", "response": {"output_modalities": ["audio"],
     "instructions": "Say it again.", "tool_choice": "none", "max_output_tokens": 400,
     "audio": {"output": {"voice": "alloy", "format": {"type": "audio/pcm", "rate": 24000}}}}},
    {"type": "response.cancel"},
    {"type": "conversation.item.create", "item": {"type": "function_call_output",
     "call_id": "call_1", "output": "{\"points\": 5}"}},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "user",
     "content": [{"type": "input_text", "text": "And my bonus?"}]}},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "assistant",
     "content": [{"type": "output_text", "text": "Five points."}]}},
    {"type": "conversation.item.truncate", "item_id": "item_3", "content_index": 0,
     "audio_end_ms": 640},
    {"type": "conversation.item.delete", "item_id": "item_3"},
    {"type": "conversation.item.retrieve", "item_id": "item_3"},
]  # fmt: skip


@pytest.fixture
def env(monkeypatch, tmp_path):
    isolate_env(monkeypatch)
    return tmp_path


def settings_for(double: VoiceLiveDouble, data_dir, **overrides):
    values = {"azure_voicelive_endpoint": double.endpoint, "azure_voicelive_api_key": API_KEY}
    return make_settings(data_dir, **{**values, **overrides})


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario, timeout=60))


async def until(upstream: VoiceLiveUpstream, kind: str) -> list[dict]:
    """Every event up to and including the first of type `kind`, each checked against GA."""
    seen = []
    while True:
        event = await upstream.recv()
        assert ga_server_errors(event) == [], (event["type"], ga_server_errors(event))
        seen.append(event)
        if event["type"] == kind:
            return seen


async def opened(double: VoiceLiveDouble, data_dir, **overrides) -> VoiceLiveUpstream:
    upstream = await connect(settings_for(double, data_dir, **overrides))
    await until(upstream, "session.created")
    return upstream


# -- the tables --------------------------------------------------------------------------------


def test_every_server_event_type_of_the_sdk_is_mapped_passed_or_deliberately_ignored():
    sdk_types = {kind.value for kind in ServerEventType}
    assert sdk_types == set(voicelive_events.SERVER_EVENTS), (
        "an SDK upgrade changed the server events; classify these: "
        f"{sorted(sdk_types ^ set(voicelive_events.SERVER_EVENTS))}"
    )
    ga_types = set(event_types("RealtimeServerEvent"))
    names = {name for name, _ in voicelive_events.SERVER_EVENTS.values() if name is not None}
    assert names <= ga_types, f"not GA event names: {sorted(names - ga_types)}"
    renamed = {k: n for k, (n, _) in voicelive_events.SERVER_EVENTS.items() if n and n != k}
    assert renamed["response.audio.delta"] == "response.output_audio.delta"
    assert renamed["response.audio_transcript.delta"] == "response.output_audio_transcript.delta"


def test_every_ga_client_event_type_has_a_translation():
    assert set(event_types("RealtimeClientEvent")) == set(voicelive_events.CLIENT_EVENTS)


@pytest.mark.parametrize("event", GA_CLIENT_EVENTS, ids=lambda e: e["type"])
def test_every_ga_client_event_becomes_one_the_sdk_models_accept(event):
    assert ga_client_errors(event) == [], "the test's own event is not GA"
    assert vl_client_errors(voicelive_events.to_voicelive(event, AVA)) == []


# -- through the SDK, against the double -------------------------------------------------------


def test_the_double_refuses_a_ga_session_update_that_the_sdk_models_do_not_describe(env):
    from azure.ai.voicelive.aio import connect as sdk_connect
    from azure.core.credentials import AzureKeyCredential

    async def scenario():
        async with VoiceLiveDouble() as double:
            credential = AzureKeyCredential(API_KEY)
            async with sdk_connect(
                credential=credential, endpoint=double.endpoint, model="gpt-realtime"
            ) as raw:
                await raw.send({"type": "session.update", "session": GA_SESSION})
                while (event := await raw.recv()).type != "error":
                    pass
            assert "RequestSession has no such field" in event.error.message
            assert any(".audio:" in problem for problem in double.refused)

    run(scenario())


def test_a_session_update_asks_for_semantic_vad_noise_suppression_echo_cancellation_and_an_azure_voice(
    env,
):
    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await opened(double, env)
            await upstream.send({"type": "session.update", "session": GA_SESSION})
            [updated] = [e for e in await until(upstream, "session.updated")]
            [sent] = await double.wait_for("session.update")
            await upstream.close()
        assert double.refused == []
        session = sent["session"]
        assert session["turn_detection"] == {
            "type": "azure_semantic_vad", "threshold": 0.5, "prefix_padding_ms": 300,
            "silence_duration_ms": 500, "create_response": True, "interrupt_response": True,
        }  # fmt: skip
        assert session["input_audio_noise_reduction"] == {"type": "azure_deep_noise_suppression"}
        assert session["input_audio_echo_cancellation"] == {"type": "server_echo_cancellation"}
        assert session["voice"] == {"type": "azure-standard", "name": AVA}
        assert session["input_audio_format"] == session["output_audio_format"] == "pcm16"
        assert session["input_audio_transcription"] == {
            "model": "gpt-4o-mini-transcribe", "language": "en"}  # fmt: skip
        assert session["tools"] == GA_SESSION["tools"]
        assert session["instructions"] == GA_SESSION["instructions"]
        assert double.handshakes[-1]["query"]["model"] == "gpt-realtime"
        ga = updated["session"]
        assert ga["audio"]["output"]["voice"] == AVA
        assert ga["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"

    run(scenario())


def test_an_openai_voice_setting_is_sent_as_an_openai_voice(env):
    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await opened(double, env, voicedesk_voicelive_voice="Marin")
            await upstream.send({"type": "session.update", "session": GA_SESSION})
            [sent] = await double.wait_for("session.update")
            await upstream.close()
        assert sent["session"]["voice"] == {"type": "openai", "name": "marin"}

    run(scenario())


def test_an_answer_arrives_as_ga_events_with_all_its_audio_and_words(env):
    words = "You have five points on your account."

    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await opened(double, env)
            double.answers.append(double.answer(words, audio=PCM, chunks=4))
            await upstream.send({"type": "response.create"})
            events = await until(upstream, "response.done")
            await upstream.close()
        return events

    events = asyncio.run(scenario())
    kinds = [e["type"] for e in events]
    assert "response.output_audio.delta" in kinds
    assert "response.output_audio_transcript.delta" in kinds
    assert not {"response.audio.delta", "response.audio_transcript.delta"} & set(kinds)
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert audio == PCM
    said = "".join(
        e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
    )
    assert said == words
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": words}]
    assert done["usage"]["input_token_details"]["cached_tokens"] == 64
    assert done["usage"]["output_token_details"]["audio_tokens"] == 45


def test_what_the_person_said_arrives_as_ga_events_with_its_duration(env):
    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await opened(double, env)
            await double.hear("what is my balance", start_ms=1000, end_ms=2500)
            events = await until(upstream, "conversation.item.input_audio_transcription.completed")
            await upstream.close()
        return events

    events = asyncio.run(scenario())
    assert [e["type"] for e in events] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert events[-1]["transcript"] == "what is my balance"
    assert events[-1]["usage"] == {"type": "duration", "seconds": 1.5}
    assert events[3]["item"]["role"] == "user"


def test_a_function_call_round_trip_passes_through(env):
    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await opened(double, env)
            double.answers.append(double.function_call("look_up_points", {"player": "ana"}))
            double.answers.append(double.answer("Ana has five points."))
            await upstream.send({"type": "response.create"})
            first = await until(upstream, "response.done")
            [call] = [e for e in first if e["type"] == "response.function_call_arguments.done"]
            output = {"type": "function_call_output", "call_id": call["call_id"],
                      "output": json.dumps({"points": 5})}  # fmt: skip
            await upstream.send({"type": "conversation.item.create", "item": output})
            await upstream.send({"type": "response.create"})
            second = await until(upstream, "response.done")
            await upstream.close()
        return double, first, call, second

    double, first, call, second = asyncio.run(scenario())
    assert (call["name"], json.loads(call["arguments"])) == ("look_up_points", {"player": "ana"})
    assert first[-1]["response"]["output"][0]["type"] == "function_call"
    assert first[-1]["response"]["output"][0]["call_id"] == call["call_id"]
    assert double.refused == []
    kinds = [e["type"] for e in double.received]
    assert kinds == ["response.create", "conversation.item.create", "response.create"]
    assert double.received[1]["item"] == {
        "type": "function_call_output", "call_id": call["call_id"], "output": '{"points": 5}'
    }  # fmt: skip
    added = [e for e in second if e["type"] == "conversation.item.added"]
    assert added and added[0]["item"]["type"] == "function_call_output"
    assert second[-1]["response"]["output"][0]["content"][0]["transcript"] == (
        "Ana has five points."
    )


def test_barge_in_cancel_and_truncate_pass_through(env):
    async def scenario():
        async with VoiceLiveDouble(chunk_delay_s=0.05) as double:
            upstream = await opened(double, env)
            double.answers.append(double.answer("one two three four five six", PCM, chunks=40))
            await upstream.send({"type": "response.create"})
            first_audio = (await until(upstream, "response.output_audio.delta"))[-1]
            await double.speech_started(start_ms=5000)
            await until(upstream, "input_audio_buffer.speech_started")
            cancel = {"type": "response.cancel"}
            truncate = {"type": "conversation.item.truncate", "item_id": first_audio["item_id"],
                        "content_index": 0, "audio_end_ms": 120}  # fmt: skip
            await upstream.send(cancel)
            await upstream.send(truncate)
            events = await until(upstream, "conversation.item.truncated")
            await upstream.close()
        return double, cancel, truncate, events

    double, cancel, truncate, events = asyncio.run(scenario())
    assert double.received[-2:] == [cancel, truncate]
    assert double.refused == []
    [done] = [e for e in events if e["type"] == "response.done"]
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert events[-1]["audio_end_ms"] == 120
    assert events[-1]["item_id"] == truncate["item_id"]


def test_an_error_event_arrives_in_ga_shape_and_the_session_goes_on(env):
    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await opened(double, env)
            await double.warn("voice_fallback", "The voice fell back.")  # no GA counterpart
            await double.error("rate_limit_exceeded", "Rate limit reached for this resource.")
            [error] = [e for e in await until(upstream, "error")]
            await upstream.send({"type": "response.create"})
            done = await until(upstream, "response.done")
            await upstream.close()
        return error, done

    error, done = asyncio.run(scenario())
    assert error["error"]["code"] == "rate_limit_exceeded"
    assert done[-1]["response"]["status"] == "completed"


def test_without_a_key_an_entra_id_token_is_sent_as_a_bearer(env, monkeypatch):
    import azure.identity.aio
    from azure.core.credentials import AccessToken
    from azure.core.credentials_async import AsyncTokenCredential

    closed = []

    class Credential(AsyncTokenCredential):  # DefaultAzureCredential on a signed-in machine
        async def get_token(self, *scopes, **kwargs):
            assert scopes == ("https://ai.azure.com/.default",)
            return AccessToken(TOKEN, 4_000_000_000)

        async def close(self):
            closed.append(True)

    monkeypatch.setattr(azure.identity.aio, "DefaultAzureCredential", Credential)

    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await opened(double, env, azure_voicelive_api_key=None)
            await upstream.close()
        return double

    double = asyncio.run(scenario())
    assert double.handshakes[-1]["auth"] == "token"
    assert closed == [True]


def test_after_close_the_upstream_says_so_in_one_sentence(env):
    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await opened(double, env)
            await upstream.close()
            await upstream.close()  # twice is harmless
            with pytest.raises(UpstreamClosed) as sent:
                await upstream.send({"type": "response.create"})
            with pytest.raises(UpstreamClosed) as received:
                await upstream.recv()
        return sent.value, received.value

    sent, received = asyncio.run(scenario())
    assert sent.sentence == received.sentence == "The Azure AI Voice Live session is closed."
    assert not sent.retryable


def test_the_model_is_voicelives_own_setting_else_the_live_model_else_gpt_realtime():
    from types import SimpleNamespace as Given

    from assistant.live.voicelive_upstream import live_model

    both = Given(voicedesk_voicelive_model="phi4-mm-realtime", voicedesk_live_model="gpt-x")
    assert live_model(both) == "phi4-mm-realtime"
    assert (
        live_model(Given(voicedesk_voicelive_model=None, voicedesk_live_model="gpt-x")) == "gpt-x"
    )
    assert live_model(Given(voicedesk_voicelive_model=None)) == "gpt-realtime"
