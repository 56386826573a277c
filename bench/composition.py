"""How many signatures of each file type the official-shaped database holds, and where each count comes from.

Published figures (see docs/BENCHMARKS.md, "The production-shaped database", for the citations):

* main.cvd version 63 (the set after the December 2025 retirement): 3,287,027 signatures (freshclam logs, 2026);
* daily.cvd/.cld 27879-28129 (January-September 2026): 354,800-355,901 signatures (freshclam logs);
* bytecode.cvd 339: 80 signatures (freshclam logs);
* main.cvd 62 (before the retirement, 6,647,427 signatures): `wc -l` gave main.mdb 4,058,809 and main.ndb 101,634;
  its files were main.crb, .fp, .hdb, .hsb, .info, .mdb, .msb, .ndb, .sfp (a published `sigtool --unpack`);
* sizes: main.cvd 163 MB -> ~80 MB, daily.cvd 62 MB -> ~22 MB (ClamAV blog, November 2025).

No per-type count of main 63 or of the current daily was found published. main's split follows main 62's shares
(mdb 61.1 %, ndb 1.53 %, the rest hash files); daily's split and every small file are modelled (marked below).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PUBLISHED_MAIN_SIGS = 3_287_027
PUBLISHED_DAILY_SIGS = 355_631
PUBLISHED_BYTECODE_SIGS = 80
MAIN62_SIGS = 6_647_427
MAIN62_MDB = 4_058_809
MAIN62_NDB = 101_634


def _share(count: int, of: int, total: int) -> int:
    return round(total * count / of)


@dataclass(frozen=True)
class Part:
    """One database file: its extension, how many lines, and where the count comes from."""

    ext: str
    count: int
    source: str


@dataclass(frozen=True)
class Container:
    """main or daily: the files packed together (the way main.cvd / daily.cvd hold them)."""

    name: str
    parts: tuple[Part, ...]
    version: int

    @property
    def signatures(self) -> int:
        return sum(part.count for part in self.parts if part.ext not in NOT_COUNTED)


@dataclass(frozen=True)
class Composition:
    containers: tuple[Container, ...]
    ldb_pcre_share: float = 0.03
    """Share of logical signatures with one PCRE subsignature (modelled)."""
    sizeless_hash_share: float = 0.01
    """Share of daily .hsb hashes with size `*` (every file's hash then gets computed; modelled)."""
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def signatures(self) -> int:
        return sum(container.signatures for container in self.containers)

    def scaled(self, factor: float) -> Composition:
        """The same shape, every count multiplied by `factor` (at least 2 lines of each file)."""
        return Composition(
            tuple(
                Container(
                    c.name,
                    tuple(Part(p.ext, max(2, round(p.count * factor)), p.source) for p in c.parts),
                    c.version,
                )
                for c in self.containers
            ),
            self.ldb_pcre_share,
            self.sizeless_hash_share,
        )


# Files whose lines are not signatures (allow lists, ignore lists, file type magic, URL allow lists).
NOT_COUNTED = frozenset({"fp", "sfp", "ign2", "ftm", "wdb", "crb"})

_MAIN_MDB = _share(MAIN62_MDB, MAIN62_SIGS, PUBLISHED_MAIN_SIGS)
_MAIN_NDB = _share(MAIN62_NDB, MAIN62_SIGS, PUBLISHED_MAIN_SIGS)
_MAIN_REST = PUBLISHED_MAIN_SIGS - _MAIN_MDB - _MAIN_NDB
_MAIN_MSB = 100_000
_MAIN_HSB = 480_000
_MAIN_HDB = _MAIN_REST - _MAIN_MSB - _MAIN_HSB

MAIN = Container(
    "main",
    (
        Part("mdb", _MAIN_MDB, "main 62 share (4,058,809 of 6,647,427) x main 63 total"),
        Part("ndb", _MAIN_NDB, "main 62 share (101,634 of 6,647,427) x main 63 total"),
        Part("hdb", _MAIN_HDB, "rest of main 63 after mdb, ndb, hsb, msb (split modelled)"),
        Part("hsb", _MAIN_HSB, "modelled"),
        Part("msb", _MAIN_MSB, "modelled"),
        Part("fp", 300, "modelled (allow list, not counted)"),
        Part("sfp", 200, "modelled (allow list, not counted)"),
        Part("crb", 40, "modelled (certificates, not counted)"),
    ),
    version=63,
)

_DAILY_SMALL = {"cdb": 900, "pdb": 1_500}
_DAILY_LDB = 40_000
_DAILY_NDB = 20_000
_DAILY_MDB = 60_000
_DAILY_MSB = 20_000
_DAILY_HSB = 110_000
_DAILY_HDB = (
    PUBLISHED_DAILY_SIGS - _DAILY_LDB - _DAILY_NDB - _DAILY_MDB - _DAILY_MSB - _DAILY_HSB - sum(_DAILY_SMALL.values())
)

DAILY = Container(
    "daily",
    (
        Part("ldb", _DAILY_LDB, "modelled (2-6 subsignatures each)"),
        Part("ndb", _DAILY_NDB, "modelled"),
        Part("hdb", _DAILY_HDB, "rest of the published daily total"),
        Part("hsb", _DAILY_HSB, "modelled"),
        Part("mdb", _DAILY_MDB, "modelled"),
        Part("msb", _DAILY_MSB, "modelled"),
        Part("cdb", _DAILY_SMALL["cdb"], "modelled"),
        Part("pdb", _DAILY_SMALL["pdb"], "modelled"),
        Part("wdb", 2_000, "modelled (URL allow list, not counted)"),
        Part("ftm", 60, "modelled (file type magic, not counted)"),
        Part("ign2", 200, "modelled (ignore list, not counted)"),
        Part("fp", 600, "modelled (allow list, not counted)"),
        Part("sfp", 600, "modelled (allow list, not counted)"),
        Part("crb", 120, "modelled (certificates, not counted)"),
    ),
    version=28129,
)

OFFICIAL = Composition((MAIN, DAILY))
OFFICIAL_QUICK = OFFICIAL.scaled(0.001)
