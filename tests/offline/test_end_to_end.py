"""A spoken question through the real openai SDK, the real models and the embedded tool backends.

audio question -> tool call -> tools run on the embedded backends -> final spoken answer, whose
WAV is not silent and whose own transcription matches the reply transcript.
"""

from __future__ import annotations

import base64
import json
import threading

import pytest

from assistant.offline.compose import for_speech
from tests.offline.cases import Case
from tests.offline.fixtures import SpokenCase, word_error_rate
from tests.offline.helpers import ask, checked_client, messages, with_results
from tests.support import isolate_env, make_settings
from wavcodec import duration_s, rms_dbfs

pytestmark = pytest.mark.offline_models


@pytest.fixture
def registry(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    from assistant.service import build_backends
    from tools.registry import build_registry

    backends = build_backends(make_settings(tmp_path))
    return build_registry(backends), backends


def _speak(synthesiser, text: str) -> bytes:
    return synthesiser.wav(SpokenCase(Case(f"e2e-{text}", text, None, [], None), "piper", None))


def _turn(client, engine, registry, wav: bytes, customer: str | None):
    """What assistant.turn does: call 1 with the transcription alongside, tools, call 2."""
    runs_before = engine.stt.transcriptions
    heard = {}
    transcription = threading.Thread(
        target=lambda: heard.setdefault(
            "text",
            client.audio.transcriptions.create(
                model="whisper-tiny.en", file=("question.wav", wav, "audio/wav")
            ).text,
        )
    )
    transcription.start()
    msgs = messages(wav, customer=customer)
    first = ask(client, msgs, registry.schemas())
    transcription.join()
    assert engine.stt.transcriptions - runs_before == 1, "the recording was transcribed twice"
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls", first.choices[0].message
    results = [registry.run(c.function.name, c.function.arguments) for c in calls]
    final = ask(
        client, with_results(msgs, first, [r.result.to_json() for r in results]), registry.schemas()
    )
    return heard["text"], calls, results, final


@pytest.mark.parametrize("question", ["status", "games"])
def test_a_spoken_question_gets_a_grounded_spoken_answer(
    question, real_engine, synthesiser, registry
):
    registry, backends = registry
    client, transport = checked_client(real_engine)
    if question == "status":
        ticket = backends.grievances.list_for("maria")[0]
        number = ticket.key.split("-")[1]
        text, customer = f"What is the status of grievance G R V {number}?", None
        expected_call = ("get_grievance_status", ticket.key)
    else:
        text, customer = "How many games did I play?", "maria"
        expected_call = ("get_player_summary", "maria")

    heard, calls, results, final = _turn(
        client, real_engine, registry, _speak(synthesiser, text), customer
    )

    assert [c.function.name for c in calls] == [expected_call[0]]
    arguments = json.loads(calls[0].function.arguments)
    assert expected_call[1] in {arguments.get("grievance_id"), arguments.get("user_name")}
    assert all(r.result.ok for r in results), [r.result for r in results]
    choice = final.choices[0]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    transcript = choice.message.audio.transcript
    assert results[0].result.summary.split(" ")[0] in transcript  # grounded on the tool result
    reply_wav = base64.b64decode(choice.message.audio.data)
    assert duration_s(reply_wav) > 1.0
    assert rms_dbfs(reply_wav) > -35.0, "the reply is silent"
    reheard = client.audio.transcriptions.create(
        model="whisper-tiny.en", file=("reply.wav", reply_wav, "audio/wav")
    ).text
    # Compared as spoken: "$117.00" is said "117 dollars", which Whisper may write "$117".
    errors, words = word_error_rate(for_speech(transcript), for_speech(reheard))
    assert errors / words <= 0.25, (transcript, reheard)
    assert len(transport.exchanges) == 2  # both calls checked against OpenAI's schema
    assert word_error_rate(text, heard)[0] <= 2, heard
