import re

from page.markup import md_code, md_escape
from tests.page.helpers import plain


def unescaped(char: str, text: str) -> bool:
    return re.search(r"(?<!\\)" + re.escape(char), text) is not None


def test_money_emphasis_and_html_are_shown_as_written():
    text = "You won $12.50 and $3 *today* <b>bold</b> a_b `x` [link](y) ~z~ |t|"
    escaped = md_escape(text)
    for char in "$*<>_`[]~|":
        assert not unescaped(char, escaped), char
    assert plain(escaped) == text


def test_line_starts_that_would_become_lists_or_headings_are_escaped():
    escaped = md_escape("1. first\n- second\n# third\n> fourth")
    assert escaped.splitlines() == ["1\\. first", "\\- second", "\\# third", "\\> fourth"]


def test_ordinary_prose_is_left_alone():
    text = "Grievance GRV-12 is open: we are on it. Best match — Wallet (payments)."
    assert md_escape(text) == text


def test_streamlit_directives_are_defused():
    assert md_escape(":red[alert] :material/home:") == "\\:red\\[alert\\] \\:material/home:"


def test_web_and_mail_addresses_are_not_linked():
    """Streamlit links addresses in the parsed text, escaped or not: a word joiner breaks them."""
    escaped = md_escape("see https://evil.example, www.evil.example or me@evil.example")
    assert escaped == "see https⁠://evil.example, www⁠.evil.example or me@⁠evil.example"
    assert plain(escaped) == "see https://evil.example, www.evil.example or me@evil.example"


def test_code_spans_hold_any_text_on_one_line():
    assert md_code("f(x)\n\n![i](y)") == "`f(x) ![i](y)`"
    assert md_code("a ``b`` `c`") == "``` a ``b`` `c` ```"
    assert md_code("`x`") == "`` `x` ``"
