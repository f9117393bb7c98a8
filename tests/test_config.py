import re

import pytest

from assistant import PROJECT_ROOT
from assistant.config import ConfigError, Settings, load_settings, secret_values
from tests.support import isolate_env


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    isolate_env(monkeypatch)


@pytest.mark.parametrize(
    ("env", "provider", "why"),
    [
        ({}, "offline", "no OpenAI"),
        ({"OPENAI_API_KEY": "sk-test"}, "openai", "OPENAI_API_KEY"),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, "openai", "OPENAI_BASE_URL"),
        (
            {"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com", "OPENAI_API_KEY": "k"},
            "azure",
            "AZURE_OPENAI_ENDPOINT",
        ),
        ({"VOICEDESK_PROVIDER": "Offline", "OPENAI_API_KEY": "k"}, "offline", "VOICEDESK_PROVIDER"),
    ],
)
def test_provider_is_chosen_from_what_is_set(monkeypatch, env, provider, why):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    chosen, reason = load_settings().provider_decision
    assert chosen == provider
    assert why in reason


@pytest.mark.parametrize(
    ("env", "mode", "why"),
    [
        ({}, "cascade", "follows the provider, offline"),
        ({"OPENAI_API_KEY": "sk-test"}, "audio_chat", "follows the provider, openai"),
        ({"VOICEDESK_MODE": " ", "OPENAI_API_KEY": "k"}, "audio_chat", "follows the provider"),
        ({"VOICEDESK_MODE": "audio_chat"}, "audio_chat", "VOICEDESK_MODE is set"),
        ({"VOICEDESK_MODE": "Cascade", "OPENAI_API_KEY": "k"}, "cascade", "VOICEDESK_MODE is set"),
    ],
)
def test_the_mode_in_force_follows_the_provider_unless_voicedesk_mode_is_set(
    monkeypatch, env, mode, why
):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.mode == mode
    rows = dict(settings.describe())
    assert rows["mode"].startswith(f"{mode} (") and why in rows["mode"], rows["mode"]
    assert ("hearing" in rows) == (mode == "cascade"), "the cascade's parts are described"


def test_answering_offline_from_a_cloud_setup_takes_the_offline_mode(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = load_settings()
    assert settings.mode_for("offline")[0] == "cascade"  # ask --offline, "Answer offline"
    assert settings.mode_for("openai")[0] == "audio_chat"
    assert load_settings(voicedesk_mode="audio_chat").mode_for("offline")[0] == "audio_chat"


def test_unknown_provider_is_one_sentence(monkeypatch):
    monkeypatch.setenv("VOICEDESK_PROVIDER", "watson")
    with pytest.raises(ConfigError, match="VOICEDESK_PROVIDER"):
        load_settings()


def test_sdk_api_version_variable_is_honoured(monkeypatch):
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    assert load_settings().azure_openai_api_version == "2025-04-01-preview"
    monkeypatch.delenv("OPENAI_API_VERSION")
    assert load_settings().azure_openai_api_version == "2025-01-01-preview"


def test_azure_uses_the_deployment_as_model(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "voice-prod")
    assert load_settings().model_name == "voice-prod"


def test_voice_not_offered_by_the_model_gets_a_clear_sentence():
    settings = load_settings(voicedesk_model="gpt-4o-audio-preview", voicedesk_voice="marin")
    with pytest.raises(ConfigError, match="not offered by gpt-4o-audio-preview"):
        settings.check_voice()
    load_settings(voicedesk_model="gpt-audio", voicedesk_voice="marin").check_voice()


def test_describe_never_reveals_a_secret(monkeypatch):
    canary = "sk-CANARY-4242-do-not-print"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    monkeypatch.setenv("JIRA_API_TOKEN", "jira-CANARY")
    monkeypatch.setenv("SQL_CONNECTION_STRING", "Driver={x};Server=s;Uid=u;Pwd={p@ss-CANARY};")
    settings = load_settings()
    rendered = repr(settings) + str(settings.describe()) + str(settings.model_dump())
    assert "CANARY" not in rendered
    assert ("OPENAI_API_KEY", "set") in settings.describe()
    assert set(secret_values(settings)) >= {canary, "jira-CANARY", "p@ss-CANARY"}


def test_secrets_toml_top_level_keys_are_read(monkeypatch, tmp_path):
    import assistant.config as config

    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        'VOICEDESK_VOICE = "coral"\nOPENAI_BASE_URL = "http://127.0.0.1:1/v1"\n[auth]\nclient_id = "x"\n'
    )
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    monkeypatch.delenv("VOICEDESK_NO_CONFIG_FILES")
    monkeypatch.setitem(Settings.model_config, "env_file", tmp_path / ".env")
    settings = load_settings()
    assert settings.voicedesk_voice == "coral"
    assert settings.provider == "openai"
    monkeypatch.setenv("VOICEDESK_VOICE", "sage")  # the environment wins over the file
    assert load_settings().voicedesk_voice == "sage"


def test_secrets_example_documents_every_setting():
    example = (PROJECT_ROOT / ".streamlit" / "secrets.toml.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)\s*=", example, flags=re.M))
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f"undocumented settings: {sorted(missing)}"
