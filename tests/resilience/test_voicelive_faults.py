"""Faults of Azure AI Voice Live, through the real `azure-ai-voicelive` SDK against the double:
each is one plain sentence (`UpstreamClosed.sentence`) that says whether trying again can help,
with no traceback and no key in it or in VoiceDesk's log (set up as the app sets it up); after a
fault that can pass, a new session is had on the same settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from assistant.live.base import UpstreamClosed
from assistant.live.voicelive_upstream import connect
from assistant.logs import setup_logging
from tests.live.voicelive_double import API_KEY, VoiceLiveDouble
from tests.resilience.support import assert_one_sentence
from tests.support import isolate_env, make_settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def env(monkeypatch, tmp_path):
    isolate_env(monkeypatch)
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME",
                 "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)  # no Entra ID identity on this machine
    setup_logging(make_settings(tmp_path))  # VoiceDesk's log, as the page and CLI set it up
    return tmp_path


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario, timeout=60))


def settings_for(endpoint: str | None, data_dir, **overrides):
    values = {"azure_voicelive_endpoint": endpoint, "azure_voicelive_api_key": API_KEY}
    return make_settings(data_dir, **{**values, **overrides})


def assert_told_plainly(fault: UpstreamClosed, data_dir) -> None:
    assert_one_sentence(fault.sentence)
    assert API_KEY not in fault.sentence
    log = (data_dir / "voicedesk.log").read_text(encoding="utf-8")
    assert "Azure AI Voice Live:" in log, "the fault is logged"
    assert API_KEY not in log
    assert "Traceback" not in log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Refusal:
    name: str
    arrange: Callable[[VoiceLiveDouble], dict]  # sets the double up; returns settings overrides
    says: str  # words the sentence must hold
    retryable: bool


def refuse(status: int) -> Callable[[VoiceLiveDouble], dict]:
    def arrange(double: VoiceLiveDouble) -> dict:
        double.refuse_status = status
        return {}

    return arrange


REFUSALS = [
    Refusal("401 wrong key", lambda d: {"azure_voicelive_api_key": "wrong-key-42"},
            "refused the key", retryable=False),
    Refusal("403 no role", refuse(403), "refused the key or sign-in", retryable=False),
    Refusal("404 unknown model", lambda d: {"voicedesk_voicelive_model": "gpt-nonesuch"},
            "no model gpt-nonesuch", retryable=False),
    Refusal("429 rate limit", refuse(429), "try again in a minute", retryable=True),
    Refusal("503 unavailable", refuse(503), "unavailable right now", retryable=True),
]  # fmt: skip


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: r.name)
def test_a_refused_connection_is_one_sentence_that_says_whether_to_try_again(env, refusal):
    async def scenario():
        async with VoiceLiveDouble() as double:
            overrides = refusal.arrange(double)
            with pytest.raises(UpstreamClosed) as refused:
                await connect(settings_for(double.endpoint, env, **overrides))
            if refusal.retryable:  # once the service takes sessions again, one is had
                double.refuse_status = None
                upstream = await connect(settings_for(double.endpoint, env))
                assert (await upstream.recv())["type"] == "session.created"
                await upstream.close()
        return refused.value

    fault = run(scenario())
    assert refusal.says in fault.sentence
    assert fault.retryable is refusal.retryable
    assert_told_plainly(fault, env)


@pytest.mark.parametrize(
    ("endpoint", "says", "retryable"),
    [
        (None, "set AZURE_VOICELIVE_ENDPOINT", False),
        ("voicelive.example", "not a valid address", False),
        ("http://127.0.0.1:{port}", "could not be reached", True),
    ],
    ids=["no endpoint", "not an address", "nothing listening"],
)
def test_a_missing_or_unreachable_endpoint_is_one_sentence(env, endpoint, says, retryable):
    if endpoint:
        endpoint = endpoint.format(port=free_port())
    with pytest.raises(UpstreamClosed) as refused:
        run(connect(settings_for(endpoint, env)))
    assert says in refused.value.sentence
    assert refused.value.retryable is retryable
    assert_told_plainly(refused.value, env)


def test_no_key_and_no_signed_in_identity_is_one_sentence(env):
    async def scenario():
        async with VoiceLiveDouble() as double:
            with pytest.raises(UpstreamClosed) as refused:
                await connect(settings_for(double.endpoint, env, azure_voicelive_api_key=None))
        return double, refused.value

    double, fault = run(scenario())
    assert "No Entra ID sign-in was found" in fault.sentence
    assert not fault.retryable
    assert double.handshakes == []  # nothing was sent without credentials
    assert_told_plainly(fault, env)


def test_a_handshake_that_never_answers_times_out_in_one_sentence(env):
    async def scenario():
        async def silent(reader, writer):
            await reader.read(65536)  # take the upgrade request, never answer
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(30)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(UpstreamClosed) as refused:
                await connect(
                    settings_for(f"http://127.0.0.1:{port}", env, voicedesk_request_timeout=1.0)
                )
        finally:
            server.close()
        return refused.value

    fault = run(scenario())
    assert "did not answer in time" in fault.sentence
    assert fault.retryable
    assert_told_plainly(fault, env)


@pytest.mark.parametrize("how", ["dropped", "closed by the service"])
def test_a_lost_connection_is_one_sentence_and_a_new_session_can_be_had(env, how):
    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await connect(settings_for(double.endpoint, env))
            assert (await upstream.recv())["type"] == "session.created"
            if how == "dropped":
                await double.drop()
            else:
                await double.end_session(1000, "session time limit reached")
            with pytest.raises(UpstreamClosed) as lost:
                while True:
                    await upstream.recv()
            with pytest.raises(UpstreamClosed) as unsent:
                await upstream.send({"type": "response.create"})
            await upstream.close()
            again = await connect(settings_for(double.endpoint, env))
            assert (await again.recv())["type"] == "session.created"
            await again.send({"type": "response.create"})
            while (await again.recv())["type"] != "response.done":
                pass
            await again.close()
        return lost.value, unsent.value

    lost, unsent = run(scenario())
    assert lost.sentence == "The connection to Azure AI Voice Live was lost."
    assert lost.retryable
    assert_one_sentence(unsent.sentence)
    assert_told_plainly(lost, env)


def test_no_customer_words_reach_the_log_even_at_debug_level(env, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # everything, whatever the app's own levels
    azure = logging.getLogger("azure")
    monkeypatch.setattr(azure, "level", logging.NOTSET)  # as if a developer turned on DEBUG
    words = "my account number is 99812 and my name is Ana"

    async def scenario():
        async with VoiceLiveDouble() as double:
            upstream = await connect(settings_for(double.endpoint, env))
            await double.hear(words)
            while (await upstream.recv())["type"] != (
                "conversation.item.input_audio_transcription.completed"
            ):
                pass
            await upstream.send({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": words}]}})  # fmt: skip
            await double.wait_for("conversation.item.create")
            await upstream.close()

    run(scenario())
    assert "Azure AI Voice Live: session open" in caplog.text, "the log was captured"
    assert "99812" not in caplog.text
