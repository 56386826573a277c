"""Detections of the generated database on ordinary data (expect 0), and on the test files (expect each found).

    python -m bench falsepositives [--quick] [--profile official|legacy]

A warm clamd on the database scans, by INSTREAM, 64 MiB (quick: 256 KiB) of each content kind of bench/corpus.py
(random bytes, CSV text, a tar of this machine's shared libraries, an office-like zip, a PDF, a PE built from
library code), every shared library under /usr/lib on its own (full run), and the positive controls: EICAR, the
clamav-testfiles MD5 (clam.exe) and the database's canary. A generated signature that matches ordinary data shows
up here by name.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.clamd_proc import running_clamd
from bench.common import MiB, parser, write_result
from bench.corpus import KINDS, corpus_file, shared_libraries
from bench.scanning import scan
from bench.signatures import CANARY, canary_name, ensure_database, signature_count
from scanner.cli.demo import EICAR

TESTFILE = Path("/usr/share/clamav-testfiles/clam.exe")


def controls(profile: str) -> dict[str, tuple[bytes | Path, str]]:
    """Content that must be detected, with the signature name expected."""
    found = {"eicar": (EICAR, "Eicar-Test-Signature-Body"), "clamav-testfile": (TESTFILE, "ClamAV-Test-File")}
    if profile == "official":
        found["canary"] = (CANARY + bytes(1024), canary_name("a"))
    return found


def measure(database: Path, profile: str, size: int, each_library: bool) -> dict[str, Any]:
    corpora: dict[str, list[str]] = {}
    limits: dict[str, str] = {}
    """A limit reached (MaxScanTime...) is not a signature match: reported apart."""
    scanned = 0
    with running_clamd(database, name="fp") as clamd:
        for kind in KINDS:
            verdict = scan(clamd.client, corpus_file(kind, size))
            if "Heuristics.Limits." in verdict.reply:
                limits[kind] = verdict.reply
            corpora[kind] = [] if verdict.clean or kind in limits else [verdict.reply]
            scanned += size
            print(f"{kind:8} {size / MiB:g} MiB: {verdict.reply} ({verdict.seconds:.2f} s)")
        if each_library:
            hits = []
            for library in shared_libraries():
                verdict = scan(clamd.client, library)
                scanned += library.stat().st_size
                if not verdict.clean:
                    hits.append(f"{library}: {verdict.reply}")
            corpora["each-shared-library"] = hits
            print(f"each shared library ({len(shared_libraries())} files): {len(hits)} not OK")
        positive = {}
        for label, (content, expected) in controls(profile).items():
            verdict = scan(clamd.client, content)
            positive[label] = {"reply": verdict.reply, "detected": bool(verdict.found and expected in verdict.found)}
            print(f"control {label}: {verdict.reply}")
    return {
        "signatures": signature_count(database),
        "bytes_scanned": scanned,
        "false_positives": sum(len(hits) for hits in corpora.values()),
        "corpora": corpora,
        "limits_reached": limits,
        "controls": positive,
        "controls_detected": all(c["detected"] for c in positive.values()),
    }


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    options = args.parse_args(argv)
    database = ensure_database(options.quick, options.profile)
    size = 256 * 1024 if options.quick else 64 * MiB
    results = measure(database, options.profile, size, each_library=not options.quick)
    print(f"false positives: {results['false_positives']}, controls detected: {results['controls_detected']}")
    write_result(options, "falsepositives", {"profile": options.profile, "database": str(database), **results})
    return 0 if results["false_positives"] == 0 and results["controls_detected"] else 1


if __name__ == "__main__":
    sys.exit(main())
