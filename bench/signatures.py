"""A synthetic signature database of about a million signatures, generated deterministically.

    python -m bench signatures            # bench/.cache/db-1m: 1,000,000 .hdb + 100,000 .ndb + the test signatures
    python -m bench signatures --quick    # bench/.cache/db-quick: 1,000 + 100

`.hdb` lines are `md5:size:name` with random MD5s over a capped set of sizes (ClamAV groups hash signatures
by size); `.ndb` lines are `name:0:*:hex` bodies of 16-32 random bytes, matched anywhere in any file type.
The project's test signatures (EICAR body, clamav-testfiles' MD5) are copied in, so detections still work.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import CACHE, TEST_SIGNATURES, parser, require

SEED = 20261127


@dataclass(frozen=True)
class DatabaseSpec:
    """What to generate; the spec is stored next to the files and regenerated when it changes."""

    hdb: int
    ndb: int
    sizes: int = 64
    seed: int = SEED

    @property
    def name(self) -> str:
        return "db-1m" if self.hdb >= 1_000_000 else "db-quick"


FULL = DatabaseSpec(hdb=1_000_000, ndb=100_000)
QUICK = DatabaseSpec(hdb=1_000, ndb=100)


def ensure_database(quick: bool = False) -> Path:
    """The database directory for a run, generated on first use."""
    spec = QUICK if quick else FULL
    directory = CACHE / spec.name
    stamp = directory / "spec.json"
    if stamp.exists() and json.loads(stamp.read_text()) == asdict(spec):
        return directory
    generate(spec, directory)
    return directory


def generate(spec: DatabaseSpec, directory: Path) -> None:
    started = time.monotonic()
    if directory.exists():
        shutil.rmtree(directory)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    rng = random.Random(spec.seed)
    sizes = sorted(rng.randrange(1024, 64 * 1024**2) for _ in range(spec.sizes))
    with (partial / "bench.hdb").open("w") as handle:
        for index in range(spec.hdb):
            handle.write(f"{rng.randbytes(16).hex()}:{rng.choice(sizes)}:Bench.Hash-{index}\n")
    with (partial / "bench.ndb").open("w") as handle:
        for index in range(spec.ndb):
            handle.write(f"Bench.Body-{index}:0:*:{rng.randbytes(rng.randrange(16, 33)).hex()}\n")
    for path in TEST_SIGNATURES.iterdir():
        shutil.copy(path, partial / path.name)
    (partial / "spec.json").write_text(json.dumps(asdict(spec)) + "\n")
    partial.rename(directory)
    print(f"generated {directory} ({spec.hdb:,} hdb + {spec.ndb:,} ndb) in {time.monotonic() - started:.1f} s")


def signature_count(directory: Path) -> int:
    """Signatures clamscan reports loading from `directory` (checks the files are valid, too)."""
    result = subprocess.run(
        [require("clamscan"), "-d", str(directory), "/dev/null"], capture_output=True, text=True, check=False
    )
    for line in result.stdout.splitlines():
        if line.startswith("Known viruses:"):
            return int(line.split(":")[1])
    raise RuntimeError(f"clamscan could not load {directory}: {result.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    directory = ensure_database(args.quick)
    print(f"{directory}: {signature_count(directory):,} signatures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
