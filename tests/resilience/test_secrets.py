"""Secrets planted as canaries in every secret setting never come out: not in the command line's
output (config, doctor, tools, tool, ask, outbox, errors), not on the page, not in the data
directory (its log, its outbox), not in what the model is told; also when the systems behind
the tools fail with error bodies that echo the credentials back.
"""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from assistant.config import Settings, load_settings, secret_values
from assistant.doctor import check_backends
from assistant.service import build_tools
from tests.doubles.chat_double import ChatDouble
from tests.page.conftest import APP, clear_page_caches
from tests.resilience.conftest import HELP_INDEX
from tests.resilience.support import cli_env, page_text, run_cli
from tests.support import isolate_env

pytestmark = [pytest.mark.odbc, pytest.mark.timeout(240)]

JIRA_EMAIL = "bot@example.com"
CANARIES = {
    "OPENAI_API_KEY": "sk-canary-openai-5f1e9a2b",
    "AZURE_OPENAI_API_KEY": "canary-azure-openai-7c2d41",
    "AZURE_VOICELIVE_API_KEY": "canary-voicelive-4a7b21",
    "AZURE_SPEECH_KEY": "canary-azure-speech-8f3c60",
    "AZURE_SEARCH_API_KEY": "canary-search-3b8f90",
    "VOICEDESK_OFFLINE_API_KEY": "canary-offline-server-9d4e17",
    "VOICEDESK_TEXT_API_KEY": "canary-text-server-6b0e38",
    "JIRA_API_TOKEN": "canary-jira-token-9e4a17",
    "SQL_CONNECTION_STRING PWD": "canary-sql-pwd-1d6c55",
}
# The forms a canary could leak in: as set, and inside Jira's Basic authorisation header.
BASIC = base64.b64encode(f"{JIRA_EMAIL}:{CANARIES['JIRA_API_TOKEN']}".encode()).decode()
FORMS = {**CANARIES, "JIRA_API_TOKEN (Basic header)": BASIC}


def leaked(text: str) -> list[str]:
    return [name for name, value in FORMS.items() if value in text]


def files_leaking(folder: Path) -> dict[str, list[str]]:
    """Every file in the data directory (log, outbox, stores, index) that holds a canary."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            names = leaked(path.read_bytes().decode("latin-1"))
            if names:
                found[str(path.relative_to(folder))] = names
    return found


class EchoingServer:
    """A Jira or Azure AI Search that fails every request with `status`, its error body
    repeating the credentials it was sent (as some proxies and misconfigured servers do)."""

    def __init__(self, status: int):
        self.status = status
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._answer)

    def __enter__(self) -> EchoingServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def _answer(self, request: Request) -> Response:
        sent = request.headers.get("Authorization", "") + " " + request.headers.get("api-key", "")
        if "Basic " in sent:
            sent += " " + base64.b64decode(sent.split("Basic ")[1].split()[0]).decode()
        words = f"Credentials not accepted: {sent.strip()}"
        body = {"errorMessages": [words], "errors": {},
                "error": {"code": "InvalidRequest", "message": words}}  # fmt: skip
        return Response(json.dumps(body), self.status, content_type="application/json")


@pytest.fixture(scope="module")
def stats_db(tmp_path_factory):
    from ops.demo_data import write_stats_db

    path = tmp_path_factory.mktemp("secret-stats") / "stats.sqlite"
    write_stats_db(path, transactions=1500)
    return path


def secret_settings(
    model: str, search_url: str, jira_url: str, stats: Path, driver: str, provider: str
) -> dict[str, str]:
    """Every secret setting holds a canary; the model is the ChatDouble at `model` (its root
    URL), the systems are the doubles or echoing servers."""
    return {
        "VOICEDESK_PROVIDER": provider,
        "OPENAI_API_KEY": CANARIES["OPENAI_API_KEY"],
        "OPENAI_BASE_URL": f"{model}/v1",
        "AZURE_OPENAI_ENDPOINT": model,
        "AZURE_OPENAI_DEPLOYMENT": "voice-prod",
        "AZURE_OPENAI_API_KEY": CANARIES["AZURE_OPENAI_API_KEY"],
        "AZURE_VOICELIVE_API_KEY": CANARIES["AZURE_VOICELIVE_API_KEY"],
        "AZURE_SPEECH_KEY": CANARIES["AZURE_SPEECH_KEY"],
        "AZURE_SEARCH_ENDPOINT": search_url,
        "AZURE_SEARCH_INDEX": HELP_INDEX,
        "AZURE_SEARCH_API_KEY": CANARIES["AZURE_SEARCH_API_KEY"],
        "VOICEDESK_OFFLINE_API_KEY": CANARIES["VOICEDESK_OFFLINE_API_KEY"],
        "VOICEDESK_TEXT_API_KEY": CANARIES["VOICEDESK_TEXT_API_KEY"],
        "JIRA_SERVER": jira_url,
        "JIRA_EMAIL": JIRA_EMAIL,
        "JIRA_API_TOKEN": CANARIES["JIRA_API_TOKEN"],
        "SQL_CONNECTION_STRING": f"DRIVER={{{driver}}};Database={stats};UID=reader;"
        f"PWD={CANARIES['SQL_CONNECTION_STRING PWD']};",
    }


def test_every_secret_setting_is_known_as_a_secret(tmp_path, monkeypatch):
    isolate_env(monkeypatch)
    for name, value in secret_settings(
        "http://m", "http://s", "http://j", tmp_path, "SQLite3", "openai"
    ).items():
        monkeypatch.setenv(name, value)
    settings = load_settings(voicedesk_data_dir=tmp_path)
    assert set(CANARIES.values()) <= set(secret_values(settings)), "all scrubbed from logs"
    assert not leaked(repr(settings) + str(settings.describe()))
    secret_fields = {
        n for n, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)
    }
    assert {n.upper() for n in secret_fields} == {n for n in CANARIES if " " not in n} | {
        "SQL_CONNECTION_STRING"
    }, "a new secret setting needs a canary here"


# -- the command line ---------------------------------------------------------------------------


def cli_outputs(env: dict[str, str], *batches: list[list[str]]) -> dict[str, str]:
    """Run each batch's commands at once (separate processes, as separate users would), the
    batches one after another; what each printed, on stdout and stderr, by command line."""
    outputs = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for batch in batches:
            runs = pool.map(lambda args: run_cli(*args, env=env), batch)
            for args, done in zip(batch, runs, strict=True):
                assert "Traceback" not in done.stderr, done.stderr
                outputs[" ".join(args)] = done.stdout + done.stderr
    return outputs


QUESTION = ["ask", "--text", "Any news on my complaint?", "--customer", "maria"]
GRIEVANCE = '{"category": "wallet", "description": "Charged twice.", "user_name": "maria"}'


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_cli_never_prints_a_secret_while_everything_works(
    provider, sqlite_odbc, stats_db, search_double, jira_double, tmp_path
):
    jira_double.token = CANARIES["JIRA_API_TOKEN"]
    search_double.key = CANARIES["AZURE_SEARCH_API_KEY"]
    data = tmp_path / "data"
    with ChatDouble(policy="auto") as chat:
        settings = secret_settings(chat.azure_endpoint, search_double.url, jira_double.url,
                                   stats_db, sqlite_odbc, provider)  # fmt: skip
        env = cli_env(VOICEDESK_DATA_DIR=str(data), **settings)
        if provider == "openai":
            outputs = cli_outputs(
                env,
                [QUESTION, ["config"], ["doctor"], ["tools"],
                 ["tool", "search_help_center", '{"query": "withdraw"}'],
                 ["tool", "register_grievance", GRIEVANCE]],
                [["outbox", "flush"]],
            )  # fmt: skip
        else:
            outputs = cli_outputs(env, [QUESTION, [*QUESTION, "--json"], ["config"]])
        sent = [r.headers for r in chat.requests]
    assert {name: leaked(out) for name, out in outputs.items() if leaked(out)} == {}
    assert "Maria Lopez" in outputs[" ".join(QUESTION)], "the turn really ran with the tools"
    assert files_leaking(data) == {}
    key = CANARIES["OPENAI_API_KEY" if provider == "openai" else "AZURE_OPENAI_API_KEY"]
    assert sent and all(key in json.dumps(headers) for headers in sent), "the key was in use"


def test_cli_never_prints_a_secret_when_every_system_fails_echoing_it(sqlite_odbc, tmp_path):
    """The model refuses the key repeating it (as OpenAI's 401 does); Jira refuses ours with a
    401 and search with a 400, both repeating the credentials; the database is missing."""
    data = tmp_path / "data"
    missing_db = tmp_path / "no-such-folder" / "stats.sqlite"
    with (
        ChatDouble(policy="auto") as chat,
        EchoingServer(401) as jira,
        EchoingServer(400) as search,
    ):
        settings = secret_settings(
            chat.azure_endpoint, search.url, jira.url, missing_db, sqlite_odbc, "openai"
        )
        env = cli_env(VOICEDESK_DATA_DIR=str(data), VOICEDESK_TOOL_TIMEOUT="4", **settings)
        chat.fail(401, f"Incorrect API key provided: {CANARIES['OPENAI_API_KEY']}.",
                  code="invalid_api_key")  # fmt: skip
        outputs = cli_outputs(
            env,
            [QUESTION,  # the only model call of this batch: the 401
             ["doctor"], ["tool", "search_help_center", '{"query": "withdraw"}'],
             ["tool", "register_grievance", GRIEVANCE]],  # queued
            [[*QUESTION, "--json"],  # the model answers now; every tool fails
             ["outbox", "flush"]],  # says why it is still queued
        )  # fmt: skip
        told_the_model = json.dumps([r.json for r in chat.chat_requests])
    assert {name: leaked(out) for name, out in outputs.items() if leaked(out)} == {}
    assert "refused the API key" in outputs[" ".join(QUESTION)]
    assert "refusing our credentials (401)" in outputs["doctor"]
    assert "rejected the request (400: Credentials not accepted: [secret])" in outputs["doctor"]
    assert "still queued" in outputs["outbox flush"]
    assert not leaked(told_the_model), "tool results sent to the model carry no secret"
    assert files_leaking(data) == {}


# -- the tools and the doctor in process: every status a system may fail with ---------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_tool_results_and_doctor_rows_never_carry_an_echoed_secret(
    status, sqlite_odbc, tmp_path, monkeypatch
):
    isolate_env(monkeypatch)
    with EchoingServer(status) as echo:
        settings = load_settings(
            voicedesk_data_dir=tmp_path,
            voicedesk_tool_timeout=4,
            **{k.lower(): v for k, v in secret_settings(
                "http://127.0.0.1:9", echo.url, echo.url, tmp_path / "none" / "x.sqlite", sqlite_odbc,
                "openai").items()},
        )  # fmt: skip
        backends, registry = build_tools(settings)
        backends.search.retry_total = 0  # one answer is enough to read
        results = [
            registry.run("get_player_summary", '{"user_name": "maria"}'),
            registry.run("search_help_center", '{"query": "withdraw"}'),
            registry.run(
                "register_grievance",
                '{"category": "wallet", "description": "Charged twice.", "user_name": "maria"}',
            ),  # fmt: skip
            registry.run("list_grievances", '{"user_name": "maria"}'),
            registry.run("get_grievance_status", '{"grievance_id": "GRV-1"}'),
        ]
        rows = check_backends(settings, backends)
        flushed = backends.grievances.flush()
    text = json.dumps([r.result.as_dict() for r in results]) + repr(rows) + repr(flushed)
    assert not leaked(text), text
    assert not [r for r in results[1:] if r.result.ok and r.name != "register_grievance"]


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_a_model_error_echoing_the_key_is_one_clean_sentence_and_a_clean_log(
    provider, sqlite_odbc, tmp_path, monkeypatch
):
    from assistant.errors import TurnError
    from assistant.history import Conversation
    from assistant.logs import setup_logging
    from assistant.service import build_engine

    isolate_env(monkeypatch)
    with ChatDouble() as chat:
        fields = secret_settings(chat.azure_endpoint, "http://127.0.0.1:9", "http://127.0.0.1:9",
                                 tmp_path / "stats.sqlite", sqlite_odbc, provider)  # fmt: skip
        settings = load_settings(voicedesk_data_dir=tmp_path / "data", voicedesk_max_retries=0,
                                 **{k.lower(): v for k, v in fields.items()})  # fmt: skip
        setup_logging(settings)
        key = fields["OPENAI_API_KEY" if provider == "openai" else "AZURE_OPENAI_API_KEY"]
        chat.fail(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
        with pytest.raises(TurnError) as caught:
            build_engine(settings).ask(Conversation(), text="Hello?")
    assert "refused the API key" in str(caught.value) and not leaked(str(caught.value))
    log = (tmp_path / "data" / "voicedesk.log").read_text()
    assert "AuthenticationError status=401" in log, "logged by status, not by its echoing body"
    assert files_leaking(tmp_path / "data") == {}


# -- the page -----------------------------------------------------------------------------------


def open_every_trace(at) -> None:
    state = at.session_state["voicedesk"]
    for index in range(len(state.conversation.exchanges)):
        at.session_state[f"trace-{state.conversation_no}-{index}"] = True
    at.run()


def test_the_page_never_shows_a_secret_working_or_failing(
    sqlite_odbc, stats_db, search_double, jira_double, tmp_path, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    jira_double.token = CANARIES["JIRA_API_TOKEN"]
    search_double.key = CANARIES["AZURE_SEARCH_API_KEY"]
    isolate_env(monkeypatch)
    data = tmp_path / "data"
    shown = []
    with ChatDouble(policy="auto") as chat, EchoingServer(400) as echo:
        settings = secret_settings(chat.azure_endpoint, search_double.url, jira_double.url, stats_db,
                                   sqlite_odbc, "openai")  # fmt: skip
        for name, value in {**settings, "VOICEDESK_DATA_DIR": str(data),
                            "VOICEDESK_MAX_RETRIES": "0"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        clear_page_caches()
        try:
            at = AppTest.from_file(str(APP), default_timeout=60).run()
            at.selectbox(key="customer").set_value("maria").run()
            at.chat_input(key="typed").set_value("Any news on my complaint?").run()
            open_every_trace(at)
            assert len(at.session_state["voicedesk"].conversation.exchanges) == 1
            shown.append(page_text(at))

            # The model refuses the key, echoing it.
            chat.fail(401, f"Incorrect API key provided: {CANARIES['OPENAI_API_KEY']}.",
                      code="invalid_api_key")  # fmt: skip
            at.chat_input(key="typed").set_value("And my games?").run()
            assert [e.value for e in at.error], "the failure is shown"
            shown.append(page_text(at))
        finally:
            clear_page_caches()

        # Every system behind the tools fails, echoing the credentials it was sent.
        monkeypatch.setenv("AZURE_SEARCH_ENDPOINT", echo.url)
        monkeypatch.setenv("JIRA_SERVER", echo.url)
        monkeypatch.setenv("SQL_CONNECTION_STRING", settings["SQL_CONNECTION_STRING"].replace(
            str(stats_db), str(tmp_path / "none" / "stats.sqlite")))  # fmt: skip
        try:
            at = AppTest.from_file(str(APP), default_timeout=60).run()
            chat.reply_tool_calls([
                ("get_player_summary", {"user_name": "maria"}),
                ("search_help_center", {"query": "withdraw"}),
                ("register_grievance", {"category": "wallet", "user_name": "maria",
                                        "description": "Charged twice."}),
            ])  # fmt: skip
            at.chat_input(key="typed").set_value("Everything, please.").run()
            open_every_trace(at)
            (exchange,) = at.session_state["voicedesk"].conversation.exchanges
            assert [c.ok for c in exchange.reply.tool_calls] == [False, False, True]
            shown.append(page_text(at))
        finally:
            clear_page_caches()
        assert chat.violations == []
    assert "list_grievances(" in shown[0] and "register_grievance(" in shown[2], "traces shown"
    assert [leaked(text) for text in shown] == [[], [], []]
    assert files_leaking(data) == {}
