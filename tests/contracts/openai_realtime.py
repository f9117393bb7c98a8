"""Check Realtime events (OpenAI's GA protocol) against OpenAI's published schema.

Client events are checked strictly, as the service does (an unknown key is an error); server
events as published (open objects: clients must tolerate fields added later). Each event is
checked against the one schema its `type` names, so an error reads "body.item.call_id: ..."
rather than "matches none of 46 shapes". A `type` the spec does not list is an error itself.

    from tests.contracts.openai_realtime import client_event_errors, server_event_errors
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from tests.contracts.openai_chat import ContractError, schema_errors

SCHEMA_FILE = Path(__file__).with_name("openai_realtime.schema.json")
CLIENT = "RealtimeClientEvent"
SERVER = "RealtimeServerEvent"


def client_event_errors(event: Any) -> list[str]:
    """Every way `event` (sent by a client) breaks the published schema."""
    return _errors(CLIENT, event, closed=True)


def server_event_errors(event: Any) -> list[str]:
    """Every way `event` (sent by a server) breaks the published schema."""
    return _errors(SERVER, event, closed=False)


def validate_client_event(event: Any) -> None:
    errors = client_event_errors(event)
    if errors:
        raise ContractError(CLIENT, errors)


def validate_server_event(event: Any) -> None:
    errors = server_event_errors(event)
    if errors:
        raise ContractError(SERVER, errors)


def event_types(root: str) -> dict[str, str]:
    """Each event `type` the spec lists under `root`, and the schema that describes it."""
    return dict(_by_type(root))


def _errors(root: str, event: Any, *, closed: bool) -> list[str]:
    if not isinstance(event, dict):
        return [f"body: {type(event).__name__} is not an object"]
    name = _by_type(root).get(event.get("type"))
    if name is None:
        return [f"body.type: {event.get('type')!r} is not an event type of {root}"]
    return schema_errors(name, event, closed=closed, schema_file=SCHEMA_FILE)


@cache
def _by_type(root: str) -> dict[str, str]:
    defs = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["$defs"]
    found: dict[str, str] = {}
    for branch in defs[root]["anyOf"]:
        name = branch["$ref"].rsplit("/", 1)[-1]
        for event_type in defs[name]["properties"]["type"].get("enum", []):
            found[event_type] = name
    return found
