"""Synthetic signature databases, generated deterministically: `official` (shaped like ClamAV's) or `legacy`.

    python -m bench signatures                      # official: ~3.64 M signatures in main.cud + daily.cud
    python -m bench signatures --profile legacy     # the old 1,000,000 .hdb + 100,000 .ndb set (bench/.cache/db-1m)
    python -m bench signatures --quick              # official shape at 1/1000 (CI)
    python -m bench signatures --layout files       # official, the files unpacked instead of in containers

`official` follows the file-by-file composition in bench/composition.py (published counts of main 63 and daily,
see docs/BENCHMARKS.md) with the line shapes of bench/siggen.py, packed like main.cvd / daily.cvd into unsigned
containers (bench/cud.py). Variant `b` is the next daily release: its daily version is one higher and its canary
signature is named differently, so VERSION and a canary scan tell which database answered. The project's test
signatures (EICAR body, clamav-testfiles' MD5) are copied in as plain files, so detections still work.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import cud
from bench.common import CACHE, TEST_SIGNATURES, parser, require
from bench.composition import OFFICIAL, OFFICIAL_QUICK, Composition, Container
from bench.siggen import SignatureFactory, line_makers, write_lines

SEED = 20261127
GENERATOR = 2
"""Bumped whenever generated lines change, so cached databases are regenerated."""
PROFILES = ("official", "legacy")
DEFAULT_PROFILE = "official"
LAYOUTS = ("cud", "files")
CANARY = b"S3-CLAMAV-SCANNER/BENCH-CANARY:" + bytes.fromhex("5b9e0c71d2a4f8e6193b7d40c2e58a1f")
BUILT = 1_790_000_000
"""Container build time (Sep 2026), fixed so the files are byte for byte reproducible."""


@dataclass(frozen=True)
class DatabaseSpec:
    """The legacy set; stored next to the files and regenerated when it changes."""

    hdb: int
    ndb: int
    sizes: int = 64
    seed: int = SEED

    @property
    def name(self) -> str:
        return "db-1m" if self.hdb >= 1_000_000 else "db-quick"


FULL = DatabaseSpec(hdb=1_000_000, ndb=100_000)
QUICK = DatabaseSpec(hdb=1_000, ndb=100)


def ensure_database(
    quick: bool = False, profile: str = DEFAULT_PROFILE, *, variant: str = "a", layout: str = "cud"
) -> Path:
    """The database directory for a run, generated on first use."""
    if profile == "legacy":
        return _ensure_legacy(quick)
    if profile != "official":
        raise ValueError(f"unknown profile {profile!r}")
    composition = OFFICIAL_QUICK if quick else OFFICIAL
    directory = CACHE / f"db-official{'-quick' if quick else ''}-{layout}-{variant}"
    stamp = {
        "generator": GENERATOR,
        "seed": SEED,
        "variant": variant,
        "layout": layout,
        "composition": repr(composition),
    }
    if _stamp_matches(directory, stamp):
        return directory
    started = time.monotonic()
    partial = _fresh(directory)
    write_official(partial, composition, variant=variant, layout=layout)
    _finish(partial, directory, stamp)
    print(f"generated {directory} ({composition.signatures:,} signatures) in {time.monotonic() - started:.1f} s")
    return directory


def daily_version(variant: str, composition: Composition = OFFICIAL) -> int:
    daily = next(c for c in composition.containers if c.name == "daily")
    return daily.version + (ord(variant) - ord("a"))


def canary_name(variant: str) -> str:
    return f"Bench.Canary.{variant.upper()}-{daily_version(variant)}"


def write_official(directory: Path, composition: Composition, *, variant: str, layout: str) -> None:
    """Every container's files (daily's with the variant's canary), packed or not, plus the test signatures."""
    makers = line_makers(composition.ldb_pcre_share, composition.sizeless_hash_share)
    for index, container in enumerate(composition.containers):
        version = container.version + (ord(variant) - ord("a") if container.name == "daily" else 0)
        factory = SignatureFactory(SEED + index)
        files = []
        for part in container.parts:
            path = directory / f"{container.name}.{part.ext}"
            with path.open("w") as handle:
                write_lines(handle, (makers[part.ext](factory) for _ in range(part.count)))
                if container.name == "daily" and part.ext == "ndb":
                    handle.write(f"{canary_name(variant)}:0:0:{CANARY.hex()}\n")
            files.append(path)
        if layout == "cud":
            cud.pack(directory / f"{container.name}.cud", files, version, container.signatures + 1, BUILT)
    for path in TEST_SIGNATURES.iterdir():
        shutil.copy(path, directory / path.name)


def container_of(composition: Composition, name: str) -> Container:
    return next(c for c in composition.containers if c.name == name)


def _stamp_matches(directory: Path, stamp: dict[str, object]) -> bool:
    path = directory / "spec.json"
    return path.exists() and json.loads(path.read_text()) == stamp


def _fresh(directory: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _finish(partial: Path, directory: Path, stamp: dict[str, object]) -> None:
    (partial / "spec.json").write_text(json.dumps(stamp) + "\n")
    partial.rename(directory)


def _ensure_legacy(quick: bool) -> Path:
    spec = QUICK if quick else FULL
    directory = CACHE / spec.name
    if _stamp_matches(directory, asdict(spec)):
        return directory
    started = time.monotonic()
    partial = _fresh(directory)
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
    _finish(partial, directory, asdict(spec))
    print(f"generated {directory} ({spec.hdb:,} hdb + {spec.ndb:,} ndb) in {time.monotonic() - started:.1f} s")
    return directory


def database_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.iterdir() if path.name != "spec.json")


def signature_count(directory: Path) -> int:
    """Signatures clamscan reports loading from `directory` (checks the files are valid, too)."""
    result = subprocess.run(
        [require("clamscan"), "-d", str(directory), "/dev/null"], capture_output=True, text=True, check=False
    )
    for line in result.stdout.splitlines():
        if line.startswith("Known viruses:"):
            return int(line.split(":")[1])
    raise RuntimeError(f"clamscan could not load {directory}: {result.stderr.strip()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--layout", choices=LAYOUTS, default="cud", help="official: containers (default) or files")
    args.add_argument("--variant", default="a", choices=("a", "b"), help="official: this release or the next")
    options = args.parse_args(argv)
    directory = ensure_database(options.quick, options.profile, variant=options.variant, layout=options.layout)
    size = database_bytes(directory)
    print(f"{directory}: {signature_count(directory):,} signatures, {size / 1e6:.1f} MB on disk")
    os.sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
