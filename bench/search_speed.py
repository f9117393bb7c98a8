"""The `search_help_center` tool over a help centre of 10,000 passages.

The passages come from bench/help_corpus.py (the manuals specialised by device, country, game,
audience and version); the index is the product's (build_index with those passages), read by
the product's LocalHelpSearch. The questions are the labelled ones (customers' words), each
asked `repeats` times in a shuffled order after one untimed pass.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import help_corpus
from bench.measure import percentile, rounded
from bench.search_quality import HELD_OUT, QUESTIONS, load_questions
from tools import help_search
from tools.backends.local_search import LocalHelpSearch, build_index


def run(passages: int = 10_000, repeats: int = 20) -> dict[str, Any]:
    questions = [row["question"] for row in load_questions(QUESTIONS) + load_questions(HELD_OUT)]
    corpus = help_corpus.generate(passages, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        index_path = Path(tmp) / "help-10k.sqlite"
        started = time.perf_counter()
        indexed = build_index(index_path, passages=corpus)
        built_s = time.perf_counter() - started
        tool = help_search.make_tool(LocalHelpSearch(index_path, manuals_dir=None))
        for question in questions:  # untimed: the connection opens, pages are cached
            _ask(tool, question)
        order = [q for _ in range(repeats) for q in questions]
        random.Random(3).shuffle(order)
        samples = []
        for question in order:
            started = time.perf_counter()
            _ask(tool, question)
            samples.append((time.perf_counter() - started) * 1000)
        size_mb = index_path.stat().st_size / 1e6
    return {
        "help_search_ms_p95_10k": rounded(percentile(samples, 95)),
        "details": {
            "passages": indexed,
            "questions": len(questions),
            "searches": len(samples),
            "help_search_ms_p50_10k": rounded(percentile(samples, 50)),
            "help_search_ms_max_10k": rounded(max(samples)),
            "index_mb": rounded(size_mb, 1),
            "index_build_s": rounded(built_s, 2),
        },
    }


def _ask(tool: Any, question: str) -> None:
    result = tool.call(tool.args_model.model_validate({"query": question}))
    if not result.ok:
        raise RuntimeError(f"search_help_center failed: {result.summary}")
