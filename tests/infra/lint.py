"""parliament lint of policy documents, honouring the waivers declared next to the policies."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import parliament

from infra.policies import LINT_WAIVERS, LintWaiver


def findings(policy: dict[str, Any] | str, waivers: Iterable[LintWaiver] = ()) -> list[str]:
    """Unwaived parliament findings of one policy (a document or its JSON)."""
    text = policy if isinstance(policy, str) else json.dumps(policy)
    waived = {w.issue for w in waivers}
    analyzed = parliament.analyze_policy_string(text, include_community_auditors=False)
    return [f"{f.issue}: {f.detail}" for f in analyzed.findings if f.issue not in waived]


def waivers_for(policy_function: str) -> tuple[LintWaiver, ...]:
    """The waivers recorded for a function of infra.policies."""
    return LINT_WAIVERS.get(policy_function, ())
