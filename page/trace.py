"""The "Behind the answer" panel: every tool call with its arguments and result, the stage timings,
the tokens and the estimated cost of one reply.

The `*_rows`, `citation`, `ticket_card` and `usage_line` helpers shape tool results (the tools'
JSON: {ok, summary, data|error}) into what is shown; `render_trace` draws them with Streamlit.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from assistant.models import Reply, ToolCall, Usage
from assistant.providers import PROVIDERS
from page.markup import md_code
from page.markup import md_escape as esc
from page.progress import seconds, timeline
from tools.grievances import category_label

SNIPPET_CHARS = 220
CHART_COLOR = "#2f6f73"  # the theme's primary colour (.streamlit/config.toml)


# -- shaping (no Streamlit) ---------------------------------------------------------------------


def arguments_text(call: ToolCall) -> str:
    """`get_player_summary(user_name="maria")`, or the raw text when it was not JSON."""
    if isinstance(call.arguments, dict):
        args = ", ".join(
            f"{key}={json.dumps(value, ensure_ascii=False)}"
            for key, value in call.arguments.items()
        )
    else:
        args = call.arguments
    return f"{call.name}({args})"


def games_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """get_player_summary's games as table rows, most played first (as the tool returns them)."""
    return [
        {
            "Game": game.get("game"),
            "Played": game.get("games_played"),
            "Entry fees": game.get("entry_fees"),
            "Points": game.get("points_earned"),
            "Cash won": game.get("cash_won"),
            "Last played": _day(game.get("last_played")),
        }
        for game in data.get("games") or []
    ]


def points_by_game(data: dict[str, Any]) -> dict[str, list[Any]]:
    """Columns for the bar chart of points earned per game."""
    games = data.get("games") or []
    return {
        "game": [game.get("game") for game in games],
        "points": [game.get("points_earned") or 0 for game in games],
    }


def citation(number: int, passage: dict[str, Any]) -> str:
    """One help-centre passage as a numbered citation: title, section, source file, snippet."""
    head = f"**[{number}] {esc(str(passage.get('title') or 'Untitled'))}**"
    if passage.get("section"):
        head += f" · {esc(str(passage['section']))}"
    if passage.get("source"):
        head += f" — {md_code(str(passage['source']))}"
    snippet = (passage.get("caption") or passage.get("text") or "").strip().replace("\n", " ")
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return f"{head}  \n> {esc(snippet)}" if snippet else head


def ticket_card(ticket: dict[str, Any]) -> str:
    """A grievance ticket as a few lines of Markdown."""
    title = f"**{esc(str(ticket.get('key')))}** · {esc(str(ticket.get('status')))}"
    if ticket.get("queued"):
        title += " (queued for the ticket system)"
    facts = [
        _category(ticket.get("category")),
        f"priority {ticket['priority']}" if ticket.get("priority") else "",
        f"for {ticket['user_name']}" if ticket.get("user_name") else "",
    ]
    dates = [
        f"opened {_day(ticket.get('created'))}" if ticket.get("created") else "",
        f"updated {_day(ticket.get('updated'))}" if ticket.get("updated") else "",
        f"due {_day(ticket.get('due_date'))}" if ticket.get("due_date") else "",
    ]
    lines = [title, esc(" · ".join(f for f in facts if f)), esc(" · ".join(d for d in dates if d))]
    if ticket.get("summary"):
        lines.insert(1, esc(str(ticket["summary"])))
    if ticket.get("latest_comment"):
        lines.append(f"_Latest note:_ {esc(str(ticket['latest_comment']))}")
    return "  \n".join(line for line in lines if line)


def _category(value: Any) -> str:
    return category_label(str(value)).lower() if value else ""


def tickets_rows(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "Key": t.get("key"),
            "Status": t.get("status"),
            "Category": _category(t.get("category")),
            "Priority": t.get("priority"),
            "Updated": _day(t.get("updated")),
        }
        for t in tickets
    ]


def usage_line(usage: Usage) -> str:
    """Tokens (text and audio, in and out) and the estimated cost, in one line."""
    text_in = usage.prompt_tokens - usage.audio_prompt_tokens
    text_out = usage.completion_tokens - usage.audio_completion_tokens
    calls = f"{usage.model_calls} model call{'s' if usage.model_calls != 1 else ''}"
    return (
        f"{calls} · tokens in: {text_in:,} text + {usage.audio_prompt_tokens:,} audio · "
        f"out: {text_out:,} text + {usage.audio_completion_tokens:,} audio · "
        f"estimated cost ${usage.cost_usd:,.4f}"
    )


PART_WORDS = {"hear": "heard by", "think": "thought by", "speak": "spoken by"}


def parts_line(reply: Reply) -> str | None:
    """The cascade's parts, each with its model and cost, beside the audio model's cost for the
    same turn; None for a reply of another mode."""
    parts = reply.extra.get("parts")
    if not isinstance(parts, list):
        return None
    said = [
        f"{PART_WORDS.get(p.get('part'), p.get('part'))} {p.get('vendor')} {p.get('model')} "
        f"${float(p.get('cost_usd') or 0):,.4f}"
        for p in parts
        if isinstance(p, dict)
    ]
    line = " · ".join(said).capitalize()
    instead = reply.extra.get("audio_model_cost_usd")
    if isinstance(instead, int | float):
        line += f" · the audio model ({reply.extra.get('audio_model')}) would have cost ${instead:,.4f}"
    return line


def timings_line(reply: Reply) -> str:
    return " · ".join(f"{line.label} {seconds(line.ms)}" for line in timeline(reply))


def _day(value: Any) -> str:
    """'2026-11-20T18:04:05Z' -> '2026-11-20': dates are enough in a support conversation."""
    text = "" if value is None else str(value)
    return text[:10] if len(text) >= 10 and text[4] == "-" else text


# -- rendering ----------------------------------------------------------------------------------


def render_trace(reply: Reply) -> None:
    """The contents of one reply's "Behind the answer" panel."""
    if not reply.tool_calls:
        st.caption("No tools were needed for this answer.")
    for call in reply.tool_calls:
        _render_call(call)
    st.caption(f"**Timings** · {timings_line(reply)}")
    where = PROVIDERS[reply.provider].trace_label if reply.provider in PROVIDERS else reply.provider
    st.caption(f"**Usage** · {usage_line(reply.usage)} · {esc(where)}, {esc(reply.model)}")
    cascade = parts_line(reply)
    if cascade:
        st.caption(f"**Cascade** · {esc(cascade)}")
    if reply.extra.get("warning"):
        st.caption(f":material/warning: {esc(str(reply.extra['warning']))}")


def _render_call(call: ToolCall) -> None:
    mark = ":material/check_circle:" if call.ok else ":material/error:"
    st.markdown(f"{mark} **{esc(call.label)}** · {seconds(call.ms)}")
    st.caption(md_code(arguments_text(call)))
    result = call.result or {}
    if not call.ok:
        st.warning(
            f"{esc(call.summary)} ({esc(str(result.get('error', 'error')))})",
            icon=":material/error:",
        )
        return
    data = result.get("data") or {}
    if call.name == "get_player_summary" and data.get("games"):
        st.dataframe(
            games_rows(data),
            hide_index=True,
            column_config={
                "Played": st.column_config.NumberColumn(format="localized"),
                "Entry fees": st.column_config.NumberColumn(format="dollar"),
                "Points": st.column_config.NumberColumn(format="localized"),
                "Cash won": st.column_config.NumberColumn(format="dollar"),
            },
        )
        points = points_by_game(data)
        st.bar_chart(
            points, x="game", y="points", horizontal=True, color=CHART_COLOR,
            height=90 + 34 * len(points["game"]), x_label="", y_label="points earned",
        )  # fmt: skip
    elif call.name == "search_help_center" and data.get("passages"):
        for number, passage in enumerate(data["passages"], start=1):
            st.markdown(citation(number, passage))
    elif "ticket" in data:
        with st.container(border=True):
            st.markdown(ticket_card(data["ticket"]))
    elif data.get("tickets"):
        st.dataframe(tickets_rows(data["tickets"]), hide_index=True)
    else:
        st.markdown(esc(call.summary))
