"""The container image, built and run for real with podman.

Built with the project's test signatures, then run the way Lambda runs it: any uid, a read-only root
filesystem with a tmpfs /tmp, no capabilities. awslambdaric talks to a test double of the Runtime API and
the scanner to a moto server, both on loopback. Measures the build time, the image size and the cold start
(container start to first verdict) into build/image-test.json.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scanner import constants as c
from scanner.actions import quarantine_key
from scanner.verdict import ScanStatus
from tests.image.podman import ROOT, BaseImage, Build, Podman, PodmanUnavailable, ca_bundle
from tests.support.events import put_and_event
from tests.support.lambda_runtime_api import Invocation, LambdaRuntimeApi

pytestmark = [pytest.mark.image, pytest.mark.timeout(600)]

IMAGE = "localhost/s3-clamav-scanner:image-test"
RESULTS = ROOT / "build" / "image-test.json"
RUN_UID = "43210:43210"
"""Not in the image's /etc/passwd: Lambda runs the image as a uid of its own choosing."""
COLD_START_BUDGET_S = 120.0
LAMBDA_LIKE = (
    "--read-only", "--tmpfs", "/tmp", "--user", RUN_UID, "--network", "host",
    "--cap-drop", "all", "--security-opt", "no-new-privileges",
)  # fmt: skip
"""How Lambda runs an image: any uid, read-only root filesystem, only /tmp writable, no capabilities."""
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "scanner-image-test",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
}
# Split so that no file of the project carries the EICAR test string.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


@dataclass(frozen=True)
class BuiltImage:
    name: str
    build: Build
    size_bytes: int
    base_image: BaseImage


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    try:
        return Podman(tmp_path_factory.mktemp("podman"))
    except PodmanUnavailable as err:
        if _in_ci():
            pytest.fail(f"CI=true and podman cannot run: {err}")
        pytest.skip(f"podman cannot run here: {err}")


@pytest.fixture(scope="session")
def image(podman: Podman) -> BuiltImage:
    base = podman.ensure_base_image()
    build = podman.build(IMAGE, build_args={"SIGNATURES_DIR": "tests/signatures"}, ca_bundle=ca_bundle())
    return BuiltImage(IMAGE, build, podman.image_size(IMAGE), base)


@pytest.fixture
def container_name(podman: Podman) -> Iterator[str]:
    name = f"scanner-image-test-{uuid.uuid4().hex[:8]}"
    yield name
    podman.remove_container(name)


def test_image_layout(podman: Podman, image: BuiltImage) -> None:
    config = json.loads(podman.run("image", "inspect", image.name).stdout)[0]["Config"]
    assert config["Entrypoint"] == ["/opt/venv/bin/python", "-m", "awslambdaric"]
    assert config["Cmd"] == ["scanner.handler.lambda_handler"]
    assert config["WorkingDir"] == "/var/task"
    assert config["User"] != "" and not config["User"].startswith(("0", "root"))

    probe = podman.run(
        "run", "--rm", "--read-only", "--user", RUN_UID, "--network", "none",
        "--entrypoint", "/bin/sh", image.name, "-c",
        # No toolchain and no pip in the final stage; only the scanner package in /var/task; ClamAV 1.4.
        "for tool in gcc cc c++ g++ clang ld make pip pip3; do command -v $tool && exit 11; done;"
        " /opt/venv/bin/python -c 'import pip' 2>/dev/null && exit 12;"
        " ls -A /var/task; clamd --version; freshclam --version; ls /var/lib/clamav",
    )  # fmt: skip
    lines = probe.stdout.split()
    assert lines[0] == "scanner", probe.stdout
    assert "ClamAV 1.4." in probe.stdout, probe.stdout
    assert {"test.hdb", "test.ndb"} <= set(lines), probe.stdout


def test_scans_as_any_uid_on_a_read_only_filesystem(
    podman: Podman,
    image: BuiltImage,
    endpoint: str,
    s3,
    make_bucket,
    container_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uploads = make_bucket("upload")
    quarantine = make_bucket("quarantine", versioned=True)  # as the stack creates it
    clean_event = put_and_event(s3, uploads, "reports/q3 summary.txt", b"quarterly numbers, nothing to see\n")
    infected_event = put_and_event(s3, uploads, "inbox/eicar.com", EICAR)

    with LambdaRuntimeApi(timeout_s=300) as api:
        clean_id = api.invoke(clean_event)
        started = time.monotonic()
        podman.run(
            "run", "--detach", "--name", container_name, *LAMBDA_LIKE,
            *_env(
                AWS_LAMBDA_RUNTIME_API=api.address,
                AWS_ENDPOINT_URL=endpoint,
                **{c.ENV_INFECTED_ACTION: "quarantine", c.ENV_QUARANTINE_BUCKET: quarantine},
            ),
            image.name,
        )  # fmt: skip
        try:
            first = _wait(api, podman, container_name, clean_id, COLD_START_BUDGET_S)
            cold_start_s = first.completed_at - started
            init_s = api.first_poll_at - started if api.first_poll_at else None
            infected = _wait(api, podman, container_name, api.invoke(infected_event), 60)
            warm_s = infected.completed_at - infected.delivered_at
        finally:
            podman.run("stop", "--time", "10", container_name, check=False, timeout_s=60)

    assert [r["status"] for r in first.response["statuses"]] == [ScanStatus.CLEAN]
    assert [r["status"] for r in infected.response["statuses"]] == [ScanStatus.INFECTED]
    clean_key = "reports/q3 summary.txt"
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=uploads, Key=clean_key)["TagSet"]}
    assert tags[c.TAG_STATUS] == ScanStatus.CLEAN, tags
    quarantined = s3.get_object(Bucket=quarantine, Key=quarantine_key(uploads, "inbox/eicar.com"))
    assert quarantined["Body"].read() == EICAR
    assert "Contents" not in s3.list_objects_v2(Bucket=uploads, Prefix="inbox/")

    # --read-only already forbids it; the diff proves nothing outside /tmp was written (tmpfs is not listed).
    diff = podman.run("diff", container_name).stdout.strip()
    assert diff == "", f"written outside /tmp:\n{diff}"

    results = {
        "image": image.name,
        "image_size_bytes": image.size_bytes,
        "image_size_mb": round(image.size_bytes / 1e6, 1),
        "build_seconds": round(image.build.seconds, 1),
        "build_steps_from_cache": image.build.steps_from_cache,
        "base_image_reused": image.base_image.reused,
        "base_image_seconds": round(image.base_image.seconds, 1),
        "cold_start_seconds": round(cold_start_s, 2),
        "init_seconds": round(init_s, 2) if init_s is not None else None,
        "warm_scan_seconds": round(warm_s, 3),
        "first_response": first.response,
        "signatures": "tests/signatures",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    with capsys.disabled():
        print(
            f"\nimage {image.name}: {results['image_size_mb']} MB; build {results['build_seconds']} s"
            f" ({image.build.steps_from_cache} steps from cache); cold start {results['cold_start_seconds']} s"
            f" (init {results['init_seconds']} s); warm scan {results['warm_scan_seconds']} s -> {RESULTS}"
        )


def _env(**values: str) -> list[str]:
    return [arg for name, value in {**AWS_TEST_ENV, **values}.items() for arg in ("--env", f"{name}={value}")]


def _wait(api: LambdaRuntimeApi, podman: Podman, container: str, request_id: str, timeout_s: float) -> Invocation:
    """The invocation's successful reply; on failure, the container's logs explain it."""
    try:
        invocation = api.wait(request_id, timeout_s)
    except AssertionError as err:
        raise AssertionError(f"{err}\n--- container logs ---\n{_logs(podman, container)}") from None
    assert invocation.succeeded, f"{invocation.error}\n--- container logs ---\n{_logs(podman, container)}"
    return invocation


def _logs(podman: Podman, container: str) -> str:
    result = podman.run("logs", "--tail", "80", container, check=False)
    return (result.stdout + result.stderr)[-8000:]
