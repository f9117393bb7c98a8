"""Offline server: the engine over HTTP on loopback, attacked as a local program or a web page in
the agent's browser would attack it. Malformed and slow requests go over a raw socket; the
well-formed path goes through the `openai` SDK. Every refusal is a 4xx with an OpenAI-shaped
error (one sentence, no traceback), and what one request may cost is bounded.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import sys
import time
from contextlib import closing

import httpx2
import openai
import pytest

from assistant import PROJECT_ROOT
from assistant.turn import MAX_TYPED_CHARS
from localspeech import server as server_module
from localspeech.client import make_offline_client
from tests.localspeech.doubles import scripted_engine, tone_wav
from tests.localspeech.helpers import Served, assert_tool_call_and_transcript
from tests.resilience.support import assert_one_sentence, cli_env

pytestmark = pytest.mark.timeout(120)
ERROR_KEYS = {"message", "type", "param", "code"}
HELLO = {"model": "voicedesk-offline", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def serve():
    started: list[Served] = []

    def start(engine=None, **options) -> Served:
        served = Served(engine or scripted_engine(), **options)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


def raw(port: int, data: bytes, timeout: float = 30.0) -> tuple[int, dict, bytes]:
    """Send bytes as they are; the status, headers and body of the answer."""
    with closing(socket.create_connection(("127.0.0.1", port), timeout=timeout)) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


def request(path: str, body: bytes = b"", *, method: str = "POST", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if "Content_Length" not in headers and method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_openai_error(status: int, body: bytes, expected: int | tuple[int, ...]) -> dict:
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert status in expected, (status, body[:300])
    error = json.loads(body)["error"]
    assert set(error) == ERROR_KEYS
    assert_one_sentence(error["message"])
    assert b"Traceback" not in body
    return error


def chat(port: int, body: dict, **headers: str) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode()
    return raw(
        port, request("/v1/chat/completions", data, Content_Type="application/json", **headers)
    )


# ---- malformed headers, over a raw socket ---------------------------------------------------


@pytest.mark.parametrize(
    "length",
    ["-1", "abc", "1e3", "+5", "5, 6", " "],
    ids=["minus-one", "letters", "exponent", "plus-sign", "two-values", "blank"],
)
def test_a_content_length_that_is_not_a_number_gets_a_400_with_an_openai_error(serve, length):
    served = serve()
    body = json.dumps(HELLO).encode()
    data = request(
        "/v1/chat/completions", body, Content_Type="application/json", Content_Length=length
    )
    status, _, answer = raw(served.port, data)
    assert_openai_error(status, answer, 400)


def test_two_different_content_lengths_are_refused(serve):
    served = serve()
    body = json.dumps(HELLO).encode()
    data = request("/v1/chat/completions", body, Content_Type="application/json",
                   Content_Length=str(len(body))).replace(
        b"\r\n\r\n", f"\r\nContent-Length: {len(body) - 1}\r\n\r\n".encode(), 1)  # fmt: skip
    status, _, answer = raw(served.port, data)
    assert_openai_error(status, answer, 400)


def test_a_post_without_a_length_or_with_a_chunked_body_gets_a_411(serve):
    served = serve()
    no_length = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    no_length += b"Content-Type: application/json\r\nConnection: close\r\n\r\n"
    status, _, answer = raw(served.port, no_length)
    assert_openai_error(status, answer, 411)
    chunked = no_length.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    status, _, answer = raw(served.port, chunked + b"2\r\n{}\r\n0\r\n\r\n")
    assert_openai_error(status, answer, 411)


def test_a_body_larger_than_the_limit_is_refused_before_it_is_read(serve):
    served = serve()
    data = request(
        "/v1/chat/completions", Content_Type="application/json", Content_Length=str(2**40)
    )
    started = time.monotonic()
    status, _, answer = raw(served.port, data)  # nothing of the terabyte is ever sent
    assert_openai_error(status, answer, 413)
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    "line",
    [b"GARBAGE", b"FOO /v1/models HTTP/1.1", b"GET /v1/models HTTP/9.9", b"GET " + b"a" * 70000],
    ids=["no-method", "unknown-method", "unknown-version", "overlong-line"],
)
def test_a_malformed_request_line_gets_a_4xx_with_an_openai_error(serve, line):
    served = serve()
    status, _, answer = raw(served.port, line + b"\r\nHost: 127.0.0.1\r\n\r\n")
    assert_openai_error(status, answer, (400, 405, 414, 505))


def test_too_many_or_overlong_headers_get_a_4xx_with_an_openai_error(serve):
    served = serve()
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    head = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    status, _, answer = raw(served.port, head + many + b"\r\n")
    assert_openai_error(status, answer, 431)
    status, _, answer = raw(served.port, head + b"X-Long: " + b"v" * 70000 + b"\r\n\r\n")
    assert_openai_error(status, answer, (400, 431))


# ---- time and threads -----------------------------------------------------------------------


def test_a_slow_body_is_cut_off_and_does_not_hold_the_server(serve, monkeypatch):
    monkeypatch.setattr(server_module, "READ_TIMEOUT_S", 1.0, raising=False)
    served = serve()
    body = json.dumps(HELLO).encode()
    head = request("/v1/chat/completions", Content_Type="application/json",
                   Content_Length=str(len(body)))  # fmt: skip
    with closing(socket.create_connection(("127.0.0.1", served.port), timeout=30)) as slow:
        slow.sendall(head)
        started = time.monotonic()
        answer = b""
        for byte in body:  # a byte every 0.2 s: each read succeeds, the whole never arrives
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                break
            slow.settimeout(0.2)
            try:
                answer += slow.recv(65536)
            except TimeoutError:
                continue
            break
            # (the server answered or closed)
        slow.settimeout(30)
        try:
            while chunk := slow.recv(65536):
                answer += chunk
        except OSError:
            pass
        cut_after = time.monotonic() - started
    assert cut_after < 15, f"the slow body held its connection for {cut_after:.1f} s"
    if answer:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"


def test_slow_headers_are_cut_off(serve, monkeypatch):
    monkeypatch.setattr(server_module, "READ_TIMEOUT_S", 1.0, raising=False)
    served = serve()
    with closing(socket.create_connection(("127.0.0.1", served.port), timeout=30)) as slow:
        started = time.monotonic()
        closed = False
        for i in range(50):  # a header line every 0.3 s, never the blank line that ends them
            try:
                slow.sendall(b"GET /v1/models HTTP/1.1\r\n" if i == 0 else b"X-Drip: %d\r\n" % i)
            except OSError:
                closed = True
                break
            slow.settimeout(0.3)
            try:
                if slow.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed, "the server still waited for headers after 15 s"
        assert time.monotonic() - started < 15


def test_connections_beyond_the_limit_are_refused_with_a_503_not_queued(serve, monkeypatch):
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 3, raising=False)
    served = serve()
    idle = [socket.create_connection(("127.0.0.1", served.port), timeout=30) for _ in range(3)]
    try:
        time.sleep(0.5)  # each idle connection now holds a worker
        status, headers, answer = raw(served.port, request("/v1/models", method="GET"))
        error = assert_openai_error(status, answer, 503)
        assert error["type"] == "server_error" and "Retry-After" in headers
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 20
    while True:  # the workers are given back once those connections close
        status, _, answer = raw(served.port, request("/v1/models", method="GET"))
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200


# ---- another origin, another host name, a key -----------------------------------------------


def test_a_text_plain_post_from_another_origin_is_refused(serve):
    served = serve()
    body = json.dumps(HELLO).encode()  # a web page's fetch(..., {mode: "no-cors"}) sends this
    data = request("/v1/chat/completions", body, Content_Type="text/plain;charset=UTF-8",
                   Origin="https://evil.example")  # fmt: skip
    status, _, answer = raw(served.port, data)
    assert_openai_error(status, answer, (403, 415))
    status, _, answer = raw(
        served.port, request("/v1/chat/completions", body, Content_Type="text/plain")
    )
    assert_openai_error(status, answer, 415)


def test_a_form_upload_from_another_origin_is_refused(serve):
    served = serve()
    wav = served.engine.stt.recording("What is the status of ticket 7?")
    boundary = "b0undary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="q.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + wav
        + f"\r\n--{boundary}--\r\n".encode()
    )
    data = request("/v1/audio/transcriptions", form, Origin="https://evil.example",
                   Content_Type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
    status, _, answer = raw(served.port, data)
    assert_openai_error(status, answer, 403)
    assert served.engine.stt.runs == 0


def test_a_host_header_that_is_not_loopback_is_refused_unless_allowed(serve):
    served = serve()
    rebound = request("/v1/models", method="GET").replace(
        b"Host: 127.0.0.1", f"Host: evil.example:{served.port}".encode()
    )
    status, _, answer = raw(served.port, rebound)
    assert_openai_error(status, answer, 403)
    for host in ("localhost", f"localhost:{served.port}", f"[::1]:{served.port}"):
        allowed = request("/v1/models", method="GET").replace(
            b"Host: 127.0.0.1", f"Host: {host}".encode()
        )
        assert raw(served.port, allowed)[0] == 200, host
    configured = serve(allowed_hosts=("voicedesk.internal",))
    status, _, _ = raw(configured.port, rebound.replace(b"evil.example", b"voicedesk.internal"))
    assert status == 200


def test_with_a_key_set_requests_without_the_bearer_key_get_a_401(serve):
    served = serve(api_key="s3cret-key")
    for auth in (None, "Bearer wrong", "Basic czNjcmV0LWtleQ==", "Bearer"):
        headers = {"Authorization": auth} if auth else {}
        status, answer_headers, answer = chat(served.port, HELLO, **headers)
        error = assert_openai_error(status, answer, 401)
        assert error["code"] == "invalid_api_key" and "s3cret" not in answer.decode()
        assert answer_headers.get("WWW-Authenticate", "").startswith("Bearer")
    status, _, _ = chat(served.port, HELLO, Authorization="Bearer s3cret-key")
    assert status == 200
    client = openai.OpenAI(api_key="s3cret-key", base_url=served.url, max_retries=0)
    assert client.models.list().data
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="guess", base_url=served.url, max_retries=0).models.list()


# ---- wrong types, costly bodies, oversized questions ----------------------------------------

WRONG_TYPES = {
    "content-number": {"messages": [{"role": "user", "content": 5}]},
    "content-part-string": {"messages": [{"role": "user", "content": ["hello"]}]},
    "input-audio-string": {
        "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": "x"}]}]
    },
    "audio-data-number": {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": 5, "format": "wav"}}],
            }
        ]
    },  # fmt: skip
    "text-part-list": {"messages": [{"role": "user", "content": [{"type": "text", "text": [1]}]}]},
    "response-format-string": {"response_format": "json"},
    "modalities-nested": {"modalities": [["audio"]]},
    "audio-string": {"modalities": ["text", "audio"], "audio": "wav"},
    "voice-number": {"modalities": ["text", "audio"], "audio": {"format": "wav", "voice": 7}},
    "tool-choice-function-string": {"tool_choice": {"type": "function", "function": "x"}},
    "tools-function-string": {"tools": [{"type": "function", "function": "lookup"}]},
    "tool-parameters-list": {
        "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]
    },
    "tool-properties-string": {
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {"type": "object", "properties": {"x": "string"}},
                },
            }
        ]
    },  # fmt: skip
    "tool-enum-object": {
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {"x": {"type": "string", "enum": {"a": 1}}},
                    },
                },
            }
        ]
    },  # fmt: skip
    "tool-description-number": {
        "tools": [{"type": "function", "function": {"name": "f", "description": 5}}]
    },
    "tool-calls-strings": {
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": None, "tool_calls": ["call"]},
            {"role": "tool", "tool_call_id": "c", "content": "ok"},
        ]
    },
    "tool-call-id-number": {
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "tool", "tool_call_id": 5, "content": "ok"},
        ]
    },
    "n-string": {"n": "two"},
    "stream-string": {"stream": "yes"},
    "model-number": {"model": 5},
    "messages-object": {"messages": {"role": "user"}},
    "body-array": None,
}


@pytest.mark.parametrize("case", WRONG_TYPES, ids=list(WRONG_TYPES))
def test_a_wrong_typed_field_gets_a_400_naming_it_never_a_500(serve, case):
    served = serve()
    body = [] if WRONG_TYPES[case] is None else {**HELLO, **WRONG_TYPES[case]}
    status, _, answer = chat(served.port, body)
    assert_openai_error(status, answer, 400)


def test_deeply_nested_json_is_refused_cheaply(serve):
    served = serve()
    for depth in (100, 100_000):
        nested = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "x": '
        nested += b"[" * depth + b"]" * depth + b"}"
        status, _, answer = raw(served.port, request(
            "/v1/chat/completions", nested, Content_Type="application/json"))  # fmt: skip
        assert_openai_error(status, answer, 400)


def test_a_body_of_countless_tiny_items_is_refused_before_it_is_parsed(serve):
    served = serve()
    body = json.dumps({**HELLO, "metadata": {"x": [{}] * 300_000}}).encode()
    status, _, answer = raw(served.port, request(
        "/v1/chat/completions", body, Content_Type="application/json"))  # fmt: skip
    assert_openai_error(status, answer, (400, 413))


def test_a_typed_question_longer_than_the_app_ever_sends_is_refused(serve):
    served = serve()
    question = "how many games did I play " * (MAX_TYPED_CHARS // 10)
    status, _, answer = chat(
        served.port, {**HELLO, "messages": [{"role": "user", "content": question}]}
    )
    assert_openai_error(status, answer, 400)
    fits = "how many games did I play " * ((MAX_TYPED_CHARS - 1) // 26)
    status, _, _ = chat(served.port, {**HELLO, "messages": [{"role": "user", "content": fits}]})
    assert status == 200


def test_a_recording_longer_than_the_app_ever_sends_is_refused_before_it_is_heard(serve):
    served = serve()
    long = tone_wav(700.0, rate=8_000)  # 11 minutes: 11 MB, well inside the size limit
    content = [
        {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(long).decode(), "format": "wav"},
        }
    ]
    status, _, answer = chat(served.port, {**HELLO, "messages": [{"role": "user", "content": content}]})  # fmt: skip
    error = assert_openai_error(status, answer, 400)
    assert "seconds" in error["message"]
    assert served.engine.stt.runs == 0
    client = openai.OpenAI(api_key="x", base_url=served.url, max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(model="whisper-tiny.en", file=("l.wav", long))
    assert served.engine.stt.runs == 0


def test_an_upload_of_thousands_of_form_parts_is_refused(serve):
    served = serve()
    boundary = "b"
    parts = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(5000)
    )
    parts += b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-tiny.en\r\n'
    parts += b'--b\r\nContent-Disposition: form-data; name="file"; filename="q.wav"\r\n\r\n'
    parts += served.engine.stt.recording("hello") + b"\r\n"
    data = request("/v1/audio/transcriptions", parts + b"--b--\r\n",
                   Content_Type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
    status, _, answer = raw(served.port, data)
    assert_openai_error(status, answer, 400)


# ---- the well-formed path still works, over the socket and in process -----------------------


def test_the_openai_sdk_still_gets_tool_calls_transcripts_and_models_over_the_socket(serve):
    served = serve(api_key="k")
    client = openai.OpenAI(api_key="k", base_url=served.url, max_retries=0)
    assert_tool_call_and_transcript(client, served.engine)
    assert {m.id for m in client.models.list().data} >= {"voicedesk-offline"}
    with httpx2.Client() as http:  # keep-alive: several requests on one connection
        for _ in range(3):
            answer = http.post(f"{served.url}/chat/completions", json=HELLO,
                               headers={"Authorization": "Bearer k"})  # fmt: skip
            assert answer.status_code == 200


def test_the_in_process_client_applies_the_same_request_checks():
    engine = scripted_engine()
    client = make_offline_client(engine=engine)
    assert client.chat.completions.create(**HELLO).choices[0].message.content
    with pytest.raises(openai.BadRequestError) as wrong:
        client.chat.completions.create(
            model="voicedesk-offline", messages=[{"role": "user", "content": [{"type": "text",
                                                                            "text": [1]}]}],
        )  # fmt: skip
    assert_one_sentence(wrong.value.body["message"])
    too_long = "x" * (MAX_TYPED_CHARS + 1)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="voicedesk-offline", messages=[{"role": "user", "content": too_long}]
        )
    plain = client._client.post(
        "http://offline.voicedesk.invalid/v1/chat/completions",
        content=json.dumps(HELLO), headers={"content-type": "text/plain"},
    )  # fmt: skip
    assert plain.status_code == 415 and set(plain.json()["error"]) == ERROR_KEYS


def test_serve_takes_its_key_and_host_names_from_the_settings_or_flags():
    env = {**cli_env(), "PYTHONPATH": str(PROJECT_ROOT)}
    env.update(VOICEDESK_OFFLINE_API_KEY="from-env", VOICEDESK_OFFLINE_HOSTS="desk.lan, other")
    command = [sys.executable, "-m", "localspeech", "serve", "--port", "0", "--no-warm-up"]
    for extra, key, host in (([], "from-env", "desk.lan"),
                             (["--api-key", "flag", "--allow-host", "box"], "flag", "box")):  # fmt: skip
        server = subprocess.Popen(command + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=PROJECT_ROOT, env=env)  # fmt: skip
        try:
            line = server.stdout.readline()
            assert "requests need the API key" in line, line
            port = int(line.split("127.0.0.1:", 1)[1].split("/", 1)[0])
            models = request("/v1/models", method="GET")
            status, _, answer = raw(port, models)
            assert_openai_error(status, answer, 401)
            keyed = models.replace(b"\r\n\r\n", f"\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
            assert raw(port, keyed)[0] == 200
            named = keyed.replace(b"Host: 127.0.0.1", f"Host: {host}".encode())
            assert raw(port, named)[0] == 200
            other = keyed.replace(b"Host: 127.0.0.1", b"Host: evil.example")
            assert raw(port, other)[0] == 403
        finally:
            server.terminate()
            server.wait(10)
        assert "Traceback" not in server.stderr.read()
