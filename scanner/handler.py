"""Lambda entry point: `scanner.handler.lambda_handler`. Thin: parse, delegate, return."""

from __future__ import annotations

import os
from typing import Any

from scanner.config import Settings
from scanner.runtime import ScannerRuntime

INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
"""Set by Lambda: on-demand, provisioned-concurrency or snap-start."""

_runtime: ScannerRuntime | None = None


def get_runtime() -> ScannerRuntime:
    """The execution environment's runtime, built from the environment on first use."""
    global _runtime
    if _runtime is None:
        _runtime = ScannerRuntime.from_settings(Settings.from_environment())
    return _runtime


def set_runtime(runtime: ScannerRuntime | None) -> None:
    """Install a runtime (the local pipeline and tests build their own)."""
    global _runtime
    _runtime = runtime


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scan every object the event names; see scanner.runtime.ScannerRuntime.handle."""
    return get_runtime().handle(event, context)


# Lambda's init phase is capped at 10 s, and what does not finish is retried inside the first invocation: so init
# only starts the cold start (definitions download, clamd spawn) in a background thread and returns; the first
# invocation waits for it. With provisioned concurrency the environment is initialised before any traffic, so
# init waits for clamd to be ready there.
if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    get_runtime().start_in_background(wait=os.environ.get(INITIALIZATION_TYPE) == "provisioned-concurrency")
