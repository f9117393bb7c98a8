"""Tool calls act for the customer being helped, and changes wait for the agent.

The model decides which tools to call, but it does not decide whom they are about: a hostile
help-centre passage, a ticket comment or a misheard word must not make it read another player's
data or file a grievance in someone's name. Per question, a `Binding`:

* holds a call that names a player other than the customer (when one is selected) and tells the
  model so; the agent may run it with one click (an `Action`);
* withholds a result that belongs to another player (a ticket) unless the agent confirms;
* drafts a call that changes something (a grievance) instead of running it, unless the agent
  asked to file at once; refuses one for a player who does not exist; and offers an open
  grievance about the same thing instead of a duplicate;
* enforces each tool's per-question limit.

Staff may look up any player on purpose: with no customer selected, lookups are not held (the
trace names the player of every call), but nothing is filed for a player who does not exist.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from assistant.models import Action
from tools.base import Tool, ToolResult
from tools.player_stats import USER_NAME_PATTERN
from tools.registry import Dispatch, ToolRegistry

_USER_NAME = re.compile(USER_NAME_PATTERN)


def valid_customer(name: str | None) -> str | None:
    """The customer's user name, lower-cased, or None; ValueError when it is not a user name (it
    goes into the model's instructions, so it must never be free text)."""
    if name is None or not name.strip():
        return None
    name = name.strip()
    if not _USER_NAME.fullmatch(name):
        raise ValueError(  # not echoed: it may be anything at all
            "The customer is not a player's user name (letters, digits, dots, dashes and "
            "underscores only)."
        )
    return name.lower()


@dataclass(frozen=True)
class Grants:
    """What the agent allowed for one question, beyond the customer being helped."""

    players: frozenset[str] = frozenset()  # other players the agent chose to ask about
    file_now: bool = False  # file what the model asks to file, without a draft (`ask --yes`)


class PlayerDirectory:
    """Whether a player exists and what is open for them, asked of the tools themselves (so the
    same backends, timeouts and errors apply)."""

    def __init__(self, registry: ToolRegistry):
        self.registry = registry

    def exists(self, user_name: str) -> bool | None:
        """True or False; None when the statistics cannot be reached to tell."""
        result = self._run("get_player_summary", user_name)
        if result is None:
            return None
        if result.ok:
            return True
        return False if result.error == "unknown_player" else None

    def open_tickets(self, user_name: str, category: str) -> list[dict[str, Any]]:
        result = self._run("list_grievances", user_name)
        if result is None or not result.ok:
            return []
        return [
            t
            for t in result.data.get("tickets") or []
            if t.get("category") == category and t.get("status_category") != "Done"
        ]

    def _run(self, tool: str, user_name: str) -> ToolResult | None:
        if tool not in self.registry.tools:
            return None
        return self.registry.run(tool, json.dumps({"user_name": user_name})).result


class Binding:
    """One question's policy. `before` may hold a validated call; `after` may withhold a result.
    The actions waiting for the agent collect in `actions`."""

    def __init__(
        self, customer: str | None, grants: Grants, directory: PlayerDirectory
    ) -> None:
        self.customer = customer
        self.grants = grants
        self.directory = directory
        self.actions: list[Action] = []
        self._calls: Counter[str] = Counter()

    def before(self, tool: Tool, args: BaseModel) -> Dispatch | None:
        """None to run the call now; otherwise the Dispatch that answers it instead."""
        arguments = args.model_dump(mode="json")
        label = tool.label(args)
        self._calls[tool.name] += 1
        if tool.per_question is not None and self._calls[tool.name] > tool.per_question:
            noun = "grievance" if tool.acts else f"{tool.name} call"
            return _answer(tool, arguments, ToolResult.failure(
                f"Only {tool.per_question} {noun} can be made per question; this one was not.",
                error="per_question_limit"), label)  # fmt: skip
        player = self._player(tool, arguments)
        if tool.acts:
            return self._draft(tool, arguments, player, label)
        if player and self._foreign(player):
            return self._hold(tool, arguments, player, label)
        return None

    def after(self, tool: Tool, dispatch: Dispatch) -> Dispatch:
        """The result as the model may see it, and what came of a call that acts."""
        owner = tool.owner(dispatch.result) if tool.owner else None
        arguments = dispatch.arguments if isinstance(dispatch.arguments, dict) else {}
        if owner and self._foreign(owner):
            ticket = dispatch.result.data.get("ticket") or {}
            key = ticket.get("key") or "that grievance"
            sentence = (
                f"Grievance {key} belongs to another player, not {self.customer}; its details "
                "are not shown unless the agent confirms."
            )
            self._action("other_ticket", tool, arguments, "held", sentence, owner)
            return _answer(tool, arguments, ToolResult.failure(sentence, "other_players_ticket"),
                           label=dispatch.label, ms=dispatch.ms)  # fmt: skip
        if tool.acts:  # filed at once (file_now): record it beside the drafts
            self._action("grievance", tool, arguments, outcome_state(tool, dispatch.result),
                         dispatch.result.summary, self._player(tool, arguments),
                         result=dispatch.result.as_dict())  # fmt: skip
        return dispatch

    # -- the policy ------------------------------------------------------------------------------

    def _foreign(self, player: str) -> bool:
        """About someone other than the customer, and not granted by the agent for this question."""
        return (
            self.customer is not None
            and player != self.customer
            and player not in self.grants.players
        )

    def _hold(self, tool: Tool, arguments: dict[str, Any], player: str, label: str) -> Dispatch:
        sentence = (
            f"I did not look that up: it is about {player}, but the customer being helped is "
            f"{self.customer}; the agent can run it for {player}."
        )
        self._action("other_player", tool, arguments, "held", sentence, player)
        return _answer(tool, arguments, ToolResult.failure(sentence, error="other_player"), label)

    def _draft(
        self, tool: Tool, arguments: dict[str, Any], player: str | None, label: str
    ) -> Dispatch | None:
        exists = self.directory.exists(player) if player else False
        if exists is False:
            return _answer(tool, arguments, ToolResult.failure(
                f"There is no player called {player}; nothing was filed. Ask for the player's "
                "user name.", error="unknown_player"), label)  # fmt: skip
        category = str(arguments.get("category") or "")
        duplicate = next(iter(self.directory.open_tickets(player or "", category)), None)
        if self.grants.file_now and exists and duplicate is None and not self._foreign(player):
            return None  # the agent said to file at once: run it now
        topic = category.replace("_", " ")
        notes = []
        if self._foreign(player):
            notes.append(f"it is for {player}, not for {self.customer}, the customer being helped")
        if exists is None:
            notes.append(f"I could not check right now that {player} exists")
        if duplicate is not None:
            notes.append(
                f"{player} already has open grievance {duplicate.get('key')} about {topic} "
                f"({duplicate.get('status')}), which may cover this"
            )
        sentence = (  # one sentence: it is spoken as it is, and shown to the agent
            f"I have drafted a {topic} grievance for {player}; it is not filed until it is "
            "confirmed" + "".join(f"; {note}" for note in notes) + "."
        )
        action = self._action("grievance", tool, arguments, "drafted", sentence, player,
                              duplicate_of=duplicate.get("key") if duplicate else None)  # fmt: skip
        return _answer(tool, arguments, ToolResult.success(
            sentence, state="drafted", draft=action.as_json()), "Drafting the grievance")  # fmt: skip

    @staticmethod
    def _player(tool: Tool, arguments: dict[str, Any]) -> str | None:
        value = arguments.get(tool.player_argument) if tool.player_argument else None
        return str(value).lower() if value else None

    def _action(
        self, kind: str, tool: Tool, arguments: dict[str, Any], state: str, reason: str,
        player: str | None, **extra: Any,
    ) -> Action:
        action = Action(
            id=uuid.uuid4().hex[:12], kind=kind, tool=tool.name, arguments=dict(arguments),
            state=state, reason=reason, player=player, **extra,
        )  # fmt: skip
        self.actions.append(action)
        return action


def outcome_state(tool: Tool, result: ToolResult) -> str:
    """What running an action's call came to."""
    if not tool.acts:
        return "done" if result.ok else "failed"
    if result.error == "timeout":  # it goes on in the background and lands in the outbox
        return "queued"
    if not result.ok:
        return "failed"
    ticket = result.data.get("ticket") or {}
    return "queued" if ticket.get("queued") else "filed"


def _answer(
    tool: Tool, arguments: dict[str, Any], result: ToolResult, label: str = "", ms: float = 0.0
) -> Dispatch:
    return Dispatch(tool.name, arguments, result, label or tool.name, ms)
