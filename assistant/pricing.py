"""Estimated cost of a turn from token usage. Prices in US dollars per million tokens.

Published list prices at the time of writing; override any of them with VOICEDESK_PRICES, e.g.
`{"gpt-4o-audio-preview": {"text_in": 2.5, "text_out": 10, "audio_in": 40, "audio_out": 80}}`.
Azure deployments are priced by the model name (VOICEDESK_MODEL) they serve.
"""

from __future__ import annotations

from assistant.models import Usage

PRICES: dict[str, dict[str, float]] = {
    "gpt-4o-audio-preview": {"text_in": 2.5, "text_out": 10.0, "audio_in": 40.0, "audio_out": 80.0},
    "gpt-4o-mini-audio-preview": {
        "text_in": 0.15,
        "text_out": 0.6,
        "audio_in": 10.0,
        "audio_out": 20.0,
    },
    "gpt-audio": {"text_in": 2.5, "text_out": 10.0, "audio_in": 32.0, "audio_out": 64.0},
    "gpt-audio-mini": {"text_in": 0.6, "text_out": 2.4, "audio_in": 10.0, "audio_out": 20.0},
    "gpt-4o-mini-transcribe": {"text_in": 1.25, "text_out": 5.0, "audio_in": 3.0, "audio_out": 0.0},
    "gpt-4o-transcribe": {"text_in": 2.5, "text_out": 10.0, "audio_in": 6.0, "audio_out": 0.0},
    "voicedesk-offline": {"text_in": 0.0, "text_out": 0.0, "audio_in": 0.0, "audio_out": 0.0},
}


def price_for(
    model: str, overrides: dict[str, dict[str, float]] | None = None
) -> dict[str, float] | None:
    table = {**PRICES, **(overrides or {})}
    if model in table:
        return table[model]
    # Dated snapshots ("gpt-4o-audio-preview-2025-06-03") cost what their family costs.
    family = max((name for name in table if model.startswith(name)), key=len, default=None)
    return table[family] if family else None


def cost_usd(
    usage: Usage, model: str, overrides: dict[str, dict[str, float]] | None = None
) -> float:
    price = price_for(model, overrides)
    if price is None:
        return 0.0
    text_in = usage.prompt_tokens - usage.audio_prompt_tokens
    text_out = usage.completion_tokens - usage.audio_completion_tokens
    return (
        text_in * price["text_in"]
        + text_out * price["text_out"]
        + usage.audio_prompt_tokens * price["audio_in"]
        + usage.audio_completion_tokens * price["audio_out"]
    ) / 1_000_000
