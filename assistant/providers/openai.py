"""OpenAI (or any gateway that speaks its API on OPENAI_BASE_URL)."""

from __future__ import annotations

import openai

from assistant.config import Settings, is_set, safe_url
from assistant.pricing import PRICES
from assistant.providers.base import ModelClient, Provider

# The OpenAI models that hear and speak; others can be set with VOICEDESK_MODEL.
AUDIO_MODELS = tuple(name for name in PRICES if "audio" in name and "transcribe" not in name)


class OpenAIProvider(Provider):
    name = "openai"
    label = "OpenAI"
    trace_label = "OpenAI"
    speaker = "OpenAI"

    def configured(self, settings: Settings) -> bool:
        return bool(settings.openai_api_key or settings.openai_base_url)

    def models(self, settings: Settings) -> list[str]:
        return list(dict.fromkeys([settings.voicedesk_model, *AUDIO_MODELS]))

    def model_caption(self, settings: Settings) -> str | None:
        return None  # OpenAI offers a choice of models

    def build(self, settings: Settings) -> ModelClient:
        from assistant.config import ConfigError

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key and not settings.openai_base_url:
            raise ConfigError("OpenAI needs OPENAI_API_KEY; set it, or unset VOICEDESK_PROVIDER.")
        api = openai.OpenAI(
            # A gateway or double on OPENAI_BASE_URL may need no key, but the SDK insists on one.
            api_key=key or "no-key",
            base_url=settings.openai_base_url or None,
            timeout=settings.voicedesk_request_timeout,
            max_retries=settings.voicedesk_max_retries,
        )
        return ModelClient(
            self.name, settings.voicedesk_model, self.transcriber(settings), api,
            price_model=settings.voicedesk_model,
        )  # fmt: skip

    def config_rows(self, settings: Settings) -> list[tuple[str, str]]:
        return [
            ("endpoint", safe_url(settings.openai_base_url) or "https://api.openai.com/v1"),
            ("OPENAI_API_KEY", is_set(settings.openai_api_key)),
        ]

    def where(self, settings: Settings) -> str:
        return safe_url(settings.openai_base_url) or "api.openai.com"


OPENAI = OpenAIProvider()
