"""The engine over HTTP on loopback answers any OpenAI client, errors included."""

from __future__ import annotations

import httpx2
import openai
import pytest

from tests.contracts.openai_chat import validate_response
from tests.localspeech.doubles import scripted_engine
from tests.localspeech.helpers import Served, assert_tool_call_and_transcript


@pytest.fixture
def base_url():
    served = Served(scripted_engine())
    assert served.server.server_address[0] == "127.0.0.1"
    yield served.url, served.engine
    served.close()


def test_an_openai_client_on_the_base_url_gets_tool_calls_and_transcripts(base_url):
    url, engine = base_url
    client = openai.OpenAI(api_key="unused", base_url=url, max_retries=0)
    assert_tool_call_and_transcript(client, engine)
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
