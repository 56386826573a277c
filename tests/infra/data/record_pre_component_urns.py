"""Records pre_component_urns.json: the engine URNs (full parent type chains; the mock monitor's own URNs keep only
the parent's type) that the program at commit ca73a90, the last one before S3VirusScanner, registers per stack
configuration. It runs against that commit's harness, not this tree's:

    git archive ca73a90 | tar -x -C /tmp/pre-component
    cp tests/infra/data/record_pre_component_urns.py /tmp/pre-component/
    cd /tmp/pre-component && PYTHONPATH=. <worktree>/.venv/bin/python record_pre_component_urns.py \
        > <worktree>/tests/infra/data/pre_component_urns.json
"""

from __future__ import annotations

import json
import sys

import pulumi

from tests.infra import harness

CASES = {
    "default": {},
    "attached-blocking": {
        "uploadBuckets": ["corp-uploads/incoming/", "partner-drop/inbound/*.zip"],
        "blockUnscannedDownloads": "true",
        "quarantineKmsKey": True,
        "findingsEmail": "sec@example.com",
    },
    "tag-baked": {"infectedAction": "tag", "definitionsUpdates": False},
    "prod": harness.stack_settings("prod"),
    "eventbridge-batch": {
        "uploadBuckets": ["corp-uploads/incoming/"],
        "triggerMode": "eventbridge",
        "batchOperations": True,
        "resultEvents": True,
    },
}
PARENTS: dict[str, str] = {}
original = harness.RecordingMonitor.RegisterResource


def register(self, request):
    response = original(self, request)
    PARENTS[response.urn] = request.parent
    return response


harness.RecordingMonitor.RegisterResource = register
out: dict[str, dict[str, object]] = {}


def qualified(urn: str) -> str:
    parent = PARENTS.get(urn, "")
    own = urn.split("::")[2].split("$")[-1]
    if not parent or parent.split("::")[2].endswith("pulumi:pulumi:Stack"):
        return own
    return f"{qualified(parent)}${own}"


def record(case: str, d: harness.Deployment) -> None:
    urns = sorted(
        f"urn:pulumi:{harness.STACK}::{harness.PROJECT}::{qualified(u)}::{r.name}"
        for u, r in d.monitor.registrations.items()
        if r.type != "pulumi:pulumi:Stack"
    )
    out[case] = {"settings": CASES[case], "urns": urns}


@pulumi.runtime.test
def run(case: str) -> pulumi.Output[None]:
    d = harness.deploy(CASES[case])
    return d.settled().apply(lambda d: record(case, d))


for case in CASES:
    PARENTS.clear()
    run(case)
SOURCE = (
    "engine URNs (full parent type chains) the program registered at commit ca73a90, before the S3VirusScanner "
    "component; recorded by record_pre_component_urns.py"
)
json.dump({"source": SOURCE, "cases": out}, sys.stdout, indent=1)
sys.stdout.write("\n")
