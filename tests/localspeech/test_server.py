"""The engine over HTTP on loopback answers any OpenAI client, errors included."""

from __future__ import annotations

import json
import threading

import httpx2
import openai
import pytest

from localspeech.server import make_server
from tests.contracts.openai_chat import validate_response
from tests.localspeech.cases import tool_schemas
from tests.localspeech.doubles import scripted_engine
from tests.localspeech.helpers import ask, messages


@pytest.fixture
def base_url():
    engine = scripted_engine()
    server = make_server(engine, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}/v1", engine
    server.shutdown()
    server.server_close()


def test_an_openai_client_on_the_base_url_gets_tool_calls_and_transcripts(base_url):
    url, engine = base_url
    client = openai.OpenAI(api_key="unused", base_url=url, max_retries=0)
    wav = engine.stt.recording("What is the status of ticket 7?")
    reply = ask(client, messages(wav, customer="maria"), tool_schemas())
    call = reply.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_grievance_status",
        {"grievance_id": "7"},
    )
    heard = client.audio.transcriptions.create(
        model="whisper-tiny.en", file=("question.wav", wav, "audio/wav")
    )
    assert heard.text == "What is the status of ticket 7?"
    assert engine.stt.runs == 1


def test_raw_http_errors_are_openai_shaped(base_url):
    url, _ = base_url
    with httpx2.Client() as http:
        stream = http.post(
            f"{url}/chat/completions",
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}],
                  "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}},
        )  # fmt: skip
        assert stream.status_code == 400
        assert stream.json()["error"]["param"] == "audio.format"
        bad_json = http.post(
            f"{url}/chat/completions",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
        assert (
            bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]["message"]
        )
        missing = http.get(f"{url}/nowhere")
        assert missing.status_code == 404 and set(missing.json()["error"]) == {
            "message",
            "type",
            "param",
            "code",
        }
        ok = http.post(
            f"{url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
        )
        validate_response(ok.json())
        status = http.get(f"{url}/offline/status").json()
        assert set(status) >= {"stt", "tts", "warm"}
