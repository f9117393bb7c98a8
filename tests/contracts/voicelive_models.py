"""Check Azure AI Voice Live events against the `azure-ai-voicelive` SDK's own models.

The SDK's models are lenient on purpose (they keep whatever arrives); the service is not. This
reads each model's fields and type hints and refuses what they do not describe: a `type` (or
other discriminator) no model has, a field the model lacks, a required field missing, a value of
the wrong JSON type. Open enums (`Union[str, SomeEnum]`) accept any string, as the SDK does.

    from tests.contracts.voicelive_models import client_event_errors, server_event_errors
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
import types
import typing
from functools import cache
from typing import Any

from azure.ai.voicelive import _unions
from azure.ai.voicelive import models as vl
from azure.ai.voicelive._utils.model_base import Model, _RestField
from azure.ai.voicelive.models import _models

_HINT_NAMES = {**vars(_models), "_models": vl, "_unions": _unions}


def client_event_errors(event: Any) -> list[str]:
    """Every way `event` (sent by a client) falls outside the SDK's ClientEvent models."""
    return model_errors(event, vl.ClientEvent)


def server_event_errors(event: Any) -> list[str]:
    """Every way `event` (sent by the service) falls outside the SDK's ServerEvent models."""
    return model_errors(event, vl.ServerEvent)


def model_errors(data: Any, cls: type[Model], path: str = "body") -> list[str]:
    if not isinstance(data, dict):
        return [f"{path}: {type(data).__name__} is not an object ({cls.__name__})"]
    cls, errors = _concrete(cls, data, path)
    if errors:
        return errors
    fields = _fields(cls)
    for key in data:
        if key not in fields:
            errors.append(f"{path}.{key}: {cls.__name__} has no such field")
    for key, hint in fields.items():
        if key not in data:
            if not _optional(hint):
                errors.append(f"{path}.{key}: required by {cls.__name__}")
            continue
        errors += _value_errors(data[key], hint, f"{path}.{key}")
    return errors


def _concrete(cls: type[Model], data: dict, path: str) -> tuple[type[Model], list[str]]:
    """The subclass the discriminators of `data` name (as the SDK's _deserialize picks it), but
    an unknown discriminator is an error here, where the SDK would fall back to the base."""
    used: list[str] = []
    while vars(cls).get("__mapping__"):
        name = next(
            (f._rest_name_input for f in vars(cls).values()
             if isinstance(f, _RestField) and f._is_discriminator
             and f._rest_name_input not in used),
            None,
        )  # fmt: skip
        if name is None:
            break
        used.append(name)
        sub = cls.__mapping__.get(data.get(name))
        if sub is None:
            known = ", ".join(sorted(cls.__mapping__))
            return cls, [f"{path}.{name}: {data.get(name)!r} is not one of {known}"]
        cls = sub
    return cls, []


@cache
def _fields(cls: type[Model]) -> dict[str, Any]:
    """Wire name -> type hint, over the class and its bases."""
    hints = typing.get_type_hints(cls, globalns=_HINT_NAMES)
    fields: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, _RestField):
                fields[value._rest_name_input or attr] = hints[attr]
    return fields


def _optional(hint: Any) -> bool:
    return _is_union(hint) and type(None) in typing.get_args(hint)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _value_errors(value: Any, hint: Any, path: str) -> list[str]:
    if hint is Any:
        return []
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_union(hint):
        if value is None and type(None) in args:
            return []
        options = [a for a in args if a is not type(None)]
        found = [_value_errors(value, option, path) for option in options]
        if any(not errors for errors in found):
            return []
        if len(options) == 1:
            return found[0]
        return [f"{path}: {_show(value)} fits none of {len(options)} shapes ({found[-1][0]})"]
    if origin is typing.Literal:
        allowed = [getattr(a, "value", a) for a in args]
        return [] if value in allowed else [f"{path}: {_show(value)} is not one of {allowed}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: {_show(value)} is not a list"]
        return [
            e for i, item in enumerate(value) for e in _value_errors(item, args[0], f"{path}[{i}]")
        ]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: {_show(value)} is not an object"]
        return [e for k, item in value.items() for e in _value_errors(item, args[1], f"{path}.{k}")]
    return _scalar_errors(value, hint, path)


def _scalar_errors(value: Any, hint: Any, path: str) -> list[str]:
    if isinstance(hint, type) and issubclass(hint, Model):
        return model_errors(value, hint, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = [m.value for m in hint]
        return [] if value in allowed else [f"{path}: {_show(value)} is not one of {allowed}"]
    checks = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        bytes: _is_base64,
        datetime.datetime: lambda v: isinstance(v, (str, int)),
    }
    if hint not in checks:
        return [f"{path}: the checker does not know the type {hint!r}"]
    return [] if checks[hint](value) else [f"{path}: {_show(value)} is not a {hint.__name__}"]


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
