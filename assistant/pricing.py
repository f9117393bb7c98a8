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
    # Realtime models (live mode); cached input tokens cost much less than fresh ones.
    "gpt-realtime": {"text_in": 4.0, "text_out": 16.0, "audio_in": 32.0, "audio_out": 64.0,
                     "cached_text_in": 0.4, "cached_audio_in": 0.4},
    "gpt-realtime-mini": {"text_in": 0.6, "text_out": 2.4, "audio_in": 10.0, "audio_out": 20.0,
                          "cached_text_in": 0.06, "cached_audio_in": 0.3},
    "gpt-4o-realtime-preview": {"text_in": 5.0, "text_out": 20.0, "audio_in": 40.0,
                                "audio_out": 80.0, "cached_text_in": 2.5, "cached_audio_in": 2.5},
    "gpt-4o-mini-realtime-preview": {"text_in": 0.6, "text_out": 2.4, "audio_in": 10.0,
                                     "audio_out": 20.0, "cached_text_in": 0.3,
                                     "cached_audio_in": 0.3},
}  # fmt: skip


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
    # Cached input (counted within the prompt tokens) at its own price, where one is listed.
    cached_audio = max(0, min(usage.cached_audio_tokens, usage.audio_prompt_tokens))
    audio_in = usage.audio_prompt_tokens - cached_audio
    text_in = usage.prompt_tokens - usage.audio_prompt_tokens
    cached_text = max(0, min(usage.cached_tokens - cached_audio, text_in))
    text_in -= cached_text
    text_out = usage.completion_tokens - usage.audio_completion_tokens
    return (
        text_in * price["text_in"]
        + cached_text * price.get("cached_text_in", price["text_in"])
        + text_out * price["text_out"]
        + audio_in * price["audio_in"]
        + cached_audio * price.get("cached_audio_in", price["audio_in"])
        + usage.audio_completion_tokens * price["audio_out"]
    ) / 1_000_000
