"""Spoken questions (Piper and espeak-ng voices, some slowed, some noisy) through the real models.

What the words do not decide is asserted exactly: every answer holds OpenAI's schema, and the
engine routes exactly what it heard (the router is deterministic on a transcript). What the words
do decide is measured, not tested: Whisper's int8 kernels and espeak-ng's output differ by CPU
and package build (89 % on one AMD EPYC, 90 % on a Xeon, 87.5 % there with
CT2_FORCE_CPU_ISA=GENERIC), so `python -m bench --only offline_accuracy`
reports routing exactness and word error rate, and this test asserts only floors far below what
any machine gives. Routing from the written questions is exact: tests/localspeech/test_router.py.
"""

from __future__ import annotations

import io
import json
import wave

import pytest

from localspeech.router import Call, Decision, route
from tests.contracts.openai_chat import validate_request, validate_response
from tests.localspeech.cases import mismatch, tool_schemas
from tests.localspeech.fixtures import spoken_cases, word_error_rate
from tests.localspeech.helpers import messages

pytestmark = pytest.mark.offline_models
# Floors with a wide margin under every figure measured (routing 87.5-90 %, word error rate
# 1.9-2.2 % Piper, 14.6-16.9 % espeak-ng): they catch a broken model or pipeline, not a CPU's rounding.
ROUTING_FLOOR = 0.70
WER_CEILING = {"piper": 0.10, "espeak": 0.35}


def _calls(message: dict) -> list[Call]:
    return [
        Call(c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls") or []
    ]


@pytest.mark.timeout(900)  # ~80 s on 2 idle cores, the first run synthesising the recordings
def test_spoken_questions_are_answered_in_schema_routed_as_heard_and_mostly_exact(
    real_engine, synthesiser
):
    tools = tool_schemas()
    cases = spoken_cases()
    assert len({c.case.id for c in cases}) >= 30
    assert {c.voice for c in cases} == {"piper", "espeak"}
    failures, edits = [], {"piper": [0, 0], "espeak": [0, 0]}
    for spoken in cases:
        wav = synthesiser.wav(spoken)
        body = {  # text out: the spoken answers are the end-to-end test's business
            "model": "voicedesk-offline",
            "tools": tools,
            "tool_choice": "auto",
            "messages": messages(wav, customer=spoken.case.customer),
        }
        validate_request(body)
        response = real_engine.chat(body)
        validate_response(response)
        decision = Decision(
            real_engine.last_trace.decision, _calls(response["choices"][0]["message"])
        )
        heard = real_engine.stt.transcribe(wav)
        assert heard.text.strip(), f"{spoken.id}: nothing was heard"
        # Whatever was heard, the engine did exactly what the router makes of that transcript.
        expected = route(heard.text, tools, spoken.case.customer)
        assert (decision.kind, decision.calls) == (expected.kind, expected.calls), spoken.id
        errors, words = word_error_rate(spoken.case.text, heard.raw)
        edits[spoken.voice][0] += errors
        edits[spoken.voice][1] += words
        problem = mismatch(spoken.case, decision)
        if problem:
            failures.append(f"{spoken.id}: heard {heard.raw!r}: {problem}")
    rate = 1 - len(failures) / len(cases)
    wer = {voice: e / n for voice, (e, n) in edits.items()}
    report = (
        f"\noffline routing: {len(cases) - len(failures)}/{len(cases)} exact ({rate:.1%}); "
        + "word error rate: "
        + ", ".join(f"{v} {w:.1%}" for v, w in wer.items())
        + "".join(f"\n  miss {f}" for f in failures)
    )
    print(report)
    assert rate >= ROUTING_FLOOR, report
    for voice, ceiling in WER_CEILING.items():
        assert wer[voice] <= ceiling, report


def test_slowed_and_noisy_recordings_are_really_different(synthesiser):
    """The variants are not silently the same audio as the plain recording."""
    from tests.localspeech.fixtures import SpokenCase

    case = next(c for c in spoken_cases() if c.variant == "noise").case
    plain = synthesiser.wav(SpokenCase(case, "piper", None))
    noisy = synthesiser.wav(SpokenCase(case, "piper", "noise"))
    slow = synthesiser.wav(SpokenCase(case, "piper", "slow"))
    assert noisy != plain and len(noisy) == len(plain)
    assert len(slow) > len(plain) * 1.15
    for wav in (plain, noisy, slow):
        with wave.open(io.BytesIO(wav)) as header:
            assert (header.getframerate(), header.getnchannels(), header.getsampwidth()) == (
                16_000,
                1,
                2,
            )
