"""One `openai` client per process for the provider in force. The turn never branches on it."""

from __future__ import annotations

from dataclasses import dataclass

import openai

from assistant.config import OFFLINE_MODEL, OFFLINE_TRANSCRIBER, ConfigError, Settings

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
OFFLINE_HINT = (
    "No model is configured: set OPENAI_API_KEY for OpenAI, or AZURE_OPENAI_ENDPOINT and "
    "AZURE_OPENAI_DEPLOYMENT for Azure OpenAI, or install the offline speech packages."
)


@dataclass(frozen=True)
class ModelClient:
    provider: str  # "openai", "azure" or "offline"
    model: str  # sent as `model` (the deployment name on Azure)
    transcribe_model: str | None  # None: the user's words are not transcribed for the history
    api: openai.OpenAI
    price_model: str  # the model whose prices apply (an Azure deployment serves VOICEDESK_MODEL)


def build_client(settings: Settings, provider: str | None = None) -> ModelClient:
    """Build the client for `provider` (default: the one the settings choose)."""
    provider = provider or settings.provider
    timeout = settings.voicedesk_request_timeout
    retries = settings.voicedesk_max_retries
    if provider == "azure":
        if not settings.azure_openai_endpoint:
            raise ConfigError(
                "Azure OpenAI needs AZURE_OPENAI_ENDPOINT; set it, or unset VOICEDESK_PROVIDER."
            )
        if not settings.azure_openai_deployment:
            raise ConfigError(
                "Azure OpenAI needs AZURE_OPENAI_DEPLOYMENT, the name of your audio model deployment."
            )
        credentials: dict = {}
        if settings.azure_openai_api_key:
            credentials["api_key"] = settings.azure_openai_api_key.get_secret_value()
        else:
            credentials["azure_ad_token_provider"] = _entra_token_provider()
        api: openai.OpenAI = openai.AzureOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            api_version=settings.azure_openai_api_version,
            timeout=timeout,
            max_retries=retries,
            **credentials,
        )
        return ModelClient(
            "azure", settings.azure_openai_deployment, settings.transcribe_target, api,
            price_model=settings.voicedesk_model,
        )  # fmt: skip
    if provider == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key and not settings.openai_base_url:
            raise ConfigError("OpenAI needs OPENAI_API_KEY; set it, or unset VOICEDESK_PROVIDER.")
        api = openai.OpenAI(
            # A gateway or double on OPENAI_BASE_URL may need no key, but the SDK insists on one.
            api_key=key or "no-key",
            base_url=settings.openai_base_url or None,
            timeout=timeout,
            max_retries=retries,
        )
        return ModelClient(
            "openai", settings.voicedesk_model, settings.voicedesk_transcribe_model or None, api,
            price_model=settings.voicedesk_model,
        )  # fmt: skip
    try:
        from assistant.offline.client import make_offline_client
    except ImportError as exc:
        raise ConfigError(OFFLINE_HINT) from exc
    api = make_offline_client(settings)
    return ModelClient(
        "offline", OFFLINE_MODEL, OFFLINE_TRANSCRIBER, api, price_model=OFFLINE_MODEL
    )


def _entra_token_provider():
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as exc:
        raise ConfigError(
            "Entra ID sign-in needs the azure-identity package; pip install azure-identity."
        ) from exc
    return get_bearer_token_provider(DefaultAzureCredential(), AZURE_SCOPE)
