"""podman as these machines need it: runc, explicit ulimits, a local base image, the CA bundle as a build secret."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE_SCRIPT = ROOT / "scripts" / "make-base-image.sh"

# crun fails on this cgroup setup; the default ulimits exceed what the host lets a container raise them to.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
"""


class PodmanUnavailable(Exception):
    """podman is missing or cannot run containers here."""


@dataclass(frozen=True)
class BaseImage:
    reused: bool
    seconds: float


@dataclass(frozen=True)
class Build:
    image: str
    seconds: float
    steps_from_cache: int
    log: Path


class Podman:
    """Runs podman with a containers.conf of its own (CONTAINERS_CONF) and bounded waits."""

    def __init__(self, work_dir: Path) -> None:
        executable = shutil.which("podman")
        if executable is None:
            raise PodmanUnavailable("podman is not installed")
        self.executable = executable
        self.work_dir = work_dir
        conf = work_dir / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        info = self.run("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout_s=60)
        if info.returncode != 0:
            raise PodmanUnavailable(f"podman info failed: {info.stderr.strip()}")

    def run(self, *args: str, check: bool = True, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.executable, *args], env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
        return result

    def ensure_base_image(self, timeout_s: float = 420) -> BaseImage:
        """Run scripts/make-base-image.sh, which reuses the image when present."""
        started = time.monotonic()
        result = subprocess.run(
            ["bash", str(BASE_IMAGE_SCRIPT)], env=self.env, capture_output=True, text=True, timeout=timeout_s
        )
        if result.returncode != 0:
            raise AssertionError(f"make-base-image.sh exited {result.returncode}:\n{result.stderr[-4000:]}")
        return BaseImage(reused="present, reused" in result.stdout, seconds=time.monotonic() - started)

    def build(self, image: str, *, build_args: dict[str, str], ca_bundle: Path | None, timeout_s: float = 480) -> Build:
        """podman build of the project's Dockerfile; the CA bundle is mounted as the `ca` secret, never copied."""
        log = self.work_dir / "build.log"
        args = ["build", "--pull=never", "--tag", image, "--file", str(ROOT / "Dockerfile")]
        for name, value in build_args.items():
            args += ["--build-arg", f"{name}={value}"]
        if ca_bundle is not None:
            args += ["--secret", f"id=ca,src={ca_bundle}"]
        started = time.monotonic()
        with log.open("w") as out:
            result = subprocess.run(
                [self.executable, *args, str(ROOT)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout_s,
            )
        seconds = time.monotonic() - started
        text = log.read_text(errors="replace")
        if result.returncode != 0:
            raise AssertionError(f"podman build exited {result.returncode}; end of {log}:\n{text[-6000:]}")
        return Build(image, seconds, text.count("--> Using cache"), log)

    def image_size(self, image: str) -> int:
        return int(self.run("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())

    def remove_container(self, name: str) -> None:
        self.run("rm", "--force", "--time", "0", name, check=False)


def ca_bundle() -> Path | None:
    """The CA bundle pip is configured with here (TLS to PyPI passes through a proxy whose CA it holds)."""
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
