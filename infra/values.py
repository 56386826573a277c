"""Parsing of stack config values (strings, as the Pulumi engine passes them, or native values), errors naming the
key: shared by infra.config and infra.options."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A stack setting is missing or invalid; the message names the key (``pulumi config set <key> ...``)."""


def _range(key: str, value: int, low: int, high: int, why: str = "") -> None:
    if not low <= value <= high:
        raise ConfigError(f"{key}={value} is out of range {low}..{high}" + (f" {why}" if why else ""))


def _string(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key}={value!r} is not a string")
    return value.strip()


def _int(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} is not an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not an integer") from None


def _bool(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "false"}:
        return text == "true"
    raise ConfigError(f"{key}={value!r} is not a boolean (true/false)")


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError:
            raise ConfigError(
                f"{key}: expected a list (set items with `pulumi config set --path '{key}[0]' ...`), got {value!r}"
            ) from None
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    return value


def _strings(raw: Mapping[str, Any], key: str) -> list[str]:
    items = _list(raw, key)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{key}[{i}]={item!r} is not a non-empty string")
    return [item.strip() for item in items]
