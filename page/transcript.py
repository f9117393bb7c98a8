"""The conversation as a Markdown file to download. Every word in it came from a person, the
model or a backend, so all of it is escaped: opened in any Markdown viewer it shows what was
said, and loads no image and offers no link."""

from __future__ import annotations

from assistant.history import Conversation
from page.markup import md_code, md_escape


def transcript_markdown(conversation: Conversation) -> str:
    lines = ["# VoiceDesk conversation", ""]
    if conversation.customer:
        lines += [f"Customer at the end: **{md_escape(conversation.customer)}**", ""]
    for exchange in conversation.exchanges:
        stamp = exchange.at.strftime("%Y-%m-%d %H:%M UTC")
        said = "said" if exchange.spoken else "typed"
        who = f", customer {md_escape(exchange.reply.customer)}" if exchange.reply.customer else ""
        lines += [f"**Agent** ({said}, {stamp}{who}): {md_escape(exchange.user_text)}", ""]
        for call in exchange.reply.tool_calls:
            mark = "ok" if call.ok else "failed"
            lines.append(f"> {md_code(call.name)} ({mark}): {md_escape(call.summary)}")
        if exchange.reply.tool_calls:
            lines.append("")
        lines += [f"**VoiceDesk**: {md_escape(exchange.assistant_text)}", ""]
        for action in exchange.reply.actions:  # what the agent did about drafts and held calls
            lines.append(f"> {md_code(action.tool)} ({action.state}): {md_escape(action.reason)}")
        if exchange.reply.actions:
            lines.append("")
    return "\n".join(lines)
