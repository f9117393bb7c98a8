"""`python -m assistant` as a user runs it: a real process, the double on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave

import pytest

from assistant import PROJECT_ROOT
from tests.audio_factory import pcm16, speech_like, wav
from tests.doubles.chat_double import ChatDouble
from tests.support import SETTING_NAMES


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    clean.update({"VOICEDESK_NO_CONFIG_FILES": "1", "VOICEDESK_MAX_RETRIES": "0", **env})
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=PROJECT_ROOT, env=clean, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def auto_double():
    with ChatDouble(policy="auto") as double:
        yield double
    assert double.violations == []


@pytest.fixture
def env(tmp_path, auto_double):
    return {"VOICEDESK_DATA_DIR": str(tmp_path / "data"), "OPENAI_BASE_URL": auto_double.base_url}


def test_ask_a_recording_round_trip_with_tools(tmp_path, env, auto_double):
    question = tmp_path / "question.wav"
    question.write_bytes(wav(pcm16(speech_like(2.0))))
    out = tmp_path / "replies"
    result = run_cli(
        "ask", str(question), "--customer", "maria", "--json", "--out", str(out), env=env
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    turn = json.loads(line)
    assert turn["provider"] == "openai"
    names = [call["name"] for call in turn["tool_calls"]]
    assert names == ["get_player_summary", "search_help_center"]
    assert turn["tool_calls"][0]["arguments"] == {"user_name": "maria"}
    assert all(call["ok"] for call in turn["tool_calls"])
    assert "Maria Lopez played" in turn["transcript"]
    with wave.open(turn["audio_file"]) as saved:
        assert saved.getnframes() > 0
    assert set(turn["usage"]) >= {"prompt_tokens", "completion_tokens", "audio_prompt_tokens",
                                  "audio_completion_tokens", "cost_usd"}  # fmt: skip
    assert turn["timings_ms"]["understand"] >= 0 and turn["input_transcript"]
    # The tool results the model received came from the embedded database.
    tool_message = json.loads(auto_double.chat_requests[1].json["messages"][-2]["content"])
    assert tool_message["data"]["display_name"] == "Maria Lopez"


def test_a_failed_turn_is_reported_in_its_place_and_the_rest_still_run(tmp_path, env):
    good = tmp_path / "good.wav"
    good.write_bytes(wav(pcm16(speech_like(1.5))))
    bad = tmp_path / "bad.wav"
    bad.write_text("this is not audio")
    result = run_cli("ask", str(bad), str(good), "--json", env=env)
    assert result.returncode == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert set(first) == {"error"} and "not a WAV" in first["error"]
    assert second["transcript"]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one sentence
    assert result.stderr.startswith(f"{bad}: That file is not a WAV")


def test_typed_question_from_stdin(env):
    result = run_cli(
        "ask",
        "--text",
        "-",
        "--customer",
        "dev",
        "--json",
        env=env,
        stdin="Any news on my complaint?",
    )
    assert result.returncode == 0, result.stderr
    turn = json.loads(result.stdout)
    assert turn["input_transcript"] == "Any news on my complaint?"
    assert [c["name"] for c in turn["tool_calls"]] == ["get_player_summary", "list_grievances"]


def test_a_huge_typed_question_is_refused_with_one_sentence(env):
    result = run_cli("ask", "--text", "-", env=env, stdin="why " * 2_500_000)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "That question is too long; please keep it under 2,000 characters."
    )


def test_plain_output_reads_like_a_conversation(env):
    result = run_cli("ask", "--text", "How many points do I have?", "--customer", "sam", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("You: How many points do I have?")
    assert "[get_player_summary ok" in result.stdout and "VoiceDesk:" in result.stdout


def test_tool_command_prints_json_and_exit_status(env):
    found = run_cli("tool", "get_player_summary", '{"user_name": "sam"}', env=env)
    assert found.returncode == 0
    assert json.loads(found.stdout)["data"]["user_name"] == "sam"
    missing = run_cli("tool", "get_player_summary", '{"user_name": "nobody_here"}', env=env)
    assert missing.returncode == 1 and json.loads(missing.stdout)["ok"] is False
    unknown = run_cli("tool", "launch_rockets", "{}", env=env)
    assert unknown.returncode == 1 and "no tool called" in unknown.stderr


def test_unreachable_model_is_one_sentence(tmp_path):
    env = {"VOICEDESK_DATA_DIR": str(tmp_path), "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    result = run_cli("ask", "--text", "hello", env=env)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "OpenAI cannot be reached; check the network connection and try again."
    )


def test_config_names_the_provider_and_hides_secrets(tmp_path):
    env = {"VOICEDESK_DATA_DIR": str(tmp_path), "OPENAI_API_KEY": "sk-CANARY-123456"}
    result = run_cli("config", env=env)
    assert result.returncode == 0
    assert "openai (OPENAI_API_KEY is set)" in result.stdout
    assert "CANARY" not in result.stdout + result.stderr


def test_recordings_are_not_written_to_disk_or_logs(tmp_path, env):
    question = tmp_path / "question.wav"
    question.write_bytes(wav(pcm16(speech_like(1.5))))
    run_cli("ask", str(question), "--customer", "maria", env=env)
    data_dir = tmp_path / "data"
    written = [p for p in data_dir.rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix == ".wav"]
    log = (data_dir / "voicedesk.log").read_text()
    assert "How many games did I play" not in log  # the double's transcript of the question


def test_doctor_checks_the_model_and_every_backend(tmp_path):
    ok = run_cli("doctor", env={"VOICEDESK_DATA_DIR": str(tmp_path)})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name in ("Model", "Player statistics", "Help centre", "Grievances"):
        assert f"ok   {name}" in ok.stdout
    broken = run_cli(
        "doctor", env={"VOICEDESK_DATA_DIR": str(tmp_path), "VOICEDESK_PROVIDER": "azure"}
    )
    assert broken.returncode == 1
    assert "Azure OpenAI needs AZURE_OPENAI_ENDPOINT" in broken.stdout
