"""`pebuild doctor`: which system dependencies work, which are missing, who needs them.

A pip or pipx install brings pebuild's Python code but none of the Debian
packages it drives (libwim, ntfs-3g, QEMU, OVMF, dnsmasq, ...). Doctor walks one
table (checks.py), probes each row the way pebuild itself looks for it
(probes.py), and names the Debian package of whatever is missing. Only a row
marked `core` (what every `pebuild make` needs) makes the verdict fail.

`debian_packages()` is the list `apt-get install $(pebuild doctor --apt)` takes:
.ci/debian-packages.txt, shipped in the package (pebuild/shipped), which
`make setup` and the Containerfile install too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pebuild.doctor.checks import CHECKS, Check
from pebuild.doctor.probes import PROBES, Finding

__all__ = [
    "CHECKS",
    "Check",
    "DoctorReport",
    "DoctorRequest",
    "Finding",
    "Result",
    "debian_packages",
    "parse_package_list",
    "run_doctor",
]


def parse_package_list(text: str) -> tuple[str, ...]:
    """Package names, one a line; '#' starts a comment (what the Makefile's grep keeps)."""
    names: list[str] = []
    for line in text.splitlines():
        names.extend(line.split("#", 1)[0].split())
    return tuple(names)


def debian_packages(path: Path | None = None) -> tuple[str, ...]:
    """The Debian packages pebuild installs everywhere (make setup, the Containerfile, doctor --apt)."""
    from pebuild import shipped

    source = path or shipped.path(shipped.DEBIAN_PACKAGES)
    return parse_package_list(source.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DoctorRequest:
    #: the PATH programs are searched on; None: this process's PATH
    search_path: str | None = None
    #: the rows to probe; None: CHECKS
    checks: tuple[Check, ...] | None = None


@dataclass(frozen=True)
class Result:
    check: Check
    finding: Finding
    #: the row's Debian package is in pebuild's package list (installed by `make setup`)
    listed: bool

    @property
    def ok(self) -> bool:
        return self.finding.ok

    def hint(self) -> str:
        """How to get it: the Debian command, or pip for pebuild's own dependencies."""
        if not self.check.package:
            return "reinstall pebuild with pip or pipx (it installs its Python dependencies)"
        return f"apt-get install --no-install-recommends {self.check.package}"

    def to_json(self) -> dict[str, Any]:
        c, f = self.check, self.finding
        return {
            "name": c.name,
            "ok": f.ok,
            "detail": f.detail,
            "path": f.path,
            "version": f.version,
            "package": c.package or None,
            "in_package_list": self.listed,
            "verbs": list(c.verbs),
            "purpose": c.purpose,
            "core": c.core,
            "hint": None if f.ok else self.hint(),
        }


@dataclass(frozen=True)
class DoctorReport:
    version: str
    python: str
    results: tuple[Result, ...]
    packages: tuple[str, ...]

    @property
    def missing(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def missing_core(self) -> list[Result]:
        return [r for r in self.missing if r.check.core]

    @property
    def ok(self) -> bool:
        """The verdict: everything `pebuild make` always needs is there."""
        return not self.missing_core

    def to_json(self) -> dict[str, Any]:
        missing = sorted({r.check.package for r in self.missing if r.check.package})
        return {
            "pebuild": self.version,
            "python": self.python,
            "ok": self.ok,
            "checks": [r.to_json() for r in self.results],
            "missing_packages": missing,
            "debian_packages": list(self.packages),
        }


def run_doctor(req: DoctorRequest | None = None) -> DoctorReport:
    """Probe every row; never raises for a missing tool (that is the report's content)."""
    import os

    from pebuild import installed_version

    req = req or DoctorRequest()
    search_path = os.environ.get("PATH", os.defpath) if req.search_path is None else req.search_path
    packages = debian_packages()
    results = []
    for check in req.checks if req.checks is not None else CHECKS:
        try:
            finding = PROBES[check.probe](check, search_path)
        except OSError as exc:  # an unreadable directory or file: report it, keep going
            finding = Finding(False, f"probe failed: {exc}")
        results.append(Result(check, finding, listed=check.package in packages))
    python = f"{sys.version.split()[0]} ({sys.executable})"
    return DoctorReport(installed_version(), python, tuple(results), packages)
