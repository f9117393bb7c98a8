"""Every benchmark section: the figures it produces, how to run it in full and quick, and the
goals the figures are read against. Sections import their modules only when they run."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    text: str  # as printed: "≤ 50 ms"
    check: Callable[[float], bool] | None = None  # None: a reference figure, no goal

    def met(self, value: float | None) -> bool | None:
        if self.check is None or value is None:
            return None
        return self.check(value)


def at_most(limit: float, unit: str) -> Goal:
    return Goal(f"≤ {limit:g}{unit}", lambda v: operator.le(v, limit))


def at_least(limit: float, unit: str = "") -> Goal:
    return Goal(f"≥ {limit:g}{unit}", lambda v: operator.ge(v, limit))


REFERENCE = Goal("(reference)")
QUICK_SKIPS_ACCURACY = (
    "not run by --quick: it loads the speech models and transcribes 72 recordings, a minute "
    "or more on 2 cores (python -m bench --only offline_accuracy runs it alone)"
)
QUICK_SKIPS_OFFLINE = (
    "not run by --quick: bench/offline.py loads the speech models in a fresh process, which "
    "takes a minute or more on 2 cores (python -m bench.offline --quick runs it alone)"
)

QUICK_SKIPS_FIRST_SOUND = (
    "not run by --quick: two page servers load the offline speech models, two minutes or more "
    "on 2 cores (python -m bench --only first_sound runs it alone)"
)
QUICK_SKIPS_LIVE_OFFLINE = (
    "not run by --quick: it loads the speech models and speaks questions in real time, a minute "
    "or more on 2 cores (python -m bench --only live_offline runs it alone)"
)
QUICK_SKIPS_LIVE_PAGE = (
    "not run by --quick: it starts page servers and Chromium with a fake microphone "
    "(python -m bench --only live_page runs it alone)"
)
QUICK_SKIPS_CASCADE = (
    "not run by --quick: it loads the speech models, a minute or more on 2 cores "
    "(python -m bench --only cascade_offline runs it alone)"
)


@dataclass(frozen=True)
class Figure:
    key: str
    what: str
    unit: str
    goal: Goal


@dataclass(frozen=True)
class Section:
    name: str  # for --only / --skip
    figures: tuple[Figure, ...]
    run: Callable[[bool], dict[str, Any]]  # quick -> {key: value, ..., "details": {...}}
    unavailable: Callable[[], str | None] = lambda: None  # why it cannot run here
    not_in_quick: str | None = None  # why a quick run leaves it out, if it does

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.figures]


# --- runners (imports inside, so one broken module only stops its own section) -------------


def _turn(quick: bool) -> dict[str, Any]:
    from bench import turn_overhead

    return turn_overhead.run(turns=10, warmup=2) if quick else turn_overhead.run(100, 10)


def _stats(quick: bool) -> dict[str, Any]:
    from bench import stats_query

    if quick:
        return stats_query.run(transactions=20_000, repeats=2, naive_repeats=1)
    return stats_query.run(transactions=1_000_000, repeats=20, naive_repeats=2)


def _search_speed(quick: bool) -> dict[str, Any]:
    from bench import search_speed

    return search_speed.run(1_000, 2) if quick else search_speed.run(10_000, 20)


def _search_quality(quick: bool) -> dict[str, Any]:
    from bench import search_quality

    return search_quality.run()


def _offline(quick: bool) -> dict[str, Any]:
    from bench import delegated

    return delegated.offline(quick)


def _offline_unavailable() -> str | None:
    from bench import delegated

    return delegated.offline_unavailable()


def _offline_accuracy(quick: bool) -> dict[str, Any]:
    from bench import offline

    figures = offline.spoken_accuracy()
    figures.update(offline.heldout_written())
    figures.update(offline.heldout_spoken())
    keys = (
        "offline_routing_exact",
        "offline_wer_piper",
        "offline_wer_espeak",
        "heldout_routing_written",
        "heldout_routing_spoken",
    )
    return {**{k: figures.pop(k) for k in keys}, "details": figures}


def _offline_accuracy_unavailable() -> str | None:
    from bench import offline

    return offline.spoken_accuracy_unavailable()


def _page_answer(quick: bool) -> dict[str, Any]:
    from bench import page_answer

    if not quick:
        return page_answer.run(turns=7, warmup=1)
    from bench.responder import ResponderProcess

    with ResponderProcess() as responder:  # checks the driver in seconds, not the offline engine
        settings = {
            "VOICEDESK_PROVIDER": "openai",
            "OPENAI_BASE_URL": responder.base_url,
            "OPENAI_API_KEY": "sk-bench",
        }
        return page_answer.run(1, 1, settings, answered_by="the instant responder (quick run)")


def _page_answer_unavailable() -> str | None:
    from bench import page_answer

    return page_answer.unavailable()


def _first_sound(quick: bool) -> dict[str, Any]:
    from bench import first_sound

    return first_sound.run_offline(turns=5, warmup=1)


def _first_sound_unavailable() -> str | None:
    from bench import first_sound

    return first_sound.offline_unavailable()


def _first_sound_paced(quick: bool) -> dict[str, Any]:
    from bench import first_sound

    if quick:  # checks the driver: one barge-in, one turn of each path
        return first_sound.run_paced(turns=1, whole_turns=1, warmup=1)
    return first_sound.run_paced(turns=15, whole_turns=5, warmup=1)


def _first_sound_paced_unavailable() -> str | None:
    from bench import first_sound

    return first_sound.unavailable()


def _page_rerun(quick: bool) -> dict[str, Any]:
    from bench import delegated

    return delegated.page_rerun(quick)


def _page_rerun_unavailable() -> str | None:
    from bench import delegated

    return delegated.page_rerun_unavailable()


def _refusals(quick: bool) -> dict[str, Any]:
    from bench import refusals

    return refusals.run(repeats=2, warmup=1) if quick else refusals.run(repeats=20, warmup=2)


def _uploads(quick: bool) -> dict[str, Any]:
    from bench import uploads

    return uploads.run(turns=10)


def _cascade_offline(quick: bool) -> dict[str, Any]:
    from bench import cascade

    return cascade.run_offline(turns=3, warmup=1) if quick else cascade.run_offline(10, 2)


def _cascade_offline_unavailable() -> str | None:
    from bench import cascade

    return cascade.offline_unavailable()


def _cascade_paced(quick: bool) -> dict[str, Any]:
    from bench import cascade

    return cascade.run_paced(turns=3, warmup=1) if quick else cascade.run_paced(10, 2)


def _cascade_cost(quick: bool) -> dict[str, Any]:
    from bench import cascade

    return cascade.run_cost(turns=10)


def _live_offline(quick: bool) -> dict[str, Any]:
    from bench import live_offline

    return live_offline.run(quick)


def _live_page(quick: bool) -> dict[str, Any]:
    from bench import live_page

    return live_page.run(quick)


def _live_relay(quick: bool) -> dict[str, Any]:
    from bench import live_relay

    return live_relay.run(quick)


SECTIONS: tuple[Section, ...] = (
    Section(
        "turn",
        (
            Figure("turn_overhead_ms_p50", "app's own time per spoken turn, 2 tools (p50)", "ms",
                   Goal("")),
            Figure("turn_overhead_ms_p95", "app's own time per spoken turn, 2 tools (p95)", "ms",
                   at_most(50, " ms")),
        ),
        _turn,
    ),
    Section(
        "stats",
        (
            Figure("player_summary_ms_p95_1m", "get_player_summary, 1M transactions (p95)", "ms",
                   at_most(5, " ms")),
            Figure("player_summary_naive_ms_p95_1m", "… without the chosen indexes (p95)", "ms",
                   REFERENCE),
        ),
        _stats,
    ),
    Section(
        "search_speed",
        (
            Figure("help_search_ms_p95_10k", "search_help_center, 10,000 passages (p95)", "ms",
                   at_most(10, " ms")),
        ),
        _search_speed,
    ),
    Section(
        "search_quality",
        (
            Figure("search_recall_at_3", "help search recall@3, labelled questions", "",
                   at_least(0.9)),
            Figure("search_mrr", "help search MRR, labelled questions", "", Goal("")),
            Figure("bm25_baseline_recall_at_3", "plain BM25 (bm25s) recall@3, same set", "",
                   Goal("ours ≥ it")),
            Figure("search_recall_at_3_heldout", "help search recall@3, held-out questions", "",
                   at_least(0.9)),
            Figure("search_mrr_heldout", "help search MRR, held-out questions", "", Goal("")),
            Figure("bm25_baseline_recall_at_3_heldout", "plain BM25 recall@3, held-out", "",
                   Goal("ours ≥ it")),
        ),
        _search_quality,
    ),
    Section(
        "offline",
        (
            Figure("offline_turn_s_median", "offline spoken turn (median)", "s",
                   at_most(1.5, " s")),
            Figure("offline_cold_start_s", "offline engine cold start", "s", at_most(5, " s")),
            Figure("offline_peak_rss_mb", "offline engine peak memory (RSS)", "MB",
                   at_most(1200, " MB")),
        ),
        _offline,
        _offline_unavailable,
        QUICK_SKIPS_OFFLINE,
    ),
    Section(
        # Measured, not tested: Whisper's int8 kernels and espeak-ng differ by CPU and build.
        "offline_accuracy",
        (
            Figure("offline_routing_exact", "spoken test questions routed exactly, 2 voices",
                   "", at_least(0.85)),
            Figure("offline_wer_piper", "Whisper word error rate, Piper voice", "",
                   at_most(0.05, "")),
            Figure("offline_wer_espeak", "Whisper word error rate, espeak-ng voice", "",
                   REFERENCE),
            # tests/localspeech/heldout.yaml: written before the router changed, never tuned on.
            Figure("heldout_routing_written", "held-out questions routed exactly, typed", "",
                   at_least(0.95)),
            Figure("heldout_routing_spoken", "held-out questions routed exactly, 2 voices", "",
                   at_least(0.90)),
        ),
        _offline_accuracy,
        _offline_accuracy_unavailable,
        QUICK_SKIPS_ACCURACY,
    ),
    Section(
        "page_answer",
        (
            Figure("page_answer_s_median", "page: stop recording → answer's player, offline",
                   "s", at_most(3, " s")),
        ),
        _page_answer,
        _page_answer_unavailable,
    ),
    Section(
        # Streamed (serve.py, what `make run` starts) beside whole (`streamlit run app.py`).
        "first_sound",
        (
            Figure("first_sound_s_median", "page: stop recording → first answer sound, offline",
                   "s", at_most(1.0, " s")),
            Figure("first_sound_whole_s_median", "… served as app.py alone (whole answers)", "s",
                   REFERENCE),
        ),
        _first_sound,
        _first_sound_unavailable,
        QUICK_SKIPS_FIRST_SOUND,
    ),
    Section(
        "first_sound_paced",
        (
            Figure("first_sound_added_ms_median",
                   "page's own time to first sound, model's first audio at 0.4 s", "ms",
                   at_most(150, " ms")),
            Figure("first_sound_whole_added_ms_median", "… served as app.py alone (whole answers)",
                   "ms", REFERENCE),
            Figure("barge_in_ms_p95", "page: record pressed over an answer → silent (p95)", "ms",
                   at_most(100, " ms")),
        ),
        _first_sound_paced,
        _first_sound_paced_unavailable,
    ),
    Section(
        "cascade_offline",
        (
            Figure("cascade_first_sound_s_median",
                   "cascade, local parts: spoken question → first sound (median)", "s",
                   at_most(1.0, " s")),
        ),
        _cascade_offline,
        _cascade_offline_unavailable,
        QUICK_SKIPS_CASCADE,
    ),
    Section(
        "cascade_paced",
        (
            Figure("cascade_first_sound_added_ms_median",
                   "cascade on paced doubles: the app's own added time (median)", "ms",
                   at_most(150, " ms")),
        ),
        _cascade_paced,
    ),
    Section(
        "cascade_cost",
        (
            Figure("cascade_cost_ratio", "cascade ÷ audio model, priced 10-turn conversation",
                   "×", REFERENCE),
        ),
        _cascade_cost,
    ),
    Section(
        "page_rerun",
        (
            Figure("page_rerun_ms_p95", "page rerun (p95)", "ms", at_most(50, " ms")),
        ),
        _page_rerun,
        _page_rerun_unavailable,
    ),
    Section(
        "refusal",
        (
            Figure("refusal_ms_p95", "odd recording → refusal sentence (p95)", "ms",
                   at_most(100, " ms")),
        ),
        _refusals,
    ),
    Section(
        "uploads",
        (
            Figure("audio_upload_ratio_10_turns", "audio uploaded ÷ recordings, 10 turns", "×",
                   at_most(3.0, "")),
            Figure("naive_upload_ratio_10_turns", "… naive design re-sending the history", "×",
                   REFERENCE),
        ),
        _uploads,
    ),
    Section(
        "live_relay",
        (
            Figure("live_relay_ms_p95", "live session's own time per audio chunk (p95)", "ms",
                   at_most(5, " ms")),
            Figure("live_relay_first_sound_ms", "live session's added time to first sound, "
                   "against the double (median)", "ms", at_most(50, " ms")),
            Figure("live_sessions_at_once", "live sessions at once, no audio dropped (2 cores)",
                   "", REFERENCE),
        ),
        _live_relay,
    ),
    Section(
        "live_offline",
        (
            Figure("live_first_sound_s_median", "live, local engine: end of speech → first "
                   "answer audio (median)", "s", at_most(1.0, " s")),
        ),
        _live_offline,
        _cascade_offline_unavailable,  # the same speech packages
        QUICK_SKIPS_LIVE_OFFLINE,
    ),
    Section(
        "live_page",
        (
            Figure("live_page_relay_ms_p95", "live relay per audio chunk, tab ⇄ session (p95)",
                   "ms", at_most(5, " ms")),
            Figure("live_sessions_held", "live tabs held at once, no audio lost", "", REFERENCE),
            Figure("live_barge_in_ms_p95", "speech over a live answer → silent, Chromium (p95)",
                   "ms", at_most(150, " ms")),
        ),
        _live_page,
        not_in_quick=QUICK_SKIPS_LIVE_PAGE,
    ),
)  # fmt: skip

BASELINES = {  # figure: the baseline it must not fall below, in the same run
    "bm25_baseline_recall_at_3": "search_recall_at_3",
    "bm25_baseline_recall_at_3_heldout": "search_recall_at_3_heldout",
}


def all_keys() -> list[str]:
    return [key for section in SECTIONS for key in section.keys]
