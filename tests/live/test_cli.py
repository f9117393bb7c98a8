"""`python -m assistant live`: recordings spoken into one live session, against the double."""

from __future__ import annotations

import json
import wave

from tests.live.realtime_double import RATE, Call, Say, Turn, silence, tone
from tests.live.realtime_double import wav as to_wav
from tests.resilience.support import assert_one_sentence, cli_env, run_cli


def _recording(path, speech_ms=500):
    path.write_bytes(to_wav(silence(200) + tone(speech_ms) + silence(200)))
    return str(path)


def _env(double, tmp_path, **extra):
    settings = {
        "VOICEDESK_PROVIDER": "openai",
        "OPENAI_BASE_URL": double.base_url,
        "OPENAI_API_KEY": "sk-test",
        "VOICEDESK_DATA_DIR": str(tmp_path / "data"),
    }
    return cli_env(**{**settings, **extra})  # fmt: skip


def test_live_answers_each_recording_in_one_session_as_json(realtime_double, tmp_path):
    realtime_double.script(
        Turn("How is maria doing?", [Call(("get_player_summary", {"user_name": "maria"})),
                                     Say("Maria is a gold player.")]),
        Turn("Thanks, and withdrawals?", [Say("Up to three working days.")]),
    )  # fmt: skip
    first, second = _recording(tmp_path / "q1.wav"), _recording(tmp_path / "q2.wav")
    out = tmp_path / "replies"
    done = run_cli("live", first, second, "--customer", "maria", "--json", "--out", str(out),
                   env=_env(realtime_double, tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["transcript"] for a in answers] == [
        "Maria is a gold player.", "Up to three working days."]  # fmt: skip
    assert [a["input_transcript"] for a in answers] == [
        "How is maria doing?", "Thanks, and withdrawals?"]  # fmt: skip
    assert answers[0]["tool_calls"][0]["name"] == "get_player_summary"
    assert answers[0]["tool_calls"][0]["arguments"] == {"user_name": "maria"}
    for answer in answers:
        assert {"usage", "timings_ms", "audio_file", "actions", "provider"} <= set(answer)
        assert answer["first_sound_s"] is not None and answer["first_sound_s"] >= 0
        with wave.open(answer["audio_file"]) as saved:
            assert saved.getframerate() == RATE and saved.getnframes() > 0
    assert realtime_double.connections == 1 and realtime_double.ended == 1


def test_live_without_keys_or_the_local_realtime_server_is_one_sentence(tmp_path):
    # An install without the local engine's realtime server (localspeech/realtime_server.py)
    # says so; with it, tests/localspeech/test_live_cli.py answers with the local engine.
    blocker = tmp_path / "no_local_realtime"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.modules['localspeech.realtime_server'] = None\n", encoding="utf-8"
    )
    env = cli_env(VOICEDESK_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(blocker))
    done = run_cli("live", _recording(tmp_path / "q.wav"), env=env)
    assert done.returncode != 0 and done.stdout == ""
    assert_one_sentence(done.stderr.strip())
    assert "realtime server" in done.stderr


def test_live_with_an_unreadable_recording_is_one_sentence(realtime_double, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    done = run_cli("live", str(bad), env=_env(realtime_double, tmp_path))
    assert done.returncode != 0
    assert_one_sentence(done.stderr.strip())
    assert realtime_double.connections == 0


def test_live_with_a_refused_key_is_one_sentence_and_an_error_per_recording(
    realtime_double, tmp_path
):
    files = [_recording(tmp_path / "q1.wav"), _recording(tmp_path / "q2.wav")]
    env = _env(realtime_double, tmp_path, OPENAI_API_KEY="sk-wrong")
    done = run_cli("live", *files, "--json", env=env)
    assert done.returncode == 1
    (sentence,) = done.stderr.strip().splitlines()
    assert_one_sentence(sentence)
    assert "refused the API key" in sentence and "sk-wrong" not in done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [{"error": sentence}] * 2
