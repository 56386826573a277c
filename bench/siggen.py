"""Signature lines for each database file type, shaped like ClamAV's official ones, from one seeded generator.

Every generated body signature or logical subsignature has at least 16 fixed bytes (each fixed run at least 6)
and every logical expression needs all of its subsignatures or all of one OR group with the others, so random
or ordinary data matches none of them (`python -m bench falsepositives` checks it). Body and logical signatures
spread over ClamAV's target types (each has its own Aho-Corasick trie), with wildcards (`??`, `{n}`, `{n-m}`,
`*`, alternatives) and offsets (`EP+n`, `EOF-n`, `Sn+m`, ranges) like the official ones; hash signatures carry
sizes from a wide distribution (ClamAV groups them by size).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import TextIO

PLATFORMS = ("Win", "Win", "Win", "Doc", "Xls", "Html", "Js", "Pdf", "Unix", "Osx", "Andr", "Email", "Java", "Txt")
CATEGORIES = ("Trojan", "Malware", "Dropper", "Downloader", "Adware", "Exploit", "Worm", "Virus", "Ransomware")
SYLLABLES = ("ka", "zor", "mi", "tel", "vex", "qu", "ran", "do", "lix", "sha", "gor", "pim", "nu", "tra", "bel")
# Target types with their weight for body/logical signatures: 0 any, 1 PE, 2 OLE2, 3 HTML, 4 mail, 5 graphics,
# 6 ELF, 7 ASCII text, 9 Mach-O, 10 PDF, 11 Flash, 12 Java.
TARGETS = {1: 45, 0: 18, 3: 8, 7: 8, 2: 5, 6: 4, 10: 4, 4: 2, 9: 2, 5: 1, 11: 1, 12: 2}
TEXT_TARGETS = frozenset({3, 4, 7})
EXECUTABLE_TARGETS = frozenset({1, 6, 9})
# Bytes that open many real body signatures (x86 opcodes, padding): patterns share trie nodes as real ones do.
COMMON_BYTES = bytes.fromhex("00ff8b894855e883c70f4c24e9eb6a68")
MIN_RUN = 6
MIN_FIXED = 16


class SignatureFactory:
    """Deterministic names and signature bodies."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.families = [self._family() for _ in range(4000)]
        self.targets = list(TARGETS)
        self.target_weights = list(TARGETS.values())
        self.next_id = 1_000_000

    def _family(self) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4))).capitalize()

    def name(self, platform: str | None = None) -> str:
        self.next_id += 1
        rng = self.rng
        return (
            f"{platform or rng.choice(PLATFORMS)}.{rng.choice(CATEGORIES)}.{rng.choice(self.families)}-{self.next_id}-0"
        )

    def target(self) -> int:
        return self.rng.choices(self.targets, self.target_weights)[0]

    def word(self, low: int, high: int) -> str:
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(self.rng.randint(low, high)))

    def run(self, target: int, length: int, first: bool = False) -> str:
        """One run of fixed bytes, as hex: lowercase words for text targets, bytes otherwise."""
        if target in TEXT_TARGETS:
            return self.word(length, length).encode().hex()
        rng = self.rng
        if first and rng.random() < 0.4:
            head = bytes(rng.choice(COMMON_BYTES) for _ in range(2))
            return (head + rng.randbytes(length - 2)).hex()
        return rng.randbytes(length).hex()

    def body(self, target: int, wildcards: float = 0.55) -> str:
        """A body pattern: 16-64 fixed bytes, with one or two wildcards in `wildcards` of them."""
        rng = self.rng
        if rng.random() >= wildcards:
            return self.run(target, rng.randint(MIN_FIXED, 64), first=True)
        pieces = [self.run(target, rng.randint(MIN_RUN + 2, 24), first=True)]
        fixed = len(pieces[0]) // 2
        for _ in range(rng.choice((1, 1, 2))):
            pieces.append(self._wildcard(target))
            pieces.append(self.run(target, rng.randint(MIN_RUN, 24)))
            fixed += len(pieces[-1]) // 2
        if fixed < MIN_FIXED:
            pieces.append(self.run(target, MIN_FIXED - fixed + MIN_RUN))
        return "".join(pieces)

    def _wildcard(self, target: int) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.3:
            return "??" * rng.randint(1, 4)
        if kind < 0.5:
            return f"{{{rng.randint(1, 40)}}}"
        if kind < 0.7:
            low = rng.randint(0, 16)
            return f"{{{low}-{low + rng.randint(1, 64)}}}"
        if kind < 0.8:
            return "*"
        # An alternative of 2-4 two-byte strings between two fixed runs.
        return "(" + "|".join(self.run(target, 2) for _ in range(rng.randint(2, 4))) + ")"

    def offset(self, target: int) -> str:
        rng = self.rng
        roll = rng.random()
        if target in EXECUTABLE_TARGETS:
            if roll < 0.45:
                return "*"
            if roll < 0.65:
                return f"EP+{rng.randint(0, 512)}"
            if roll < 0.72:
                return f"EP+0,{rng.randint(16, 400)}"
            if roll < 0.82:
                return f"S{rng.randint(0, 4)}+{rng.randint(0, 2048)}"
            if roll < 0.9:
                return f"EOF-{rng.randint(64, 8192)}"
            return str(rng.randint(0, 4096))
        if roll < 0.7:
            return "*"
        if roll < 0.82:
            return "0"
        if roll < 0.9:
            return f"{rng.randint(0, 2048)},{rng.randint(16, 1024)}"
        return f"EOF-{rng.randint(64, 8192)}"

    def file_size(self) -> int:
        return int(math.exp(self.rng.uniform(math.log(2048), math.log(20 * 1024**2))))

    def section_size(self) -> int:
        return 512 * int(math.exp(self.rng.uniform(0, math.log(4096))))


def _hdb(f: SignatureFactory) -> str:
    return f"{f.rng.randbytes(16).hex()}:{f.file_size()}:{f.name()}"


def _hsb(f: SignatureFactory, sizeless: float) -> str:
    rng = f.rng
    digest = rng.randbytes(rng.choices((32, 20, 16), (70, 20, 10))[0]).hex()
    if rng.random() < sizeless:
        return f"{digest}:*:{f.name()}:73"
    return f"{digest}:{f.file_size()}:{f.name()}:73"


def _mdb(f: SignatureFactory) -> str:
    return f"{f.section_size()}:{f.rng.randbytes(16).hex()}:{f.name('Win')}"


def _msb(f: SignatureFactory) -> str:
    return f"{f.section_size()}:{f.rng.randbytes(32).hex()}:{f.name('Win')}:73"


def _ndb(f: SignatureFactory) -> str:
    target = f.target()
    return f"{f.name()}:{target}:{f.offset(target)}:{f.body(target)}"


def _ldb(f: SignatureFactory, pcre_share: float) -> str:
    """Name;Engine:81-255,Target:T[,FileSize:a-b];expression;subsig0;subsig1;..."""
    rng = f.rng
    target = f.target()
    count = rng.randint(2, 6)
    subsigs = []
    for _ in range(count):
        pattern = f.body(target, wildcards=0.3)
        roll = rng.random()
        if target in TEXT_TARGETS and roll < 0.4:
            pattern += "::i"
        elif target not in TEXT_TARGETS and roll < 0.1:
            pattern += "::wa"
        if rng.random() < 0.15:
            where = f.offset(target) if target in EXECUTABLE_TARGETS else f"EOF-{rng.randint(512, 65536)}"
            pattern = f"{where}:{pattern}"
        subsigs.append(pattern)
    indexes = [str(i) for i in range(count)]
    if count >= 3 and rng.random() < 0.4:
        expression = f"({indexes[0]}|{indexes[1]})&" + "&".join(indexes[2:])
    else:
        expression = "&".join(indexes)
    if rng.random() < pcre_share:
        # A PCRE subsignature, evaluated only once subsignature 0 matched; needed by the expression too.
        subsigs.append(f"0/{f.word(10, 16)}[0-9]{{2,8}}{f.word(4, 8)}/")
        expression = f"({expression})&{count}"
    tdb = f"Engine:81-255,Target:{target}"
    if target == 1 and rng.random() < 0.3:
        low = rng.randint(1024, 200_000)
        tdb += f",FileSize:{low}-{low * rng.randint(2, 50)}"
    return ";".join([f.name(), tdb, expression, *subsigs])


def _cdb(f: SignatureFactory) -> str:
    container = f.rng.choice(("CL_TYPE_ZIP", "CL_TYPE_RAR", "CL_TYPE_7Z"))
    return f"{f.name()}:{container}:*:{f.word(12, 20)}\\.(exe|scr):*:*:*:*:*:*"


def _ftm(f: SignatureFactory) -> str:
    return f"1:*:{f.rng.randbytes(12).hex()}:Bench.Magic-{f.next_id}:CL_TYPE_ANY:CL_TYPE_BINARY_DATA"


def _host(f: SignatureFactory) -> str:
    return f"{f.word(8, 14)}.{f.word(4, 8)}.{f.rng.choice(('com', 'net', 'org', 'info', 'xyz'))}"


def _pdb(f: SignatureFactory) -> str:
    return f"H:{_host(f)}"


def _wdb(f: SignatureFactory) -> str:
    return f"M:{_host(f)}:{_host(f)}"


def _fp(f: SignatureFactory) -> str:
    return f"{f.rng.randbytes(16).hex()}:{f.file_size()}:Bench.Allowed-{f.rng.getrandbits(40)}"


def _sfp(f: SignatureFactory) -> str:
    return f"{f.rng.randbytes(32).hex()}:{f.file_size()}:Bench.Allowed-{f.rng.getrandbits(40)}"


def _ign2(f: SignatureFactory) -> str:
    return f"Win.Trojan.Retired-{f.rng.getrandbits(40)}-0"


def _crb(f: SignatureFactory) -> str:
    rng = f.rng
    modulus = (bytes([0x80 | rng.getrandbits(7)]) + rng.randbytes(255)).hex()
    name = f"Bench.Cert-{rng.getrandbits(32)}"
    subject, serial = rng.randbytes(20).hex(), rng.randbytes(20).hex()
    return f"{name};1;{subject};{serial};{modulus};010001;1;0;0;0;bench"


def line_makers(pcre_share: float, sizeless_share: float) -> dict[str, Callable[[SignatureFactory], str]]:
    """The generator of one line for each file extension."""
    return {
        "hdb": _hdb,
        "hsb": lambda f: _hsb(f, sizeless_share),
        "mdb": _mdb,
        "msb": _msb,
        "ndb": _ndb,
        "ldb": lambda f: _ldb(f, pcre_share),
        "cdb": _cdb,
        "ftm": _ftm,
        "pdb": _pdb,
        "wdb": _wdb,
        "fp": _fp,
        "sfp": _sfp,
        "ign2": _ign2,
        "crb": _crb,
    }


def write_lines(handle: TextIO, lines: Iterator[str], batch: int = 10_000) -> None:
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= batch:
            handle.write("\n".join(buffer) + "\n")
            buffer.clear()
    if buffer:
        handle.write("\n".join(buffer) + "\n")
