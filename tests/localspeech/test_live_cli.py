"""`python -m assistant live` with no keys answers with the local engine: two spoken questions
streamed into one session, each answered aloud, as one JSON object per answer. What Whisper
hears is the CPU's; what is asserted is that both were heard and answered with the local
engine's voice, and that a tool ran exactly when the router asks for one on the words heard."""

from __future__ import annotations

import json
import wave

import pytest

from tests.localspeech.cases import Case, decide
from tests.localspeech.fixtures import SpokenCase
from tests.resilience.support import cli_env, run_cli

pytestmark = [pytest.mark.offline_models, pytest.mark.timeout(600)]


def _spoken(synthesiser, path, text):
    path.write_bytes(synthesiser.wav(SpokenCase(Case(f"cli-{text}", text, None, [], None),
                                                "piper", None)))  # fmt: skip
    return str(path)


def test_live_without_keys_answers_each_recording_with_the_local_engine(synthesiser, tmp_path):
    first = _spoken(synthesiser, tmp_path / "q1.wav", "How many games did maria play?")
    second = _spoken(synthesiser, tmp_path / "q2.wav", "Does maria have any open grievances?")
    done = run_cli(
        "live", first, second, "--customer", "maria", "--json", "--out", str(tmp_path / "out"),
        env=cli_env(VOICEDESK_DATA_DIR=str(tmp_path / "data")), timeout=480,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == 2
    for answer in answers:
        assert answer["provider"] == "offline" and answer["input_transcript"]
        assert answer["transcript"] and answer["first_sound_s"] > 0
        # Whether a tool runs depends on what Whisper heard (the CPU's): the router's own
        # decision on those words says whether one must have.
        asked = decide(Case("heard", answer["input_transcript"], "maria", [], None))
        assert bool(answer["tool_calls"]) == (asked.kind == "tools"), answer["input_transcript"]
        with wave.open(answer["audio_file"]) as saved:
            assert saved.getnframes() > saved.getframerate() // 2  # at least half a second
    assert "Traceback" not in done.stderr
