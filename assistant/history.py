"""A conversation: earlier turns kept as text, so each recording is uploaded only in its own turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from assistant.models import Action, Reply

CUSTOMER_LINE = "Customer being helped: {user_name}"  # read by the offline engine's router too
SPOKEN_PLACEHOLDER = "(a spoken question; no transcript was kept)"
ACTION_LINE = "The agent acted on {tool} ({state}): {reason}"
MAX_HISTORY_EXCHANGES = 12  # older turns fall out of the prompt, not out of the transcript


@dataclass
class Exchange:
    user_text: str  # what the user typed, or the transcript of what they said
    spoken: bool
    reply: Reply
    user_audio: bytes | None = None  # the normalised recording, in memory only, for replay
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def assistant_text(self) -> str:
        return self.reply.transcript


@dataclass
class Conversation:
    customer: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)

    def context_messages(self, customer: str | None = None) -> list[dict]:
        """The customer line, then earlier turns as text only (never their audio)."""
        messages: list[dict] = []
        who = customer if customer is not None else self.customer
        if who:
            messages.append({"role": "system", "content": CUSTOMER_LINE.format(user_name=who)})
        for exchange in self.exchanges[-MAX_HISTORY_EXCHANGES:]:
            messages.append({"role": "user", "content": exchange.user_text})
            messages.append({"role": "assistant", "content": exchange.assistant_text})
            settled = [a for a in exchange.reply.actions if not a.waiting]
            if settled:  # what the agent did about the drafts since: the model must not redo it
                lines = [ACTION_LINE.format(state=a.state, tool=a.tool, reason=a.reason)
                         for a in settled]  # fmt: skip
                messages.append({"role": "system", "content": "\n".join(lines)})
        return messages

    def action(self, action_id: str) -> Action | None:
        for exchange in self.exchanges:
            for action in exchange.reply.actions:
                if action.id == action_id:
                    return action
        return None

    def add(
        self, user_text: str | None, reply: Reply, *, spoken: bool, audio: bytes | None = None
    ) -> Exchange:
        exchange = Exchange(user_text or SPOKEN_PLACEHOLDER, spoken, reply, audio)
        self.exchanges.append(exchange)
        return exchange
