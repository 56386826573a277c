"""A small evaluator of IAM policy statements, enough to ask a policy document the questions the tests ask.

It implements what the stack's documents use: Action/Resource with wildcards, Principal "*" or a service, and the
condition operators StringEquals, StringNotEquals, StringLike, StringNotLike, ArnEquals, ArnNotEquals, ArnLike, Bool,
Null, with the ForAnyValue: qualifier. A key absent from the request makes a positive operator false and a negated
one true, as AWS documents for condition keys that are not present
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html).
An unknown operator fails the test rather than being guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class Request:
    """One authorisation question: who calls which action on which resource, with which context keys."""

    action: str
    resource: str
    principal_arn: str = "arn:aws:iam::123456789012:role/uploader"
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _match(patterns: Any, value: str) -> bool:
    return any(fnmatchcase(value, p) for p in _listed(patterns))


def _operator(name: str, expected: list[str], actual: list[str] | None) -> bool:
    any_value = name.startswith("ForAnyValue:")
    base = name.removeprefix("ForAnyValue:")
    if base == "Null":
        return (actual is None) == (expected[0] == "true")
    negated = base in {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}
    if actual is None:
        return negated and not any_value
    like = base in {"StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals"}
    if base not in {"StringEquals", "StringNotEquals", "Bool"} and not like:
        raise AssertionError(f"condition operator {name} is not implemented by the test evaluator")

    def hit(value: str) -> bool:
        return any(fnmatchcase(value, e) if like else value == e for e in expected)

    matched = any(hit(v) for v in actual)
    return not matched if negated else matched


def _conditions_hold(condition: Mapping[str, Mapping[str, Any]], request: Request) -> bool:
    context = {"aws:PrincipalArn": request.principal_arn, **request.context}
    lowered = {k.lower(): v for k, v in context.items()}
    for operator, keys in condition.items():
        for key, expected in keys.items():
            actual = lowered.get(key.lower())
            if not _operator(
                operator,
                [str(e).lower() if operator == "Bool" else str(e) for e in _listed(expected)],
                None if actual is None else [str(a) for a in _listed(actual)],
            ):
                return False
    return True


def applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Does this statement cover the request (action, resource and every condition)?"""
    if not _match(statement["Action"], request.action):
        return False
    if "Resource" in statement and not _match(statement["Resource"], request.resource):
        return False
    return _conditions_hold(statement.get("Condition", {}), request)


def denied(policy: Mapping[str, Any], request: Request) -> list[str]:
    """Sids of the Deny statements that refuse the request."""
    return [s.get("Sid", "?") for s in policy["Statement"] if s["Effect"] == "Deny" and applies(s, request)]


def allowed(policy: Mapping[str, Any], request: Request) -> bool:
    """Allowed by an Allow statement and refused by no Deny (an identity policy's answer on its own)."""
    if denied(policy, request):
        return False
    return any(s["Effect"] == "Allow" and applies(s, request) for s in policy["Statement"])
