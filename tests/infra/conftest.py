"""Guards for the infrastructure tests: a test that deployed the program must have run every check it scheduled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.infra.harness import LEDGER


@pytest.fixture(autouse=True)
def every_check_ran() -> Iterator[None]:
    """Fail a test whose scheduled checks never resolved (an Output that never settles would pass silently)."""
    LEDGER.deployments = LEDGER.scheduled = LEDGER.ran = 0
    yield
    if LEDGER.deployments and LEDGER.scheduled == 0:
        pytest.fail("the test deployed the program but scheduled no check")
    if LEDGER.ran != LEDGER.scheduled:
        pytest.fail(f"only {LEDGER.ran} of {LEDGER.scheduled} scheduled checks ran")
