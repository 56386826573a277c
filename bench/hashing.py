"""The cost of the content identity: SHA-256 while streaming vs clamd's own scan rate, in one run.

    python -m bench hashing [--runs 3] [--size-mib 16] [--quick]

Side by side on the same bytes (deterministic pseudo-random content, no S3): hashlib's SHA-256 in the scanner's
256 KiB chunks; clamd's INSTREAM of the bytes from memory (warm clamd on the benchmark database, DisableCache
yes); and INSTREAM through the scanner's reader chain (scanner.streaming.StoredBytes, which hashes). Reports MB/s
and the share of a scan's time the hash adds.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import CACHE, MiB, clamd_settings, median, parser, random_file, runs, write_result
from bench.signatures import ensure_database
from scanner import constants as c
from scanner.clamd import ClamdDaemon
from scanner.streaming import StoredBytes

CHUNK = c.DEFAULT_STREAM_CHUNK_BYTES


def sha256_seconds(data: bytes) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK):
        digest.update(view[offset : offset + CHUNK])
    digest.hexdigest()
    return time.perf_counter() - started


def instream_seconds(daemon: ClamdDaemon, data: bytes, *, hashed: bool) -> float:
    source = io.BytesIO(data)
    stream = StoredBytes(source, len(data)) if hashed else source
    started = time.perf_counter()
    reply, sent = daemon.client.instream(stream)
    elapsed = time.perf_counter() - started
    if reply != "stream: OK" or sent != len(data):
        raise RuntimeError(f"unexpected reply {reply!r} after {sent} bytes")
    if hashed and stream.sha256 is None:  # type: ignore[union-attr]
        raise RuntimeError("the stream was not hashed to its end")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__.splitlines()[0])
    options.add_argument("--size-mib", type=int, default=16)
    args = options.parse_args(argv)
    size = (4 if args.quick else args.size_mib) * MiB
    data = random_file(CACHE / f"random-{size // MiB}m.bin", size, seed=7).read_bytes()
    database = ensure_database(args.quick, args.profile)
    work = Path(tempfile.mkdtemp(prefix="bench-hashing-"))
    daemon = ClamdDaemon(clamd_settings(database, work), CHUNK)
    daemon.start()
    try:
        daemon.wait_ready()
        repeat = runs(args, 3)
        hash_s, plain_s, hashed_s = [], [], []
        for _ in range(repeat):
            hash_s.append(sha256_seconds(data))
            plain_s.append(instream_seconds(daemon, data, hashed=False))
            hashed_s.append(instream_seconds(daemon, data, hashed=True))
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    mb = size / 1e6
    result = {
        "size_bytes": size,
        "runs": repeat,
        "database": str(database),
        "sha256_mb_per_s": round(mb / median(hash_s), 1),
        "clamd_instream_mb_per_s": round(mb / median(plain_s), 1),
        "clamd_instream_hashed_mb_per_s": round(mb / median(hashed_s), 1),
        "sha256_vs_clamd": round(median(plain_s) / median(hash_s), 1),
        "hash_share_of_scan": round(median(hash_s) / median(plain_s), 4),
    }
    path = write_result(args, "hashing", result)
    print(
        f"hashing: SHA-256 {result['sha256_mb_per_s']} MB/s vs clamd INSTREAM {result['clamd_instream_mb_per_s']} "
        f"MB/s ({result['sha256_vs_clamd']}x); through the hashing reader {result['clamd_instream_hashed_mb_per_s']} "
        f"MB/s -> {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
