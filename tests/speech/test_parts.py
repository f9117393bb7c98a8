"""Choosing the cascade's parts from the settings: defaults that follow the provider, one setting
per part, `config` saying why, `doctor` checking each part within a time limit."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from assistant.config import ConfigError
from assistant.speech.parts import build_parts, check_parts, choices
from tests.resilience.support import assert_one_sentence, cli_env, run_cli
from tests.support import isolate_env, make_settings


@pytest.fixture
def settings_for(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    return lambda **overrides: make_settings(tmp_path, voicedesk_mode="cascade", **overrides)


def chosen(settings) -> list[tuple[str, str]]:
    return [(c.vendor, c.model) for c in choices(settings)]


def test_unset_parts_follow_the_provider_in_force(settings_for):
    assert chosen(settings_for()) == [("local", "whisper-tiny.en"),
                                      ("local", "voicedesk-offline"), ("local", "piper")]
    assert chosen(settings_for(openai_api_key="sk-x")) == [
        ("openai", "gpt-4o-mini-transcribe"), ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4o-mini-tts")]
    azure = settings_for(azure_openai_endpoint="https://x.openai.azure.com",
                         azure_openai_transcribe_deployment="stt", voicedesk_text_model="chat",
                         voicedesk_tts_model="tts")
    assert chosen(azure) == [("azure_openai", "stt"), ("azure_openai", "chat"),
                             ("azure_openai", "tts")]  # fmt: skip


def test_each_part_can_be_set_on_its_own(settings_for):
    settings = settings_for(voicedesk_stt="OpenAI", voicedesk_stt_model="whisper-1",
                            openai_api_key="sk-x",
                            voicedesk_text_base_url="http://127.0.0.1:11434/v1",
                            voicedesk_text_model="llama3.2", voicedesk_tts="openai",
                            voicedesk_tts_model="tts-1", voicedesk_tts_voice="coral")  # fmt: skip
    assert chosen(settings) == [("openai", "whisper-1"), ("server", "llama3.2"),
                                ("openai", "tts-1")]  # fmt: skip
    assert choices(settings)[2].voice == "coral"
    parts = build_parts(settings)
    assert str(parts.text.api.base_url) == "http://127.0.0.1:11434/v1/"
    assert parts.synthesizer.voice == "coral" and parts.transcriber.model == "whisper-1"


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"azure_openai_endpoint": "https://x.openai.azure.com"}, "VOICEDESK_STT_MODEL"),
        ({"voicedesk_text_base_url": "http://127.0.0.1:8000/v1"}, "VOICEDESK_TEXT_MODEL"),
    ],
)
def test_a_part_without_its_model_is_one_sentence_naming_the_setting(settings_for, overrides,
                                                                     setting):  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        build_parts(settings_for(**overrides))
    assert_one_sentence(str(caught.value))
    assert setting in str(caught.value)


def test_config_explains_each_part_and_why(clean_env):
    done = run_cli("config", env=cli_env(VOICEDESK_MODE="cascade", OPENAI_API_KEY="sk-secret",
                                         VOICEDESK_TTS="local"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines() if line.strip())
    assert lines["mode"] == "cascade (VOICEDESK_MODE is set)"
    assert lines["hearing"] == "OpenAI gpt-4o-mini-transcribe (follows the provider, openai)"
    assert lines["thinking"] == "OpenAI gpt-4o-mini (follows the provider, openai)"
    assert lines["speaking"] == "offline engine piper, voice joe (VOICEDESK_TTS is set)"
    assert "sk-secret" not in done.stdout


def test_doctor_asks_a_text_model_server_for_its_models_and_says_when_it_is_down(settings_for):
    with HTTPServer(host="127.0.0.1", port=0) as server:
        server.expect_request("/v1/models").respond_with_data(
            json.dumps({"object": "list", "data": []}), content_type="application/json")
        url = server.url_for("/v1")
        rows = check_parts(settings_for(voicedesk_text_base_url=url, voicedesk_text_model="m"))
        assert [r.tool for r in rows] == ["Hearing", "Thinking", "Speaking"]
        assert rows[1].ok and rows[1].where == url and len(server.log) == 1
    down = check_parts(settings_for(voicedesk_text_base_url=url, voicedesk_text_model="m"))[1]
    assert not down.ok and "VOICEDESK_TEXT_BASE_URL" in down.fix
    assert_one_sentence(down.fix)


def test_doctor_gives_up_on_a_part_after_its_time_limit(settings_for):
    with HTTPServer(host="127.0.0.1", port=0) as server:
        import time

        server.expect_request("/v1/models").respond_with_handler(
            lambda request: time.sleep(3) or None)
        rows = check_parts(settings_for(voicedesk_text_base_url=server.url_for("/v1"),
                                        voicedesk_text_model="m"), timeout=0.5)  # fmt: skip
    assert not rows[1].ok and rows[1].latency is None
    assert rows[1].fix == "It did not answer within 0.5 seconds."
