"""The Runtime API double against the real runtime client (awslambdaric from the venv), without a container."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lambda_runtime_api import LambdaRuntimeApi

HANDLER = """\
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "request_id": context.aws_request_id, "arn": context.invoked_function_arn,
            "time_left": context.get_remaining_time_in_millis() > 0}
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[tuple[LambdaRuntimeApi, Path]]:
    (tmp_path / "echo.py").write_text(HANDLER)
    with LambdaRuntimeApi(timeout_s=60) as api:
        yield api, tmp_path


def _start(api: LambdaRuntimeApi, task_root: Path, handler: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": api.address}
    return subprocess.Popen(
        [sys.executable, "-m", "awslambdaric", handler],
        cwd=task_root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_responses_and_errors_are_recorded_per_request(runtime: tuple[LambdaRuntimeApi, Path]) -> None:
    api, task_root = runtime
    big = "x" * 300_000  # beyond libcurl's `Expect: 100-continue` threshold
    ok_id = api.invoke({"n": 1, "big": big})
    fail_id = api.invoke({"fail": True})
    process = _start(api, task_root, "echo.handler")
    try:
        ok = api.wait(ok_id, timeout_s=30)
        failed = api.wait(fail_id, timeout_s=30)
    finally:
        process.terminate()
        process.wait(10)

    assert ok.succeeded
    assert ok.response == {
        "echo": {"n": 1, "big": big},
        "request_id": ok_id,
        "arn": api.function_arn,
        "time_left": True,
    }
    assert not failed.succeeded
    assert failed.error["errorType"] == "ValueError"
    assert failed.error["errorMessage"] == "asked to fail"
    assert api.first_poll_at is not None
    assert api.first_poll_at <= ok.delivered_at <= ok.completed_at


def test_a_handler_that_cannot_load_is_an_init_error(runtime: tuple[LambdaRuntimeApi, Path]) -> None:
    api, task_root = runtime
    request_id = api.invoke({})
    process = _start(api, task_root, "missing_module.handler")
    try:
        with pytest.raises(AssertionError, match="missing_module"):
            api.wait(request_id, timeout_s=30)
    finally:
        process.terminate()
        process.wait(10)
    assert api.init_errors[0].error["errorType"] == "Runtime.ImportModuleError"


def test_unknown_request_ids_are_rejected(runtime: tuple[LambdaRuntimeApi, Path]) -> None:
    api, _ = runtime
    host, port = api.address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("POST", "/2018-06-01/runtime/invocation/no-such-id/response", body=b"{}")
    assert connection.getresponse().status == 400
