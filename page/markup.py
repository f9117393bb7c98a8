"""Text from people, models and backends shown as Markdown without being taken for Markdown.

Everything the page shows that it did not write itself (questions, answers, tool arguments and
results, help-centre passages, tickets) goes through `md_escape`, or `md_code` for code. A
backslash before ASCII punctuation always means "this character as written" (CommonMark), so
each character that could open a construct is escaped; prose stays readable.

Web and e-mail addresses need more: Streamlit's GFM plugin links them in the text after the
Markdown is parsed, escaped or not (a real browser showed it). An invisible word joiner inside
"http://", "www." and after "@" keeps them from being recognised; code spans are never linked.
"""

from __future__ import annotations

import re

# Characters with a meaning anywhere in a line: emphasis, code, links and images, HTML and
# entities, tables, strikethrough, Streamlit's $math$; a colon where it could open a directive
# (":red[...]", ":material/home:").
_INLINE = re.compile(r"([\\`*_\[\]<>~|$&]|:(?=[A-Za-z]))")
WORD_JOINER = "\u2060"  # invisible, and neither a word character nor a space
_ADDRESS = re.compile(r"(?i)(?=://)|(?<=www)(?=\.)|(?<=@)")  # "http://", "www.", "a@b.c"
# At the start of a line: headings, quotes, list items ("- ", "+ ", "1. "), setext underlines.
_LINE_START = re.compile(r"^(\s*)([#>+\-=]|\d+(?=[.)]))", re.MULTILINE)


def md_escape(text: str) -> str:
    r"""'You won $12 *today*' -> 'You won \$12 \*today\*': shown exactly as written."""
    escaped = _ADDRESS.sub(WORD_JOINER, _INLINE.sub(r"\\\1", text))
    return _LINE_START.sub(lambda m: m.group(1) + _escape_start(m.group(2)), escaped)


def md_code(text: str) -> str:
    """`text` as one inline code span, whatever it holds: on one line (a blank line would end
    the span and let the rest be read as Markdown), fenced by more backticks than it contains."""
    line = " ".join(text.split())
    if not line:
        return ""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


def _escape_start(token: str) -> str:
    if token.isdigit():  # "1. " -> "1\. " is done by escaping the dot after the number
        return token + "\\"
    return "\\" + token
