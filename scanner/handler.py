"""Lambda entry point: `scanner.handler.lambda_handler`. Thin: parse, delegate, return."""

from __future__ import annotations

import os
from typing import Any

from scanner.config import Settings
from scanner.runtime import ScannerRuntime

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


# Start clamd during Lambda's init phase, once per execution environment (after fetching the published
# definitions, when a definitions bucket is configured): loading the database overlaps with the first
# invocation's start and is never paid again while the environment stays warm.
if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    get_runtime().start()
