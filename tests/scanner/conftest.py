"""Fixtures of the attack tests in this folder (test_fail_closed.py, test_release_flow.py)."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.runtime import ScannerRuntime
from tests.support.attacks import with_allow_list


@pytest.fixture
def dynamodb(session: Any, endpoint: str) -> Any:
    return session.client("dynamodb", endpoint_url=endpoint)


@pytest.fixture
def runtime(make_runtime: Any, dynamodb: Any) -> ScannerRuntime:
    """Quarantine mode with the release allow-list, as deployed."""
    return with_allow_list(make_runtime(), dynamodb)
