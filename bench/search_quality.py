"""How well the embedded help-centre search finds the right section, against plain BM25.

bench/search_questions.jsonl holds questions in customers' words, each with the manual
sections that answer it ("source#section"; any one of them answers it). Both searches run over
the same passages (tools.backends.local_search.chunk_manuals of the shipped manuals) and both
count a section once, however many of its passages rank (ours does that itself):

* recall@3: the share of questions with an answering section among the first 3 results;
* MRR: the mean of 1/rank of the first answering section in the first 10 (0 when absent).

The baseline is bm25s (Okapi BM25) over title, section and body, with English stop words,
lower-casing and no stemming: what one gets from a BM25 library with its defaults.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import rounded
from tools.backends.local_search import MANUALS_DIR, LocalHelpSearch, build_index, chunk_manuals

QUESTIONS = Path(__file__).with_name("search_questions.jsonl")
# Questions written without looking at the search's synonyms or ranking, to catch a search
# tuned to QUESTIONS; its figures are reported beside the main ones.
HELD_OUT = Path(__file__).with_name("search_questions_heldout.jsonl")
DEPTH = 10

Ranker = Callable[[str], list[str]]  # a question to section keys, best first, unique


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if r.get("question") and r.get("relevant")]


def key(source: str, section: str) -> str:
    return f"{source}#{section}"


def score(rank: Ranker, questions: list[dict[str, Any]], k: int = 3) -> dict[str, Any]:
    found, reciprocal, misses = 0, 0.0, []
    for row in questions:
        ranked = rank(row["question"])[:DEPTH]
        relevant = set(row["relevant"])
        positions = [i for i, section in enumerate(ranked, start=1) if section in relevant]
        if positions and positions[0] <= k:
            found += 1
        else:
            misses.append(row["question"])
        reciprocal += 1 / positions[0] if positions else 0.0
    return {
        "recall": found / len(questions),
        "mrr": reciprocal / len(questions),
        "misses": misses,
    }


def ours(index_path: Path, manuals_dir: Path = MANUALS_DIR) -> Ranker:
    backend = LocalHelpSearch(index_path, manuals_dir)

    def rank(question: str) -> list[str]:
        return [key(p.source, p.section) for p in backend.search(question, top=DEPTH)]

    return rank


def bm25_baseline(passages: list[dict[str, Any]]) -> Ranker:
    import bm25s

    corpus = [f"{p['title']}\n{p['section']}\n{p['text']}" for p in passages]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
    )
    keys = [key(p["source"], p["section"]) for p in passages]

    def rank(question: str) -> list[str]:
        tokens = bm25s.tokenize([question], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        results, scores = retriever.retrieve(
            tokens, k=len(passages), show_progress=False, n_threads=1
        )
        ranked: list[str] = []
        for index, value in zip(results[0], scores[0], strict=True):
            section = keys[int(index)]
            if value > 0 and section not in ranked:
                ranked.append(section)
            if len(ranked) == DEPTH:
                break
        return ranked

    return rank


def run() -> dict[str, Any]:
    questions, held_out = load_questions(QUESTIONS), load_questions(HELD_OUT)
    passages = chunk_manuals(MANUALS_DIR)
    sections = {key(p["source"], p["section"]) for p in passages}
    unknown = sorted({s for row in questions + held_out for s in row["relevant"]} - sections)
    if unknown:
        raise RuntimeError(f"labels name sections the manuals do not have: {unknown[:3]}")
    baseline_rank = bm25_baseline(passages)
    with tempfile.TemporaryDirectory() as tmp:
        index_path = Path(tmp) / "search.sqlite"
        build_index(index_path, MANUALS_DIR)
        rank = ours(index_path)
        mine, mine_held = score(rank, questions), score(rank, held_out)
    baseline, baseline_held = score(baseline_rank, questions), score(baseline_rank, held_out)
    return {
        "search_recall_at_3": rounded(mine["recall"]),
        "search_mrr": rounded(mine["mrr"]),
        "bm25_baseline_recall_at_3": rounded(baseline["recall"]),
        "search_recall_at_3_heldout": rounded(mine_held["recall"]),
        "search_mrr_heldout": rounded(mine_held["mrr"]),
        "bm25_baseline_recall_at_3_heldout": rounded(baseline_held["recall"]),
        "details": {
            "questions": len(questions),
            "heldout_questions": len(held_out),
            "passages": len(passages),
            "bm25_baseline_mrr": rounded(baseline["mrr"]),
            "bm25_baseline_mrr_heldout": rounded(baseline_held["mrr"]),
            "missed_at_3": mine["misses"],
            "missed_at_3_heldout": mine_held["misses"],
        },
    }
