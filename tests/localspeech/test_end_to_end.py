"""A spoken question through the real openai SDK, the real models and the embedded tool backends.

audio question -> tool call -> tools run on the embedded backends -> final spoken answer, whose
WAV is not silent and whose own transcription roughly matches the reply transcript.

The verdict does not hang on Whisper's exact words (they differ by CPU): call 1 must do exactly
what the router makes of what was heard, the tools run are those the written question routes to,
and word error rates have ceilings far above any measured (`python -m bench --only
offline_accuracy` gives the figures).
"""

from __future__ import annotations

import base64
import json
import threading

import pytest

from localspeech.compose import for_speech
from localspeech.router import route
from tests.localspeech.cases import Case
from tests.localspeech.fixtures import SpokenCase, word_error_rate
from tests.localspeech.helpers import ask, checked_client, messages
from tests.support import isolate_env, make_settings
from wavcodec import duration_s, rms_dbfs

pytestmark = pytest.mark.offline_models
# Ceilings far above what was measured, yet below the ~100 % of silence or another sentence:
# the question (Piper, no sampling noise) is heard with 0 errors; the reply (Piper samples, so
# each run differs, and "$117.00 won" comes back as "$170-1") with 5-40 %.
QUESTION_WER_CEILING = 0.5
REPLY_WER_CEILING = 0.75


@pytest.fixture
def registry(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    from assistant.service import build_backends
    from tools.registry import build_registry

    backends = build_backends(make_settings(tmp_path))
    return build_registry(backends), backends


def _speak(synthesiser, text: str) -> bytes:
    return synthesiser.wav(SpokenCase(Case(f"e2e-{text}", text, None, [], None), "piper", None))


def _turn(client, engine, registry, wav: bytes, text: str, customer: str | None):
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
    # Call 1 did exactly what the router makes of what was heard, whatever the words were.
    made = [
        (c.function.name, json.loads(c.function.arguments))
        for c in first.choices[0].message.tool_calls or []
    ]
    routed = route(heard["text"], registry.schemas(), customer)
    assert made == [(c.name, c.arguments) for c in routed.calls], heard["text"]
    assert first.choices[0].finish_reason == ("tool_calls" if made else "stop")
    # The rest of the turn runs on the calls the written question routes to, so it is the same
    # on every machine.
    calls = [(c.name, c.arguments) for c in route(text, registry.schemas(), customer).calls]
    results = [registry.run(name, json.dumps(arguments)) for name, arguments in calls]
    final = ask(client, _with_results(msgs, calls, results), registry.schemas())
    return heard["text"], calls, results, final


def _with_results(msgs: list[dict], calls: list[tuple[str, dict]], results) -> list[dict]:
    """The messages of call 2: + the assistant's tool calls + one tool message each."""
    ids = [f"call_e2e_{i}" for i in range(len(calls))]
    asked = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in zip(ids, calls, strict=True)
    ]
    out = [*msgs, {"role": "assistant", "content": None, "tool_calls": asked}]
    for call_id, result in zip(ids, results, strict=True):
        out.append({"role": "tool", "tool_call_id": call_id, "content": result.result.to_json()})
    return out


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
        expected_call = ("get_grievance_status", {"grievance_id": ticket.key})
    else:
        text, customer = "How many games did I play?", "maria"
        expected_call = ("get_player_summary", {"user_name": "maria"})

    heard, calls, results, final = _turn(
        client, real_engine, registry, _speak(synthesiser, text), text, customer
    )

    assert calls == [expected_call]
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
    print(f"\n{question}: heard {heard!r}; reply re-heard at {errors / words:.1%} word errors")
    assert errors / words <= REPLY_WER_CEILING, (transcript, reheard)
    assert len(transport.exchanges) == 2  # both calls checked against OpenAI's schema
    errors, words = word_error_rate(text, heard)
    assert errors / words <= QUESTION_WER_CEILING, heard
