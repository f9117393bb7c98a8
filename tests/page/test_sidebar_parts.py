"""The sidebar's health lines and the offline models' state, from the engine's own values."""

from __future__ import annotations

from types import SimpleNamespace

from assistant.doctor import Row
from page.offline import models_state
from page.sidebar import health_details, health_line

CLOUD = Row("Help centre", "Azure AI Search (semantic)", "cloud", "my-search.search.windows.net",
            True, 84.2)  # fmt: skip
DEMO = Row("Player statistics", "SQLite demo file", "embedded", "/data/stats.sqlite", True, 3.0)
DOWN = Row("Grievances", "Jira Cloud", "cloud", "acme.atlassian.net", False, None,
           fix="Jira refused the token; check JIRA_API_TOKEN.")  # fmt: skip


def test_each_backend_says_cloud_demo_or_down():
    assert health_line(CLOUD) == ":green[:material/cloud_done:] **Help centre** :gray[connected]"
    assert health_line(DEMO) == ":blue[:material/database:] **Player statistics** :gray[demo data]"
    assert health_line(DOWN) == ":red[:material/cancel:] **Grievances** :red[down]"


def test_details_say_where_and_how_fast_never_a_secret():
    assert health_details(CLOUD) == (
        "Azure AI Search (semantic), at my-search.search.windows.net: answered in 84 ms."
    )
    assert health_details(DOWN).endswith("no answer in time.")


def test_offline_models_loading_ready_or_failed():
    assert models_state({"stt": "loading", "tts": "ready", "warm": False})[0] == "loading"
    state, sentence = models_state(
        {"stt": "ready", "tts": "ready", "tts_engine": "piper", "warm": True}
    )
    assert state == "ready" and "Piper speaks" in sentence
    state, sentence = models_state(
        {"stt": "failed", "tts": "ready", "warm": True,
         "errors": {"whisper": "The whisper model could not load: no file."}}
    )  # fmt: skip
    assert (state, sentence) == ("failed", "The whisper model could not load: no file.")


def test_only_the_demo_data_gets_a_customer_chosen_for_the_agent():
    from ops.demo_data import PERSONAS
    from page.sidebar import first_customer

    def backends(kind):
        return SimpleNamespace(stats=SimpleNamespace(kind=kind))

    nobody, dev = SimpleNamespace(voicedesk_customer=None), SimpleNamespace(voicedesk_customer="dev")
    assert first_customer(nobody, backends("embedded")) == PERSONAS[0].user_name == "maria"
    assert first_customer(nobody, backends("cloud")) is None, "no guess on real players"
    assert first_customer(dev, backends("cloud")) == "dev"
    assert first_customer(dev, backends("embedded")) == "dev"


def test_a_customer_change_is_marked_before_the_first_question_after_it():
    from page.conversation import customer_changes

    assert customer_changes([], "maria") == [None]
    assert customer_changes(["maria"], "maria") == [None, None]
    assert customer_changes(["maria"], "dev") == [None, "dev"]
    assert customer_changes(["maria", "dev"], "dev") == [None, "dev", None]
    assert customer_changes(["maria"], None) == [None, "no particular customer"]
