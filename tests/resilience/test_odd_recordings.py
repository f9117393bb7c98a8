"""Every odd recording in tests/audio_factory.py, through the command line and through the page:
answered, or refused with one plain sentence before any model call; never a traceback.

Each channel runs the whole catalogue once, in order, as one user would (one `ask` process with
every file; one page session recording one after another), and each recording then gets its
own test over what happened to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from tests.audio_factory import ODD_RECORDINGS, OddRecording
from tests.doubles.chat_double import ChatDouble
from tests.page.conftest import APP, clear_page_caches
from tests.page.helpers import messages, texts
from tests.resilience.support import assert_one_sentence, cli_env, run_cli
from tests.support import isolate_env

pytestmark = pytest.mark.timeout(240)

# What each refusal must say, in words a person recognises (checked independently of the
# sentences assistant/audio.py happens to use today).
SAYS = {
    "empty": r"\bempty\b",
    "malformed": r"damaged|cannot be read",
    "not_audio": r"not a WAV",
    "unsupported_encoding": r"not supported|cannot read",
    "no_channels": r"no audio channels",
    "too_short": r"\bshort\b|seconds long",
    "too_long": r"\blong\b",
    "silent": r"\bsilent\b",
}
KINDS = {odd.name for odd in ODD_RECORDINGS}
assert len(KINDS) >= 20 and {"empty", "header_only", "cut_mid_data", "sizes_ffffffff",
    "random_bytes", "text", "json", "mp3_id3", "mp3_in_wav", "pcm8", "pcm24", "pcm32", "float32",
    "stereo_48k", "extensible_pcm24_48k", "mulaw_8k", "zero_channels", "ten_ms", "ten_minutes",
    "digital_silence", "pure_tone"} <= KINDS  # fmt: skip


def by_name(odd: OddRecording) -> str:
    return odd.name


def check_refusal(odd: OddRecording, sentence: str) -> None:
    assert_one_sentence(sentence)
    assert re.search(SAYS[odd.expect_code], sentence), (odd.expect_code, sentence)


# -- the command line --------------------------------------------------------------------------


@dataclass
class CliRun:
    turns: dict[str, dict]  # recording name -> its JSON line
    stderr: list[str]
    returncode: int
    chat_requests: int
    transcriptions: int


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> CliRun:
    folder = tmp_path_factory.mktemp("odd-cli")
    paths = []
    for odd in ODD_RECORDINGS:
        path = folder / f"{odd.name}.wav"  # MP3, text and JSON bytes behind a .wav name too
        path.write_bytes(odd.data)
        paths.append(str(path))
    with ChatDouble(policy="auto") as double:
        env = cli_env(OPENAI_BASE_URL=double.base_url, VOICEDESK_DATA_DIR=str(folder / "data"))
        done = run_cli("ask", *paths, "--json", env=env, timeout=200)
        assert double.violations == []
    lines = done.stdout.splitlines()
    assert len(lines) == len(ODD_RECORDINGS), done.stderr[-2000:]
    return CliRun(
        turns={odd.name: json.loads(line) for odd, line in zip(ODD_RECORDINGS, lines, strict=True)},
        stderr=done.stderr.splitlines(),
        returncode=done.returncode,
        chat_requests=len(double.chat_requests),
        transcriptions=len(double.transcription_requests),
    )


@pytest.mark.parametrize("odd", ODD_RECORDINGS, ids=by_name)
def test_cli_answers_or_refuses_in_one_sentence(odd, cli_run):
    turn = cli_run.turns[odd.name]
    if odd.expect_code is None:
        assert "error" not in turn, turn
        assert turn["transcript"] and turn["usage"]["model_calls"] == 2
        assert all(call["ok"] for call in turn["tool_calls"])
    else:
        assert set(turn) == {"error"}, turn
        check_refusal(odd, turn["error"])
        said = f"{odd.name}.wav: {turn['error']}"  # several files: stderr names the one refused
        assert any(line.endswith(said) for line in cli_run.stderr), "the refusal is said on stderr"


def test_cli_refusals_never_reach_the_model_and_leave_no_traceback(cli_run):
    answered = [t for t in cli_run.turns.values() if "error" not in t]
    refused = len(cli_run.turns) - len(answered)
    # Every answered turn made exactly its own model calls and transcription: refusals none.
    assert cli_run.chat_requests == sum(t["usage"]["model_calls"] for t in answered)
    assert cli_run.transcriptions == len(answered)
    assert cli_run.returncode == 1, "a refusal makes the exit status non-zero"
    assert len(cli_run.stderr) == refused, "one line on stderr per refusal, nothing else"
    assert not [line for line in cli_run.stderr if "Traceback" in line]


# -- the page ----------------------------------------------------------------------------------


@dataclass
class PageStep:
    errors: list[str]
    exceptions: int
    model_calls: int  # chat requests the recording caused
    exchanges_before: int
    exchanges_after: int
    earlier_answers_shown: int  # earlier exchanges whose answer is still on the page


@pytest.fixture(scope="module")
def page_run(tmp_path_factory) -> dict[str, PageStep]:
    from streamlit.testing.v1 import AppTest

    steps: dict[str, PageStep] = {}
    with pytest.MonkeyPatch.context() as env, ChatDouble(policy="auto") as double:
        isolate_env(env)
        env.setenv("VOICEDESK_DATA_DIR", str(tmp_path_factory.mktemp("odd-page") / "data"))
        env.setenv("VOICEDESK_MAX_RETRIES", "0")
        env.setenv("OPENAI_BASE_URL", double.base_url)
        env.setenv("OPENAI_API_KEY", "sk-test-page")
        env.setenv("VOICEDESK_TRANSCRIBE_MODEL", "")
        clear_page_caches()
        try:
            at = AppTest.from_file(str(APP), default_timeout=60).run()
            for odd in ODD_RECORDINGS:
                before = len(at.session_state["voicedesk"].conversation.exchanges)
                asked = len(double.chat_requests)
                at.audio_input(key="mic").set_value((f"{odd.name}.wav", odd.data, "audio/wav"))
                at.run()
                exchanges = at.session_state["voicedesk"].conversation.exchanges
                answers = messages(at, "assistant")
                steps[odd.name] = PageStep(
                    errors=[e.value for e in at.error],
                    exceptions=len(at.exception),
                    model_calls=len(double.chat_requests) - asked,
                    exchanges_before=before,
                    exchanges_after=len(exchanges),
                    earlier_answers_shown=sum(
                        exchange.reply.transcript in texts(shown)
                        for exchange, shown in zip(exchanges[:before], answers, strict=False)
                    ),
                )
        finally:
            clear_page_caches()
        assert double.violations == []
    return steps


@pytest.mark.parametrize("odd", ODD_RECORDINGS, ids=by_name)
def test_page_answers_or_refuses_in_one_sentence(odd, page_run):
    step = page_run[odd.name]
    assert step.exceptions == 0, "no exception element on the page"
    assert step.earlier_answers_shown == step.exchanges_before, "the conversation stays"
    if odd.expect_code is None:
        assert step.errors == []
        assert step.exchanges_after == step.exchanges_before + 1
        assert step.model_calls == 2
    else:
        (sentence,) = step.errors
        check_refusal(odd, sentence)
        assert step.model_calls == 0, "refused before any model call"
        assert step.exchanges_after == step.exchanges_before
