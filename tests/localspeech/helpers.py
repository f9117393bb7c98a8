"""The SDK client the tests drive, with every chat body checked against OpenAI's schema."""

from __future__ import annotations

import json
import threading

import httpx2
import openai

from localspeech.engine import OfflineEngine
from localspeech.server import make_server
from localspeech.transport import OfflineTransport
from tests.contracts.openai_chat import validate_request, validate_response, validate_transcription
from tests.localspeech.cases import tool_schemas

SYSTEM = "You are VoiceDesk, a support assistant. Answer briefly."


class ContractCheckingTransport(OfflineTransport):
    """Validates each Chat Completions request and successful response as it passes."""

    def __init__(self, engine: OfflineEngine):
        super().__init__(engine)
        self.exchanges: list[tuple[dict, dict]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        streamed = response.headers["content-type"].startswith("text/event-stream")
        if streamed and response.status_code == 200:
            validate_request(json.loads(request.content))
            response.stream = _CheckedEvents(response.stream)
            return response
        if request.url.path.endswith("/chat/completions") and response.status_code == 200:
            sent, answered = json.loads(request.content), json.loads(response.content)
            validate_request(sent)
            validate_response(answered)
            self.exchanges.append((sent, answered))
        if (
            request.url.path.endswith("/audio/transcriptions")
            and response.status_code == 200
            and response.headers["content-type"].startswith("application/json")
        ):
            validate_transcription(json.loads(response.content))
        return response


def checked_client(engine: OfflineEngine) -> tuple[openai.OpenAI, ContractCheckingTransport]:
    transport = ContractCheckingTransport(engine)
    client = openai.OpenAI(
        api_key="offline",
        base_url="http://offline.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )
    return client, transport


def messages(question, customer: str | None = None, history: list | None = None) -> list[dict]:
    """The messages a turn sends: system prompt, customer line, text history, the question."""
    out: list[dict] = [{"role": "system", "content": SYSTEM}]
    if customer:
        out.append({"role": "system", "content": f"Customer being helped: {customer}"})
    out += history or []
    if isinstance(question, bytes):
        import base64

        data = base64.b64encode(question).decode("ascii")
        content = [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]
        out.append({"role": "user", "content": content})
    else:
        out.append({"role": "user", "content": question})
    return out


def ask(client: openai.OpenAI, msgs: list[dict], tools: list[dict], **extra):
    """Call 1 as the turn makes it."""
    return client.chat.completions.create(
        model="voicedesk-offline",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        tools=tools,
        tool_choice=extra.pop("tool_choice", "auto"),
        messages=msgs,
        **extra,
    )


def assert_tool_call_and_transcript(client: openai.OpenAI, engine) -> None:
    """A spoken question about ticket 7 gets the status tool call, and is transcribed as said."""
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


def with_results(msgs: list[dict], reply, results: list[str]) -> list[dict]:
    """The messages of the next call: + the assistant's tool calls + one tool message each."""
    message = reply.choices[0].message
    calls = [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.function.name, "arguments": c.function.arguments},
        }
        for c in message.tool_calls
    ]
    out = [*msgs, {"role": "assistant", "content": None, "tool_calls": calls}]
    for call, result in zip(calls, results, strict=True):
        out.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return out


class Served:
    """The engine's HTTP server on a free loopback port, in a daemon thread, until close()."""

    def __init__(self, engine, **options):
        self.engine = engine
        self.server = make_server(engine, port=0, **options)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _CheckedEvents(httpx2.SyncByteStream):
    """Validates each chunk of a streamed answer as it passes (still streamed)."""

    def __init__(self, inner):
        self.inner = inner

    def __iter__(self):
        for event in self.inner:
            data = event.decode("utf-8").removeprefix("data: ").strip()
            if data != "[DONE]":
                validate_response(json.loads(data))
            yield event

    def close(self) -> None:
        self.inner.close()
