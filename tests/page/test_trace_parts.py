"""The trace of a cascade answer: each part with its model and cost, beside the audio model's."""

from __future__ import annotations

from assistant.models import Reply, Usage
from page.trace import parts_line


def reply(**extra) -> Reply:
    return Reply("q", "a", b"", None, None, [], [], Usage(), "openai", "gpt-4o-mini", extra=extra)


def test_each_part_is_named_with_its_model_and_cost_beside_the_audio_models():
    parts = [
        {"part": "hear", "vendor": "openai", "model": "gpt-4o-mini-transcribe", "cost_usd": 0.0002},
        {"part": "think", "vendor": "openai", "model": "gpt-4o-mini", "cost_usd": 0.0011},
        {"part": "speak", "vendor": "local", "model": "piper", "cost_usd": 0.0},
    ]
    line = parts_line(reply(parts=parts, audio_model="gpt-audio", audio_model_cost_usd=0.0214))
    assert line == (
        "Heard by openai gpt-4o-mini-transcribe $0.0002 · thought by openai gpt-4o-mini "
        "$0.0011 · spoken by local piper $0.0000 · the audio model (gpt-audio) would have cost "
        "$0.0214"
    )


def test_an_answer_of_another_mode_has_no_parts_line():
    assert parts_line(reply(delivery="streamed")) is None
