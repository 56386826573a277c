"""Serves the S3VirusScanner component to programs in other languages (``pulumi package add``).

The language host runs ``python <this directory> <engine address>``; the schema is inferred from the annotations of
ScannerArgs, ScanBucket and S3VirusScanner (``pulumi.provider.experimental``).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

# The checkout holds infra/ and scanner/ (and the Dockerfile the component builds from); the plugin's virtualenv has
# only the Pulumi SDKs.
CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT))

from pulumi.provider.experimental import component_provider_host

from infra.component import PACKAGE, S3VirusScanner

if __name__ == "__main__":
    version = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"]
    component_provider_host(components=[S3VirusScanner], name=PACKAGE, version=version)
