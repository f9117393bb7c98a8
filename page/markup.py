"""Text from people, models and backends shown as Markdown without being taken for Markdown."""

from __future__ import annotations

import re

# ASCII punctuation that Markdown (or Streamlit's $math$ and :icon: directives) gives a meaning.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|$~<>:])")


def md_escape(text: str) -> str:
    r"""'You won $12.50 *today*' -> 'You won \$12\.50 \*today\*': shown exactly as written."""
    return _SPECIAL.sub(r"\\\1", text)
