"""Pure parts of the command line: stack-file defaults, tables, confirmation."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scanner.cli.defaults import local_buckets
from scanner.cli.errors import Refused
from scanner.cli.output import confirm, table


def test_local_buckets_come_from_the_dev_stack_when_it_names_them(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(
        "config:\n"
        "  s3-clamav-scanner:uploadBuckets:\n"
        "    - team-uploads/incoming/\n"
        "  s3-clamav-scanner:quarantineBucketName: team-quarantine\n"
    )
    buckets = local_buckets(stack)
    assert (buckets.upload, buckets.quarantine) == ("team-uploads", "team-quarantine")


@pytest.mark.parametrize(
    "content",
    [None, "config:\n  s3-clamav-scanner:infectedAction: quarantine\n", "config: [unexpected", "- just a list\n"],
    ids=["missing", "keys-absent", "invalid-yaml", "not-a-mapping"],
)
def test_local_buckets_fall_back_to_fixed_names(tmp_path: Path, content: str | None) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    if content is not None:
        stack.write_text(content)
    buckets = local_buckets(stack)
    assert (buckets.upload, buckets.quarantine) == ("local-uploads", "local-quarantine")


def test_table_aligns_wide_characters() -> None:
    lines = table(["KEY", "STATUS"], [["数据.txt", "CLEAN"], ["a.txt", None]]).splitlines()
    assert lines == ["KEY       STATUS", "数据.txt  CLEAN", "a.txt     -"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_confirm_needs_yes_without_a_terminal() -> None:
    with pytest.raises(Refused, match="rerun with --yes"):
        confirm("purge everything", assume_yes=False, stdin=io.StringIO("y\n"), stderr=io.StringIO())
    confirm("purge everything", assume_yes=True, stdin=io.StringIO(""), stderr=io.StringIO())


@pytest.mark.parametrize(("answer", "confirmed"), [("y\n", True), ("yes\n", True), ("\n", False), ("no\n", False)])
def test_confirm_asks_on_a_terminal(answer: str, confirmed: bool) -> None:
    prompt = io.StringIO()
    if confirmed:
        confirm("purge everything", assume_yes=False, stdin=_Terminal(answer), stderr=prompt)
    else:
        with pytest.raises(Refused):
            confirm("purge everything", assume_yes=False, stdin=_Terminal(answer), stderr=prompt)
    assert prompt.getvalue() == "purge everything? [y/N] "
