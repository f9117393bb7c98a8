"""Page, files and secrets: hostile text (from the model, the tools' systems or the person) is
shown as written and never as live Markdown on the page or in the downloaded transcript; the
page is not served to the network without sign-in; `ask --out` follows no planted link; a full
disk is one sentence; credentials in endpoint addresses, customers' words in provider errors and
braced ODBC passwords never reach the screen or the log.
"""

from __future__ import annotations

import errno
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.doubles.chat_double import ChatDouble
from tests.page.conftest import APP, clear_page_caches
from tests.page.helpers import plain
from tests.support import isolate_env

# -- the page -----------------------------------------------------------------------------------

EVIL = "evil.example"
# One of everything Streamlit's Markdown would act on, each aimed at EVIL.
HOSTILE = (
    f"![pixel](http://{EVIL}/p.png) [click](https://{EVIL}/login) <img src=http://{EVIL}/i.png>"
    f" <b>bold</b> <https://{EVIL}/auto> see https://{EVIL}/bare or www.{EVIL} or mail@{EVIL}"
    f" [ref][1] :violet[painted] $\\frac{{1}}{{2}}$ `code`\n\n[1]: http://{EVIL}/ref\n"
    "# heading\n===\n- item"
)
# Tool arguments that are not JSON: a blank line would end a code span and free what follows.
RAW_ARGUMENTS = f'{{"query": "withdraw\n\n![raw](http://{EVIL}/raw.png) :violet[raw]"'
HOSTILE_DOC = {"id": "x1", "title": f"Wallet [help](http://{EVIL}/t)", "section": "<b>x</b>",
               "source": f"wallet.md`\n\n![src](http://{EVIL}/s.png)",
               "text": f"To withdraw, see ![w](http://{EVIL}/w.png) $5$ :violet[now]"}  # fmt: skip


def _drop_code_spans(text: str) -> str:
    """Code spans are literal; one cannot cross a blank line (the paragraph ends there)."""
    span = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
    return "\n\n".join(span.sub("", part) for part in re.split(r"\n[ \t]*\n", text))


def live_markup(source: str) -> list[str]:
    """What in this Markdown source Streamlit would render as a link, an image, HTML, maths or
    a colour directive aimed at the hostile text (CommonMark and GFM, plus remark-math and
    Streamlit's directives). A backslash before punctuation makes it literal, except to GFM's
    address linking, which runs on the parsed text (a real browser showed it; see the last
    test): addresses are looked for with the backslashes gone."""
    text = _drop_code_spans(re.sub(r"\\[!-/:-@\[-`{-~]", "\x00", source))
    checks = {
        "link or image": r"\]\(|\]\[|^\s*\[[^\]]*\]:",
        "HTML or <autolink>": r"<[A-Za-z/!?]",
        "maths": r"\$",
        "colour directive": r":violet\[",
    }
    found = [name for name, pattern in checks.items() if re.search(pattern, text, re.M)]
    words = _drop_code_spans(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", source))
    if re.search(r"(?i)https?://|www\.|[-.\w+]@[-\w]", words):  # GFM's own patterns
        found.append("bare web or e-mail address (GFM links it)")
    return found


def _strings(message) -> list[str]:
    found = []
    for _field, value in message.ListFields():
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        for item in values:
            if isinstance(item, str):
                found.append(item)
            elif hasattr(item, "ListFields"):
                found.extend(_strings(item))
    return found


def shown_markdown(at) -> list[str]:
    """Every string of every element on the page (bodies, labels, help, captions...)."""
    from tests.resilience.support import _nodes

    return [text for node in _nodes(at._tree) if (proto := getattr(node, "proto", None))
            is not None and hasattr(proto, "ListFields") for text in _strings(proto)]  # fmt: skip


def test_live_markup_finds_what_streamlit_would_render():
    """The checker itself: raw hostile text is live on every count, escaped text on none."""
    from page.markup import md_code, md_escape

    assert len(live_markup(HOSTILE)) == 5
    assert live_markup(f"`a`\n\n![x](http://{EVIL})") == ["link or image", "bare web or e-mail "
                                                          "address (GFM links it)"]  # fmt: skip
    assert live_markup(md_escape(HOSTILE)) == []
    assert live_markup(md_code(RAW_ARGUMENTS)) == []
    assert plain(md_escape(HOSTILE)) == HOSTILE


@pytest.fixture
def hostile_page(search_double, monkeypatch, tmp_path):
    """The page with the model on the chat double and the help centre on the search double,
    whose passage is hostile."""
    from tests.resilience.conftest import HELP_INDEX

    search_double.add_docs(HELP_INDEX, [HOSTILE_DOC])
    isolate_env(monkeypatch)
    with ChatDouble() as chat:
        for name, value in {
            "VOICEDESK_DATA_DIR": str(tmp_path / "data"), "VOICEDESK_MAX_RETRIES": "0",
            "OPENAI_BASE_URL": chat.base_url, "OPENAI_API_KEY": "sk-test-page",
            "VOICEDESK_TRANSCRIBE_MODEL": "", "AZURE_SEARCH_ENDPOINT": search_double.url,
            "AZURE_SEARCH_INDEX": HELP_INDEX, "AZURE_SEARCH_API_KEY": search_double.key,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        clear_page_caches()
        yield chat
        clear_page_caches()


def test_hostile_text_on_every_surface_of_the_page_and_transcript_is_never_live_markup(
    hostile_page,
):
    from streamlit.testing.v1 import AppTest

    from page.transcript import transcript_markdown

    chat = hostile_page
    chat.reply_tool_calls([
        ("search_help_center", {"query": "withdraw " + HOSTILE}),
        ("register_grievance", {"category": "wallet", "user_name": "maria",
                                "description": HOSTILE}),
    ])  # fmt: skip
    chat.reply_audio(HOSTILE)
    chat.reply_raw_arguments("search_help_center", RAW_ARGUMENTS)
    chat.reply_without_audio(HOSTILE)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.chat_input(key="typed").set_value(HOSTILE).run()
    at.chat_input(key="typed").set_value("And the " + HOSTILE).run()
    state = at.session_state["voicedesk"]
    for index in range(len(state.conversation.exchanges)):
        at.session_state[f"trace-{state.conversation_no}-{index}"] = True
    at.run()
    assert not at.exception and len(state.conversation.exchanges) == 2

    hostile = [text for text in shown_markdown(at) if EVIL in text]
    live = {text: found for text in hostile if (found := live_markup(text))}
    assert live == {}
    shown = "\n".join(plain(text) for text in hostile)
    for surface in (
        HOSTILE,  # the question and the answer, as written
        'search_help_center(query="withdraw ![pixel]',  # a tool's arguments
        'description="![pixel]',
        # a grievance is a draft on the page (its words are the question's HOSTILE, above)
        "Wallet [help](http",
        "wallet.md` ![src]",
        "To withdraw, see ![w]",  # the passage
        'search_help_center({"query": "withdraw ![raw]',  # arguments that are not JSON
    ):
        assert surface in shown, surface
    transcript = transcript_markdown(state.conversation)
    assert EVIL in transcript and live_markup(transcript) == []


# -- who can open the page ----------------------------------------------------------------------


@pytest.fixture
def listening_on(monkeypatch, tmp_path):
    """The page with demo data in tmp_path, and Streamlit's server.address as the operator set
    it (restored after)."""
    from streamlit import config

    isolate_env(monkeypatch)
    monkeypatch.setenv("VOICEDESK_DATA_DIR", str(tmp_path / "data"))
    clear_page_caches()
    before = config.get_option("server.address")
    yield lambda address: config.set_option("server.address", address)
    config.set_option("server.address", before)
    clear_page_caches()


@pytest.mark.parametrize("address", ["0.0.0.0", "", "192.168.1.20", "::", "voicedesk.corp"])
def test_the_page_refuses_a_network_address_without_sign_in_in_one_sentence_and_a_log_line(
    address, listening_on, tmp_path
):
    from streamlit.testing.v1 import AppTest

    from tests.resilience.support import assert_one_sentence

    listening_on(address)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    (refusal,) = [e.value for e in at.error]
    assert_one_sentence(refusal)
    assert "VOICEDESK_ALLOW_UNAUTHENTICATED_REMOTE" in refusal and "[auth]" in refusal
    assert not at.chat_input and not at.sidebar.selectbox, "nothing else is served"
    log = (tmp_path / "data" / "voicedesk.log").read_text()
    assert "refusing to serve on" in log


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_the_page_serves_on_loopback_without_sign_in(address, listening_on):
    from streamlit.testing.v1 import AppTest

    listening_on(address)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception and not at.error and at.chat_input


def test_the_page_serves_a_network_address_with_sign_in_or_when_explicitly_allowed(
    listening_on, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    from tests.page.test_app import AUTH

    listening_on("0.0.0.0")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.error and not at.chat_input, "the sign-in screen, not the refusal"
    assert [b.label for b in at.button] == ["Sign in"]

    clear_page_caches()
    monkeypatch.setenv("VOICEDESK_ALLOW_UNAUTHENTICATED_REMOTE", "true")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception and not at.error and at.chat_input


def test_streamlit_run_listens_on_loopback_only_unless_told_otherwise(tmp_path):
    """`streamlit run app.py` with the project's .streamlit/config.toml and no address given:
    its listening socket is bound to 127.0.0.1 (read from /proc/net/tcp)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.page.browser import ROOT, SETTINGS_TO_CLEAR, free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_TO_CLEAR)}
    env.update(VOICEDESK_NO_CONFIG_FILES="1", VOICEDESK_DATA_DIR=str(tmp_path / "data"))
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
               str(port), "--secrets.files", str(tmp_path / "secrets.toml")]  # fmt: skip
    with (tmp_path / "streamlit.log").open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (
                    tmp_path / "streamlit.log"
                ).read_text()
                time.sleep(0.3)
        listening = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # LISTEN
                    listening.append(local.rsplit(":", 1)[0])
        assert listening == ["0100007F"], listening  # 127.0.0.1, little-endian
    finally:
        server.terminate()
        server.wait(timeout=30)


# -- ask --out ----------------------------------------------------------------------------------


def ask_out(out: Path, tmp_path: Path, *extra: str):
    """`ask --text ... --out out` answered by the chat double (with speech)."""
    from tests.resilience.support import cli_env, run_cli

    with ChatDouble(policy="auto") as chat:
        env = cli_env(OPENAI_BASE_URL=chat.base_url, OPENAI_API_KEY="sk-test",
                      VOICEDESK_TRANSCRIBE_MODEL="", VOICEDESK_DATA_DIR=str(tmp_path / "data"))  # fmt: skip
        return run_cli("ask", "--text", "How do I withdraw?", "--out", str(out), *extra, env=env)


def test_ask_out_never_writes_through_a_planted_symlinked_file(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    victim = elsewhere / "victim.txt"
    victim.write_text("precious")
    (out / "reply-01.wav").symlink_to(victim)

    done = ask_out(out, tmp_path)

    assert done.returncode == 0, done.stderr
    assert victim.read_bytes() == b"precious", "the link's target is untouched"
    saved = out / "reply-01.wav"
    assert not saved.is_symlink() and saved.read_bytes()[:4] == b"RIFF"
    assert sorted(p.name for p in out.iterdir()) == ["reply-01.wav"], "no temporary file left"


@pytest.mark.parametrize("json_out", [False, True])
def test_ask_out_refuses_a_symlinked_folder_in_one_sentence_and_still_prints_the_answer(
    json_out, tmp_path
):
    import json

    from tests.resilience.support import assert_one_sentence

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.symlink_to(elsewhere, target_is_directory=True)

    done = ask_out(out, tmp_path, *(["--json"] if json_out else []))

    assert list(elsewhere.iterdir()) == [], "nothing written through the link"
    assert done.returncode == 1
    assert_one_sentence(done.stderr.strip())
    assert "symbolic link" in done.stderr
    if json_out:
        (line,) = done.stdout.splitlines()
        assert json.loads(line)["transcript"] and json.loads(line)["audio_file"] is None
    else:
        assert "VoiceDesk:" in done.stdout


def test_ask_out_that_cannot_be_written_is_one_sentence_and_the_answer_still_prints(tmp_path):
    from tests.resilience.support import assert_one_sentence

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    done = ask_out(blocker / "out", tmp_path)

    assert done.returncode == 1 and "VoiceDesk:" in done.stdout
    assert_one_sentence(done.stderr.strip())
    assert "not saved" in done.stderr and "cannot be written" in done.stderr


# -- a full disk --------------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_under_the_log_is_one_sentence_not_a_page_of_logging_tracebacks(tmp_path):
    """Every write to the log fails with ENOSPC (it is /dev/full); the command still answers."""
    from tests.resilience.support import assert_one_sentence, cli_env, run_cli

    data = tmp_path / "data"
    data.mkdir()
    (data / "voicedesk.log").symlink_to("/dev/full")
    with ChatDouble(policy="auto") as chat:
        env = cli_env(OPENAI_BASE_URL=chat.base_url, OPENAI_API_KEY="sk-test",
                      VOICEDESK_TRANSCRIBE_MODEL="", VOICEDESK_DATA_DIR=str(data))  # fmt: skip
        done = run_cli("ask", "--text", "How do I withdraw?", "--text", "And my games?",
                       "--customer", "maria", env=env)  # fmt: skip
    assert done.returncode == 0 and done.stdout.count("VoiceDesk:") == 2
    assert_one_sentence(done.stderr.strip())
    assert "cannot write its log" in done.stderr and "no space left" in done.stderr


# -- secrets ------------------------------------------------------------------------------------

URL_USER, URL_PASSWORD, URL_KEY = "canary-url-user", "canary-url-pass-41c9", "canary-url-key-7d02"


def endpoint_with_credentials(root: str) -> str:
    """`root` with a user and password in its user-info and a key in its query."""
    scheme, _, rest = root.partition("://")
    return f"{scheme}://{URL_USER}:{URL_PASSWORD}@{rest}?api-key={URL_KEY}&api-version=2025-01-01"


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_credentials_inside_a_model_endpoint_never_print_in_config_doctor_or_the_log(
    provider, tmp_path
):
    from tests.resilience.support import cli_env, run_cli

    url = endpoint_with_credentials("http://127.0.0.1:9/v1")
    setting = "OPENAI_BASE_URL" if provider == "openai" else "AZURE_OPENAI_ENDPOINT"
    env = cli_env(**{setting: url, "VOICEDESK_PROVIDER": provider,
                     "AZURE_OPENAI_DEPLOYMENT": "voice", "VOICEDESK_DATA_DIR": str(tmp_path)})  # fmt: skip
    outputs = {cmd: run_cli(cmd, env=env) for cmd in ("config", "doctor")}
    asked = run_cli("ask", "--text", "Hello?", env=env)  # unreachable: logged with its traceback
    printed = "".join(o.stdout + o.stderr for o in [*outputs.values(), asked])
    log = (tmp_path / "voicedesk.log").read_text()
    for canary in (URL_USER, URL_PASSWORD, URL_KEY):
        assert canary not in printed and canary not in log, canary
    assert "http://[secret]@127.0.0.1:9/v1?api-key=[secret]" in outputs["config"].stdout
    assert "api-version=2025-01-01" in outputs["doctor"].stdout, "what is not secret still shows"


def test_credentials_inside_a_model_endpoint_never_show_on_the_page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.resilience.support import page_text

    isolate_env(monkeypatch)
    monkeypatch.setenv("VOICEDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENAI_BASE_URL", endpoint_with_credentials("http://127.0.0.1:9/v1"))
    monkeypatch.setenv("VOICEDESK_MAX_RETRIES", "0")
    clear_page_caches()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        at.chat_input(key="typed").set_value("Hello?").run()
        assert at.error, "the unreachable model is one sentence"
        shown = page_text(at)
    finally:
        clear_page_caches()
    log = (tmp_path / "data" / "voicedesk.log").read_text()
    for canary in (URL_USER, URL_PASSWORD, URL_KEY):
        assert canary not in shown and canary not in log, canary


CUSTOMER_WORDS = "my card 4111 was charged twice by Maria Lopez at 12 Elm Street"


@pytest.mark.parametrize("status", [400, 422, 500])
def test_a_provider_error_quoting_the_question_never_lands_in_the_log(
    status, tmp_path, monkeypatch
):
    """The model's error body repeats the customer's words (as a 400 naming an invalid value
    does); the log keeps the status, type and code, not the words."""
    from assistant.errors import TurnError
    from assistant.history import Conversation
    from assistant.logs import setup_logging
    from assistant.service import build_engine
    from tests.support import make_settings

    isolate_env(monkeypatch)
    with ChatDouble() as chat:
        settings = make_settings(tmp_path / "data", openai_base_url=chat.base_url,
                                 openai_api_key="sk-test", voicedesk_max_retries=0,
                                 voicedesk_transcribe_model="")  # fmt: skip
        setup_logging(settings)
        chat.fail(status, f"Invalid content in messages[1]: '{CUSTOMER_WORDS}'", code="bad_value")
        with pytest.raises(TurnError):
            build_engine(settings).ask(Conversation(), text=CUSTOMER_WORDS)
    log = (tmp_path / "data" / "voicedesk.log").read_text()
    assert "4111" not in log and "Elm Street" not in log, log
    assert f"status={status}" in log and "code=bad_value" in log, log


BRACED = "Zq;9}xK}}v7w"  # braced as an issue wrote it: PWD={p;a}ss}}word}; (a lone } inside)
ODBC = f"DRIVER={{SQLite3}};Database=/nowhere/stats.sqlite;UID=reader;PWD={{{BRACED}}};"


def test_a_braced_odbc_password_is_scrubbed_from_the_log_and_tool_errors(tmp_path, monkeypatch):
    import logging

    from assistant.config import secret_values
    from assistant.logs import setup_logging
    from tests.support import make_settings
    from tools.base import redact

    isolate_env(monkeypatch)
    settings = make_settings(tmp_path / "data", sql_connection_string=ODBC)
    setup_logging(settings)
    try:
        raise RuntimeError(f"[unixODBC] connect failed for '{ODBC}'")  # a driver echoing it
    except RuntimeError:
        logging.getLogger("test").exception("connecting with %s failed", ODBC)
    logging.getLogger("test").error("the password as read: %s", BRACED.replace("}}", "}"))
    log = (tmp_path / "data" / "voicedesk.log").read_text()
    echoed = redact(f"driver said: {ODBC}", secret_values(settings))
    for text in (log, echoed, str(settings.describe())):
        assert "Zq;9" not in text and "xK}" not in text and "v7w" not in text, text
    assert log.count("[secret]") >= 3


# -- the real renderer --------------------------------------------------------------------------

SHOWN_LIVE = """() => {
  const messages = Array.from(document.querySelectorAll('[data-testid="stChatMessage"]'));
  const inside = (selector) => messages.flatMap(m => Array.from(m.querySelectorAll(selector)));
  return {
    links: inside('a').map(a => a.href),
    images: inside('img').map(i => i.src).filter(src => !src.startsWith('data:')),
    html: inside('b, h1, h2, h3, li, table').map(e => e.outerHTML.slice(0, 80)),
    maths: inside('.katex').length,
    text: messages.map(m => m.innerText).join('\\n'),
  };
}"""


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_in_a_real_browser_hostile_text_renders_as_written_and_fetches_nothing(tmp_path):
    """Streamlit's own Markdown renderer, in Chromium: the question, the answer and the tool
    arguments hold links, images, HTML, maths and a colour; none of it is live, and the
    browser never asks the hostile host for anything."""

    from tests.page.browser import PageServer, launch_chromium, require_browser

    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with ChatDouble() as chat:
        server = PageServer(tmp_path, {"OPENAI_BASE_URL": chat.base_url,
                                       "OPENAI_API_KEY": "sk-browser-test",
                                       "VOICEDESK_DATA_DIR": str(tmp_path / "data"),
                                       "VOICEDESK_TRANSCRIBE_MODEL": ""})  # fmt: skip
        try:
            server.wait_ready(timeout=90)
            chat.reply_tool_calls([("search_help_center", {"query": "withdraw " + HOSTILE})])
            chat.reply_audio(HOSTILE)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright, tmp_path / "none.wav")
                try:
                    page = browser.new_page(viewport={"width": 1366, "height": 900})
                    asked_evil = []
                    page.route(f"**/*{EVIL}*", lambda route: (asked_evil.append(route.request.url),
                                                              route.abort()))  # fmt: skip
                    page.goto(server.url)
                    typed = page.get_by_test_id("stChatInputTextArea")
                    expect(typed).to_be_visible(timeout=60_000)
                    typed.fill(HOSTILE)
                    typed.press("Enter")
                    behind = page.get_by_text("Behind the answer")
                    expect(behind).to_be_visible(timeout=60_000)
                    behind.click()
                    expect(page.get_by_text("search_help_center(")).to_be_visible(timeout=30_000)
                    page.wait_for_timeout(1000)
                    shown = page.evaluate(SHOWN_LIVE)
                finally:
                    browser.close()
        finally:
            server.stop()
    assert asked_evil == []
    assert (shown["links"], shown["images"], shown["html"], shown["maths"]) == ([], [], [], 0)
    text = " ".join(shown["text"].split())
    for written in ("![pixel](http://evil.example/p.png)", "<img src=http://evil.example/i.png>",
                    ":violet[painted]", "$\\frac{1}{2}$", "www.evil.example", "mail@evil.example",
                    'search_help_center(query="withdraw ![pixel]'):  # fmt: skip
        assert written in text, written


@pytest.mark.parametrize(
    "fault",
    [
        sqlite3.OperationalError("database or disk is full"),
        OSError(errno.ENOSPC, "No space left on device"),
    ],  # fmt: skip
    ids=["sqlite", "os"],
)
def test_a_full_data_folder_while_building_the_help_index_is_one_sentence(
    fault, tmp_path, monkeypatch
):
    """The embedded help-centre index is (re)built in the data folder on first use; with the
    disk full the search says so in one sentence, not 'failed unexpectedly'."""
    import tools.backends.local_search as local_search
    from assistant.service import build_tools
    from tests.resilience.support import assert_one_sentence
    from tests.support import make_settings

    def disk_full(*args, **kwargs):
        raise fault

    isolate_env(monkeypatch)
    monkeypatch.setattr(local_search, "build_index", disk_full)
    _, registry = build_tools(make_settings(tmp_path / "data"))
    result = registry.run("search_help_center", '{"query": "How do I withdraw my winnings?"}')
    assert not result.result.ok
    assert_one_sentence(result.result.summary)
    assert "disk is full" in result.result.summary
