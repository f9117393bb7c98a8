"""One typed settings object, read from the environment, `.env` and `.streamlit/secrets.toml`."""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import tomllib
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from assistant import PROJECT_ROOT
from tools.player_stats import USER_NAME_PATTERN

Provider = Literal["openai", "azure", "offline"]
Mode = Literal["audio_chat", "cascade"]
SpeechVendor = Literal["openai", "azure_openai", "azure_speech", "local"]
OFFLINE_MODEL = "voicedesk-offline"  # Whisper tiny.en, a tool router and Piper, on this machine
OFFLINE_TRANSCRIBER = "whisper-tiny.en"

# Voices each model family offers (OpenAI's VoiceIdsShared; marin and cedar are newer models').
CLASSIC_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse")
ALL_VOICES = (*CLASSIC_VOICES, "marin", "cedar")


def voices_for(model: str) -> tuple[str, ...]:
    name = model.lower()
    if name.startswith(("gpt-4o-audio", "gpt-4o-mini-audio")):
        return CLASSIC_VOICES
    return ALL_VOICES


class ConfigError(Exception):
    """A setting is missing or wrong. The message is one plain sentence saying what to do."""


class _SecretsToml(PydanticBaseSettingsSource):
    """Top-level keys of Streamlit's secrets.toml, matched case-insensitively; sections ignored."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path):
        super().__init__(settings_cls)
        self.values: dict[str, Any] = {}
        if path.is_file():
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
            self.values = {k.lower(): v for k, v in raw.items() if not isinstance(v, dict)}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        names = set(self.settings_cls.model_fields)
        return {k: v for k, v in self.values.items() if k in names}


def _files_enabled() -> bool:
    return os.environ.get("VOICEDESK_NO_CONFIG_FILES", "") not in ("1", "true", "yes")


class Settings(BaseSettings):
    """Every setting VoiceDesk reads. Field names are the environment variables, lower-cased."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    # OpenAI
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    # Azure OpenAI
    azure_openai_endpoint: str | None = None
    azure_openai_deployment: str | None = None
    azure_openai_api_version: str = Field(
        "2025-01-01-preview",
        validation_alias=AliasChoices("azure_openai_api_version", "openai_api_version"),
    )
    azure_openai_api_key: SecretStr | None = None
    azure_openai_transcribe_deployment: str | None = None
    # VoiceDesk
    voicedesk_provider: Provider | None = None
    voicedesk_model: str = "gpt-4o-audio-preview"
    voicedesk_voice: str = "alloy"
    voicedesk_transcribe_model: str = "gpt-4o-mini-transcribe"
    voicedesk_max_seconds: float = Field(60.0, gt=0, le=600)
    # A user name, never free text: it goes into the model's instructions.
    voicedesk_customer: str | None = Field(default=None, pattern=USER_NAME_PATTERN)
    voicedesk_data_dir: Path = PROJECT_ROOT / ".voicedesk"
    voicedesk_request_timeout: float = Field(60.0, gt=0)
    voicedesk_max_retries: int = Field(2, ge=0, le=5)  # the SDK's retries of 429, 5xx, timeouts
    voicedesk_tool_timeout: float = Field(10.0, gt=0)
    # Azure AI Voice Live
    # With VOICEDESK_LIVE_PROVIDER=voicelive: the resource's endpoint, its key (none: Entra ID
    # through DefaultAzureCredential), the model (none: VOICEDESK_LIVE_MODEL, else gpt-realtime),
    # and an Azure voice (e.g. en-US-Ava:DragonHDLatestNeural) or an OpenAI voice name.
    azure_voicelive_endpoint: str | None = None
    azure_voicelive_api_key: SecretStr | None = None
    voicedesk_voicelive_model: str | None = None
    voicedesk_voicelive_voice: str = "en-US-Ava:DragonHDLatestNeural"
    voicedesk_prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    # Azure AI Speech (cascade mode)
    # A key with its region, or (for Entra ID, when no key is set) the resource's custom domain
    # https://NAME.cognitiveservices.azure.com; an endpoint is used with a key too when set.
    azure_speech_key: SecretStr | None = None
    azure_speech_region: str | None = None
    azure_speech_endpoint: str | None = None
    voicedesk_speech_language: str = Field(
        "en-US", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"
    )
    voicedesk_azure_voice: str = Field(
        "en-US-JennyMultilingualNeural", pattern=r"^[A-Za-z]{2,3}-[A-Za-z0-9:._-]{2,120}$"
    )
    # SSML prosody rate: "default", a word (x-slow .. x-fast), a change ("+10%") or a factor ("1.2")
    voicedesk_speech_rate: str = Field(
        "default",
        pattern=r"^(default|x-slow|slow|medium|fast|x-fast|[+-]?\d{1,3}(\.\d+)?%|\d(\.\d+)?)$",
    )
    # Speech-to-text API: short audio (up to 60 s), fast transcription, or auto (short up to 60 s)
    voicedesk_azure_stt: Literal["auto", "short", "fast"] = "auto"

    @field_validator("azure_speech_region", mode="before")
    @classmethod
    def _speech_region(cls, value: Any) -> Any:
        """'West Europe' and 'westeurope' name one region; blank is unset."""
        if isinstance(value, str):
            value = value.strip().lower().replace(" ", "")
            if value and not re.fullmatch(r"[a-z0-9]+", value):
                raise ValueError("a region is a word like westeurope or eastus")
            return value or None
        return value

    @field_validator("azure_speech_endpoint", mode="before")
    @classmethod
    def _speech_endpoint(cls, value: Any) -> Any:
        """The resource's address alone: no user, password or query that could hold a secret."""
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            if not value:
                return None
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("it must be like https://NAME.cognitiveservices.azure.com")
            if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError("it must use https (plain http only on this machine)")
            if parts.username or parts.password or parts.query or parts.fragment:
                raise ValueError("give the resource's address alone, without user, key or query")
        return value

    voicedesk_keep_audio: bool = False  # write recordings and replies to the data dir
    # `python -m localspeech serve`: a bearer key it requires (none: loopback is the guard),
    # and host names besides localhost that its Host header may name (comma-separated)
    voicedesk_offline_api_key: SecretStr | None = None
    voicedesk_offline_hosts: str = ""
    # Serve the page on a non-loopback address although no sign-in ([auth]) is configured.
    voicedesk_allow_unauthenticated_remote: bool = False
    # Cascade mode: hear with a speech-to-text part, think with any tool-calling text model,
    # speak each sentence with a text-to-speech part (assistant/speech/parts.py). Unset parts
    # follow the provider in force: offline -> the local engine's parts. Unset, the mode
    # follows the provider too (`mode_for`): the cascade offline, the audio model in the cloud.
    voicedesk_mode: Mode | None = None
    voicedesk_stt: SpeechVendor | None = None
    voicedesk_stt_model: str | None = None
    voicedesk_text_model: str | None = None
    voicedesk_text_base_url: str | None = None  # any OpenAI-compatible server (Ollama, vLLM)
    voicedesk_text_api_key: SecretStr | None = None
    voicedesk_tts: SpeechVendor | None = None
    voicedesk_tts_model: str | None = None
    voicedesk_tts_voice: str | None = None
    voicedesk_tts_instructions: str | None = None

    @field_validator(
        "voicedesk_mode", "voicedesk_stt", "voicedesk_stt_model", "voicedesk_text_model",
        "voicedesk_text_base_url", "voicedesk_tts", "voicedesk_tts_model", "voicedesk_tts_voice",
        "voicedesk_tts_instructions", mode="before",
    )  # fmt: skip
    @classmethod
    def _cascade_blank_is_unset(cls, value: Any, info: Any) -> Any:
        """Blank is unset (a blank mode follows the provider); names of choices are lower-cased."""
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        lower = info.field_name in ("voicedesk_mode", "voicedesk_stt", "voicedesk_tts")
        return value.strip().lower() if lower else value.strip()

    # Live mode
    # The realtime session's provider (default: the one VOICEDESK_PROVIDER chooses), its model
    # (the deployment on Azure), and when a session ends: after this long without speech, and
    # after this long in all (a realtime session bills by the minute while it is open).
    voicedesk_live_provider: Literal["openai", "azure", "voicelive", "offline"] | None = None
    voicedesk_live_model: str = "gpt-realtime"
    voicedesk_live_idle_s: float = Field(120.0, gt=0)
    voicedesk_live_max_s: float = Field(1800.0, gt=0)
    # Player statistics in Azure SQL (or any ODBC source)
    sql_connection_string: SecretStr | None = None
    sql_server: str | None = None
    sql_database: str | None = None
    sql_query_timeout: int = 5
    # Help centre in Azure AI Search
    azure_search_endpoint: str | None = None
    azure_search_index: str | None = None
    azure_search_api_key: SecretStr | None = None
    azure_search_semantic_configuration: str | None = None
    azure_search_vector_field: str | None = None
    # With a vector field: the Azure OpenAI (AZURE_OPENAI_ENDPOINT) embedding model and its
    # deployment (default: named like the model); `index` embeds passages, the index's
    # vectorizer embeds questions.
    azure_search_embedding_model: str = "text-embedding-3-small"
    azure_search_embedding_deployment: str | None = None
    # Grievances in Jira Cloud
    jira_server: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_project_key: str = "GRV"
    jira_issue_type: str = "Task"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if not _files_enabled():
            return (init_settings, env_settings)
        secrets = _SecretsToml(settings_cls, PROJECT_ROOT / ".streamlit" / "secrets.toml")
        return (init_settings, env_settings, dotenv_settings, secrets)

    @field_validator(
        "openai_base_url", "azure_openai_endpoint", "voicedesk_customer", "sql_server",
        "azure_search_endpoint", "jira_server", mode="before",
    )  # fmt: skip
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("voicedesk_provider", "voicedesk_live_provider", mode="before")
    @classmethod
    def _provider_lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return value or None
        return value

    @cached_property
    def provider_decision(self) -> tuple[Provider, str]:
        """The model provider in force, and why, in words that reveal no secret."""
        if self.voicedesk_provider:
            return self.voicedesk_provider, "VOICEDESK_PROVIDER is set"
        if self.azure_openai_endpoint:
            return "azure", "AZURE_OPENAI_ENDPOINT is set"
        if self.openai_api_key:
            return "openai", "OPENAI_API_KEY is set"
        if self.openai_base_url:
            return "openai", "OPENAI_BASE_URL is set"
        return "offline", "no OpenAI or Azure OpenAI settings were found"

    @property
    def provider(self) -> Provider:
        return self.provider_decision[0]

    @property
    def model_name(self) -> str:
        """The name sent as `model` (the Azure deployment on Azure), as the provider says."""
        from assistant import providers  # they read these settings: imported when first asked

        return providers.get(self.provider).model_name(self)

    def check_voice(self, voice: str | None = None, model: str | None = None) -> None:
        voice, model = voice or self.voicedesk_voice, model or self.voicedesk_model
        offered = voices_for(model)
        if voice not in offered:
            raise ConfigError(
                f"The voice '{voice}' is not offered by {model}; choose one of "
                f"{', '.join(offered)} (VOICEDESK_VOICE)."
            )

    def describe(self) -> list[tuple[str, str]]:
        """What is in force, safe to print: secrets appear only as 'set' or 'not set'."""
        from assistant import providers

        provider, why = self.provider_decision
        rows = [("provider", f"{provider} ({why})"), ("model", self.model_name)]
        rows += providers.get(provider).config_rows(self)
        rows += [
            ("voice", self.voicedesk_voice),
            ("transcription", self.transcribe_target or "off"),
            ("customer", self.voicedesk_customer or "none"),
            ("data dir", str(self.voicedesk_data_dir)),
        ]
        return rows + self.mode_rows()

    def mode_for(self, provider: str | None = None) -> tuple[Mode, str]:
        """The voice mode in force for a provider (default: the one in force), and why:
        VOICEDESK_MODE when set; else the cascade offline, whose local parts are the offline
        engine's one path, and the audio model for a cloud provider."""
        if self.voicedesk_mode:
            return self.voicedesk_mode, "VOICEDESK_MODE is set"
        provider = provider or self.provider
        if provider == "offline":
            return "cascade", "follows the provider, offline: Whisper, the router and Piper"
        return "audio_chat", f"follows the provider, {provider}"

    @property
    def mode(self) -> Mode:
        """The voice mode in force for the provider in force."""
        return self.mode_for()[0]

    def mode_rows(self) -> list[tuple[str, str]]:
        """The voice mode, and for the cascade each part and why it was chosen."""
        mode, why = self.mode_for()
        rows = [("mode", f"{mode} ({why})")]
        if mode == "cascade":
            from assistant.speech.parts import describe

            rows += describe(self)
        return rows

    @property
    def transcribe_target(self) -> str | None:
        """Model (or Azure deployment) that transcribes the user's words for the history."""
        from assistant import providers

        return providers.get(self.provider).transcriber(self)


def is_set(secret: SecretStr | None) -> str:
    return "set" if secret and secret.get_secret_value() else "not set"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; a bad value becomes a ConfigError with one sentence."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "a setting"
        raise ConfigError(f"The setting {name} is not valid: {first['msg']}.") from None


URL_PUBLIC_PARAMETERS = {"api-version"}  # what an endpoint's query may show; the rest is hidden


def url_secrets(url: str | None) -> list[str]:
    """Credentials written into an address: `https://user:password@host`, `?api-key=...`."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.username or "", parts.password or ""]
    except ValueError:  # not a URL at all (a bad port, say): the whole of it, to be safe
        return [url]
    found += [v for k, v in parse_qsl(parts.query) if k.lower() not in URL_PUBLIC_PARAMETERS]
    return [value for value in found if value]


def safe_url(url: str | None) -> str | None:
    """`url` as it may be shown: user-info and query values (but api-version) as [secret]."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "[an address that is not a valid URL]"
    user, at, host = parts.netloc.rpartition("@")
    user = "[secret]@" if at else ""
    query = "&".join(
        f"{k}={v if k.lower() in URL_PUBLIC_PARAMETERS else '[secret]'}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    shown = f"{parts.scheme}://{user}{host}{parts.path}" if parts.scheme else parts.path
    return shown + (f"?{query}" if query else "")


def secret_values(settings: Settings) -> list[str]:
    """Every secret in force, for scrubbing logs and messages."""
    values = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            values.append(value.get_secret_value())
    values += url_secrets(settings.openai_base_url) + url_secrets(settings.azure_openai_endpoint)
    values += url_secrets(settings.azure_voicelive_endpoint)
    values += url_secrets(settings.voicedesk_text_base_url)
    conn = settings.sql_connection_string
    if conn:
        values += odbc_password_forms(conn.get_secret_value())
    return values


_PASSWORD_KEY = re.compile(r"(?:^|;)\s*(?:pwd|password)\s*=\s*", re.IGNORECASE)


def odbc_password_forms(connection_string: str) -> list[str]:
    """Each password in an ODBC connection string, in every form an echo may show it. A braced
    value ("{p;a}}ss}") may hold ";" and "}" (doubled); it is read leniently here, to the first
    "}" before a ";" or the end, so a sloppily braced password is scrubbed whole too."""
    forms: list[str] = []
    for key in _PASSWORD_KEY.finditer(connection_string):
        rest = connection_string[key.end() :]
        if rest.startswith("{"):
            close = re.search(r"\}\s*(?:;|$)", rest)
            written = rest[1 : close.start()] if close else rest[1:]
            strict = re.match(r"(?:[^}]|\}\})*", written)
            forms += [written, written.replace("}}", "}"), strict.group().replace("}}", "}")]
        else:
            forms.append(rest.split(";", 1)[0].strip())
    return [form for form in dict.fromkeys(forms) if form]
