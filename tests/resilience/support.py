"""Helpers for the resilience suite: what "one plain sentence" means, running the command line as
a user does, and reading everything a page shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from assistant import PROJECT_ROOT
from tests.support import SETTING_NAMES

# A second sentence starts after a full stop, question or exclamation mark and a space, with a
# capital letter ("0.01 seconds" and "e.g. a" do not count).
_SECOND_SENTENCE = re.compile(r"[.!?]\s+[A-Z]")
_TECHNICAL = re.compile(r"Traceback|File \"|Error:|Exception|\bline \d+|<[a-z]+ object at")


def sentence_problem(text: str) -> str | None:
    """Why `text` is not one plain sentence for a person, or None when it is."""
    if not isinstance(text, str) or not text.strip():
        return "it is empty"
    if text != text.strip() or "\n" in text:
        return "it spans lines or has stray spaces"
    if text[-1] not in ".!?":
        return "it does not end like a sentence"
    if _SECOND_SENTENCE.search(text):
        return "it has more than one sentence"
    if _TECHNICAL.search(text):
        return "it has technical details (a traceback or an exception)"
    if len(text) > 320:
        return f"it is too long to read at a glance ({len(text)} characters)"
    return None


def assert_one_sentence(text: str) -> None:
    problem = sentence_problem(text)
    assert problem is None, f"not one plain sentence ({problem}): {text!r}"


def cli_env(**settings: str) -> dict[str, str]:
    """The environment for `python -m assistant`: none of the developer's settings or files."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    clean.update({"VOICEDESK_NO_CONFIG_FILES": "1", "VOICEDESK_MAX_RETRIES": "0"})
    clean.update(settings)
    return clean


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=PROJECT_ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """`python -m assistant ...` in the background, to be killed mid-way."""
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


# -- the page under AppTest ------------------------------------------------------------------


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _nodes(child)


def page_text(at: Any) -> str:
    """Everything the page renders (main area and sidebar), as the text of its elements'
    protobuf messages: markdown, captions, errors, labels, options, tables' bytes."""
    parts = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
    return "\n".join(parts)


def page_size(at: Any) -> int:
    """How many bytes of elements the page sends to the browser on a rerun."""
    return sum(
        proto.ByteSize()
        for node in _nodes(at._tree)
        if (proto := getattr(node, "proto", None)) is not None and hasattr(proto, "ByteSize")
    )
