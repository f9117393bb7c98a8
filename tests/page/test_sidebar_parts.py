"""The sidebar's health lines and the offline models' state, from the engine's own values."""

from __future__ import annotations

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
