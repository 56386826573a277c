"""Checks registered inputs against the provider SDKs' generated input types, recursively.

pulumi-aws and pulumi-docker-build generate one ``@pulumi.input_type`` class per resource (``BucketArgs``) and per
nested object (``BucketLifecycleConfigurationRuleFilterArgs``); ``pulumi._types.input_type_types`` gives each
property's wire name and type. A key the SDK does not know, a value of the wrong shape, or a missing required
argument is reported with its path, e.g. ``quarantine-lifecycle.rules[0].filter.prefx``.
"""

from __future__ import annotations

import collections.abc
import enum
import sys
import typing
from typing import Any

import pulumi
from pulumi import _types

from tests.infra.harness import SECRET_SIG

PROVIDER_MODULES = ("pulumi_aws.", "pulumi_docker_build.")


def args_class(resource: pulumi.Resource) -> type:
    """The generated args input type of a provider resource: the public input type its own module defines
    (``BucketArgs``; ``BucketVersioningInitArgs`` where a nested type already took the plain name)."""
    cls = type(resource)
    module = sys.modules[cls.__module__]
    found = [
        value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and isinstance(value, type)
        and value.__module__ == cls.__module__
        and _types.is_input_type(value)
    ]
    if len(found) != 1:
        raise AssertionError(f"{cls.__module__}: expected one generated args type, found {found}")
    return found[0]


def is_provider_resource(resource: pulumi.Resource) -> bool:
    return isinstance(resource, pulumi.CustomResource) and type(resource).__module__.startswith(PROVIDER_MODULES)


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict) and SECRET_SIG in value:
        return value.get("value")
    return value


def _concrete(typ: Any) -> Any:
    """``Input[X]`` is ``Union[X, Awaitable[X], Output[X]]``; Optional adds None: keep X."""
    if typing.get_origin(typ) is typing.Union:
        members = [
            a
            for a in typing.get_args(typ)
            if a is not type(None)
            and typing.get_origin(a) is not collections.abc.Awaitable
            and not (isinstance(a, type) and issubclass(a, pulumi.Output))
            and typing.get_origin(a) is not pulumi.Output
        ]
        return members[0] if len(members) == 1 else typing.Union[tuple(members)]  # noqa: UP007
    return typ


def check_value(value: Any, typ: Any, path: str, errors: list[str]) -> None:
    value = _unwrap(value)
    if value is None or typ is Any:
        return
    typ = _concrete(typ)
    origin = typing.get_origin(typ)
    if origin is typing.Union:
        trial: list[list[str]] = []
        for member in typing.get_args(typ):
            member_errors: list[str] = []
            check_value(value, member, path, member_errors)
            if not member_errors:
                return
            trial.append(member_errors)
        errors.extend(trial[0])
        return
    if origin in (collections.abc.Sequence, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        (item,) = typing.get_args(typ)
        for i, element in enumerate(value):
            check_value(element, item, f"{path}[{i}]", errors)
        return
    if origin in (collections.abc.Mapping, dict):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        _, item = typing.get_args(typ)
        for key, element in value.items():
            check_value(element, item, f"{path}.{key}", errors)
        return
    if isinstance(typ, type) and _types.is_input_type(typ):
        check_object(value, typ, path, errors)
        return
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        allowed = {m.value for m in typ}
        if value not in allowed:
            errors.append(f"{path}: {value!r} is not one of {sorted(allowed)}")
        return
    # The wire (protobuf Struct) carries every number as a double: an int arrives as 30.0.
    if typ is int and isinstance(value, float) and value.is_integer():
        return
    expected = {str: (str,), bool: (bool,), int: (int,), float: (int, float)}.get(typ)
    if expected is None:
        errors.append(f"{path}: the checker does not know the type {typ!r}")
    elif not isinstance(value, expected) or (typ is not bool and isinstance(value, bool)):
        errors.append(f"{path}: expected {typ.__name__}, got {type(value).__name__} {value!r}")


def check_object(value: Any, input_type: type, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({input_type.__name__}), got {type(value).__name__}")
        return
    properties = _types.input_type_types(input_type)
    for key, element in value.items():
        if key not in properties:
            errors.append(f"{path}.{key}: {input_type.__name__} has no such argument")
            continue
        check_value(element, properties[key], f"{path}.{key}", errors)
    # The SDK's own notion of required: the property's annotation does not admit None (wire names).
    for required in sorted(_types._required_property_names(input_type)):
        if required not in value:
            errors.append(f"{path}: the required argument {required} is missing")


def check_inputs(name: str, resource: pulumi.Resource, inputs: dict[str, Any]) -> list[str]:
    """Every problem with one registration's inputs, against its resource's generated input types."""
    errors: list[str] = []
    check_object(inputs, args_class(resource), name, errors)
    return errors
