"""Estimated cost of a turn from token usage. Prices in US dollars per million tokens.

Published list prices at the time of writing; override any of them with VOICEDESK_PRICES, e.g.
`{"gpt-4o-audio-preview": {"text_in": 2.5, "text_out": 10, "audio_in": 40, "audio_out": 80}}`.
Azure deployments are priced by the model name (VOICEDESK_MODEL) they serve.

The cascade's speech parts may be priced otherwise: `per_minute` (US dollars per minute of audio
heard or spoken: whisper-1, Azure AI Speech) and `per_million_chars` (per million characters
spoken: tts-1, Azure AI Speech neural voices), beside or instead of the token prices.
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
    # Cascade parts: text models, and speech priced by the minute or the character
    "gpt-4o-mini": {"text_in": 0.15, "text_out": 0.6},
    "gpt-4o": {"text_in": 2.5, "text_out": 10.0},
    "gpt-4.1-nano": {"text_in": 0.1, "text_out": 0.4},
    "gpt-4.1-mini": {"text_in": 0.4, "text_out": 1.6},
    "gpt-4.1": {"text_in": 2.0, "text_out": 8.0},
    "whisper-1": {"per_minute": 0.006},
    "gpt-4o-mini-tts": {"text_in": 0.6, "per_minute": 0.015},
    "tts-1": {"per_million_chars": 15.0},
    "tts-1-hd": {"per_million_chars": 30.0},
    "azure-speech-stt": {"per_minute": 1.0 / 60},  # standard real-time: $1 an hour
    "azure-speech-tts": {"per_million_chars": 15.0},  # neural voices
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
# What an audio model bills for speech, in tokens a second (its list prices per minute and per
# million tokens: $0.06 a minute heard at $100/M in, $0.24 a minute spoken at $200/M out).
AUDIO_IN_TOKENS_PER_S = 10
AUDIO_OUT_TOKENS_PER_S = 20


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
        text_in * price.get("text_in", 0.0)
        + cached_text * price.get("cached_text_in", price.get("text_in", 0.0))
        + text_out * price.get("text_out", 0.0)
        + audio_in * price.get("audio_in", 0.0)
        + cached_audio * price.get("cached_audio_in", price.get("audio_in", 0.0))
        + usage.audio_completion_tokens * price.get("audio_out", 0.0)
    ) / 1_000_000


def part_cost(
    model: str,
    overrides: dict[str, dict[str, float]] | None = None,
    *,
    usage: Usage | None = None,
    seconds: float = 0.0,
    chars: int = 0,
) -> float:
    """What a cascade part cost: its tokens, the minutes of audio it heard or spoke, and the
    characters it spoke, each at the price the table gives (none: free)."""
    price = price_for(model, overrides)
    if price is None:
        return 0.0
    tokens = cost_usd(usage, model, overrides) if usage is not None else 0.0
    return (
        tokens
        + seconds / 60 * price.get("per_minute", 0.0)
        + chars * price.get("per_million_chars", 0.0) / 1_000_000
    )


def audio_model_usage(text: Usage, heard_s: float, spoken_s: float) -> Usage:
    """What an audio model would have billed for the same turn: the same text tokens, with the
    question heard and the answer spoken as audio tokens instead."""
    audio_in = round(heard_s * AUDIO_IN_TOKENS_PER_S)
    audio_out = round(spoken_s * AUDIO_OUT_TOKENS_PER_S)
    return Usage(
        prompt_tokens=text.prompt_tokens + audio_in,
        completion_tokens=text.completion_tokens + audio_out,
        audio_prompt_tokens=audio_in,
        audio_completion_tokens=audio_out,
        model_calls=text.model_calls,
    )
