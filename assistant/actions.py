"""What the agent does with a call that waits for them (assistant/binding.py): confirm it, with
edits, or set it aside. Confirming runs the call as the agent's own act, exactly once however
often it is clicked, from the page or the engine."""

from __future__ import annotations

import json
import logging
from typing import Any

from assistant.binding import outcome_state
from assistant.errors import TurnError
from assistant.history import Conversation
from assistant.models import Action
from tools.base import ToolContext
from tools.registry import Dispatch, ToolRegistry

log = logging.getLogger(__name__)


def confirm(
    registry: ToolRegistry,
    conversation: Conversation,
    action_id: str,
    *,
    agent: str | None = None,
    edits: dict[str, Any] | None = None,
) -> Action:
    """File the drafted grievance (with the agent's edits), or run the held call for the other
    player, and record what came of it on the action. A second confirm of an action that ran
    returns it as it is. An invalid edit raises TurnError and leaves the action waiting."""
    action = _find(conversation, action_id)
    prepared = registry.prepare(action.tool, json.dumps({**action.arguments, **(edits or {})}))
    if isinstance(prepared, Dispatch):
        raise TurnError(prepared.result.summary, code="action_arguments", retryable=False)
    tool, args = prepared
    with action.lock:
        if not action.waiting:
            return action
        action.state, action.arguments = "confirmed", args.model_dump(mode="json")
    future = registry.start(tool, args, context=ToolContext(agent=agent))[1]
    dispatch = registry.wait(future, action.tool, json.dumps(action.arguments))
    action.result = dispatch.result.as_dict()
    action.reason = dispatch.result.summary
    action.state = outcome_state(tool, dispatch.result)
    log.info("action %s %s -> %s", action.kind, action.tool, action.state)
    return action


def withdraw(conversation: Conversation, action_id: str) -> Action:
    """The agent said no: the action stays in the record, never to run."""
    action = _find(conversation, action_id)
    with action.lock:
        if action.waiting:
            action.state = "withdrawn"
            action.reason = "The agent set this aside; it was not run."
    return action


def _find(conversation: Conversation, action_id: str) -> Action:
    action = conversation.action(action_id)
    if action is None:
        raise TurnError("That action is no longer part of this conversation.", code="action")
    return action
