"""Text from people, models and backends shown as Markdown without being taken for Markdown."""

from __future__ import annotations

import re

# Characters with a meaning anywhere in a line: emphasis, code, links, HTML, tables, and
# Streamlit's $math$; a colon only where it could open a directive (":smile:", ":red[...]").
_INLINE = re.compile(r"([\\`*_\[\]<>~|$]|:(?=[A-Za-z]))")
# At the start of a line: headings, quotes, list items ("- ", "+ ", "1. ").
_LINE_START = re.compile(r"^(\s*)([#>+\-]|\d+(?=[.)]))", re.MULTILINE)


def md_escape(text: str) -> str:
    r"""'You won $12 *today*' -> 'You won \$12 \*today\*': shown exactly as written."""
    escaped = _INLINE.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: m.group(1) + _escape_start(m.group(2)), escaped)


def _escape_start(token: str) -> str:
    if token.isdigit():  # "1. " -> "1\. " is done by escaping the dot after the number
        return token + "\\"
    return "\\" + token
