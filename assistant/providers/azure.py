"""Azure OpenAI: a deployment of an audio model, reached with a key or Entra ID."""

from __future__ import annotations

import openai

from assistant.config import ConfigError, Settings, safe_url
from assistant.providers.base import ModelClient, Provider

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"


class AzureProvider(Provider):
    name = "azure"
    label = "Azure OpenAI"
    trace_label = "Azure OpenAI"
    speaker = "Azure OpenAI"
    key_setting = "AZURE_OPENAI_API_KEY"
    model_noun = "deployment"
    model_setting = "AZURE_OPENAI_DEPLOYMENT"

    def configured(self, settings: Settings) -> bool:
        return bool(settings.azure_openai_endpoint and settings.azure_openai_deployment)

    def model_name(self, settings: Settings) -> str:
        return settings.azure_openai_deployment or settings.voicedesk_model

    def transcriber(self, settings: Settings) -> str | None:
        return settings.azure_openai_transcribe_deployment

    def model_caption(self, settings: Settings) -> str | None:
        return settings.azure_openai_deployment or settings.voicedesk_model

    def build(self, settings: Settings) -> ModelClient:
        if not settings.azure_openai_endpoint:
            raise ConfigError(
                "Azure OpenAI needs AZURE_OPENAI_ENDPOINT; set it, or unset VOICEDESK_PROVIDER."
            )
        if not settings.azure_openai_deployment:
            raise ConfigError(
                "Azure OpenAI needs AZURE_OPENAI_DEPLOYMENT, the name of your audio model deployment."
            )
        api = azure_client(settings)
        return ModelClient(
            self.name, settings.azure_openai_deployment, self.transcriber(settings), api,
            price_model=settings.voicedesk_model,
        )  # fmt: skip

    def config_rows(self, settings: Settings) -> list[tuple[str, str]]:
        auth = "key" if settings.azure_openai_api_key else "Entra ID (DefaultAzureCredential)"
        return [
            ("endpoint", safe_url(settings.azure_openai_endpoint) or "not set"),
            ("api version", settings.azure_openai_api_version),
            ("authentication", auth),
        ]

    def where(self, settings: Settings) -> str:
        return safe_url(settings.azure_openai_endpoint) or "-"


def azure_client(settings: Settings) -> openai.OpenAI:
    """A client for AZURE_OPENAI_ENDPOINT, with its key or else Entra ID; each call names its
    deployment as `model`."""
    credentials: dict = {}
    if settings.azure_openai_api_key:
        credentials["api_key"] = settings.azure_openai_api_key.get_secret_value()
    else:
        credentials["azure_ad_token_provider"] = _entra_token_provider()
    return openai.AzureOpenAI(
        azure_endpoint=settings.azure_openai_endpoint,
        api_version=settings.azure_openai_api_version,
        timeout=settings.voicedesk_request_timeout,
        max_retries=settings.voicedesk_max_retries,
        **credentials,
    )


def _entra_token_provider():
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as exc:
        raise ConfigError(
            "Entra ID sign-in needs the azure-identity package; pip install azure-identity."
        ) from exc
    return get_bearer_token_provider(DefaultAzureCredential(), AZURE_SCOPE)


AZURE = AzureProvider()
