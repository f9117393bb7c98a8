"""How long the page takes to rerun when the rerun starts no turn (a click in the sidebar,
opening a panel): the Python time of `app.py` (the script's run, timed around Streamlit's own
exec of it), under AppTest, with a conversation on the page. AppTest's own overhead (it polls
for the run's end) is reported apart, as `apptest_wall_ms_median`.

    python bench/page_rerun.py            # prints the figures
    python -m bench --only page_rerun

The page answers with the Chat Completions double (tests/doubles/chat_double.py, auto policy:
it looks up the customer's games and searches the help centre, and speaks with espeak-ng) for
the customer `maria`; the conversation has spoken and typed questions. The figure is the p95
of the reruns after it. Goal: at most 50 ms.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.measure import median, percentile, sample_ms  # noqa: E402

SETTINGS_PREFIXES = ("OPENAI_", "AZURE_", "VOICEDESK_", "SQL_", "JIRA_")
SPOKEN = (
    "How many games did I play this week?",
    "And how many points did I earn?",
    "Which game did I win the most cash in?",
)
TYPED = ("How do I withdraw my winnings?", "Do I have any open grievances?", "Thanks!")


@contextmanager
def _timed_script_runs(samples: list[float]):
    """Append the milliseconds of each run of the page's script to `samples`."""
    from streamlit.runtime.scriptrunner import script_runner

    original = script_runner.exec_func_with_error_handling

    def timed(func, ctx):
        started = time.perf_counter()
        try:
            return original(func, ctx)
        finally:
            samples.append((time.perf_counter() - started) * 1000)

    script_runner.exec_func_with_error_handling = timed
    try:
        yield
    finally:
        script_runner.exec_func_with_error_handling = original


@contextmanager
def _page_settings(base_url: str, data_dir: Path):
    """The page's settings for the run, restored afterwards (nothing from the caller's own)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(SETTINGS_PREFIXES)}
    for name in saved:
        del os.environ[name]
    os.environ.update(
        OPENAI_BASE_URL=base_url, OPENAI_API_KEY="sk-bench", VOICEDESK_DATA_DIR=str(data_dir),
        VOICEDESK_NO_CONFIG_FILES="1", VOICEDESK_CUSTOMER="maria",
    )  # fmt: skip
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith(SETTINGS_PREFIXES)]:
            del os.environ[name]
        os.environ.update(saved)


def run(quick: bool = False) -> dict[str, Any]:
    import streamlit as st

    from tests.doubles.chat_double import ChatDouble

    reruns, spoken = (10, 1) if quick else (50, 3)
    typed = TYPED[:1] if quick else TYPED
    with (
        tempfile.TemporaryDirectory() as tmp,
        ChatDouble(policy="auto") as double,
        _page_settings(double.base_url, Path(tmp) / "data"),
    ):
        st.cache_resource.clear()  # a fresh "server": nothing from an earlier run in-process
        try:
            at = _conversation(SPOKEN[:spoken], typed)
            asked = len(double.chat_requests)
            samples: list[float] = []
            with _timed_script_runs(samples):
                wall = sample_ms((at.run for _ in range(reruns + 2)), warmup=2)
            if len(double.chat_requests) != asked:
                raise RuntimeError("a rerun asked the model again")
        finally:
            st.cache_resource.clear()
    samples = samples[2:]  # the warm-up runs
    return {
        "page_rerun_ms_p95": round(percentile(samples, 95), 1),
        "median_ms": round(median(samples), 1),
        "max_ms": round(max(samples), 1),
        "apptest_wall_ms_median": round(median(wall), 1),
        "reruns": len(samples),
        "exchanges_on_page": len(SPOKEN[:spoken]) + len(typed),
    }


def _conversation(spoken: tuple[str, ...], typed: tuple[str, ...]):
    """The page after answering the spoken, then the typed questions."""
    from streamlit.testing.v1 import AppTest

    from tests.page.helpers import question_wav

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    for number, text in enumerate(spoken):
        at.audio_input(key="mic").set_value((f"q{number}.wav", question_wav(text), "audio/wav"))
        at.run()
    for text in typed:
        at.chat_input(key="typed").set_value(text).run()
    answered = len(at.session_state["voicedesk"].conversation.exchanges)
    if at.exception or answered != len(spoken) + len(typed):
        raise RuntimeError(f"the page did not answer: {at.exception or at.error}")
    return at


def main() -> None:
    figures = run(quick="--quick" in sys.argv)
    for key, value in figures.items():
        print(f"{key:20} {value}")


if __name__ == "__main__":
    main()
