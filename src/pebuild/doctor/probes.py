"""How `pebuild doctor` probes one row of its table: each kind looks where pebuild itself looks.

Programs are searched on the PATH given; rows marked `sbin` also look in
/usr/sbin and /sbin because pebuild does (sdi.py runs mkntfs, qemu/netboot.py
dnsmasq and nginx from there) and a non-root user's PATH lacks them. OVMF is found by pebuild.qemu.firmware's own
rules (QEMU firmware descriptors, then known paths), libwim by the binding's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pebuild.doctor.checks import Check

SBIN_DIRS = ("/usr/sbin", "/sbin")


@dataclass(frozen=True)
class Finding:
    """What one probe found: `detail` is a version or a path when ok, the reason when not."""

    ok: bool
    detail: str
    path: str | None = None
    version: str | None = None


Probe = Callable[[Check, str], Finding]


def probe_program(check: Check, search_path: str) -> Finding:
    where = search_path + (os.pathsep + os.pathsep.join(SBIN_DIRS) if check.sbin else "")
    found = shutil.which(check.target, path=where)
    if found is None:
        return Finding(False, "not on PATH" + (" nor in /usr/sbin, /sbin" if check.sbin else ""))
    return Finding(True, found, path=found)


def probe_library(check: Check, _search_path: str) -> Finding:
    """libwim through the binding's own search, with its version (the binding needs >= MIN_VERSION)."""
    from pebuild.errors import ToolError
    from pebuild.wim import _libwim

    try:
        cdll = _libwim._find_library()
    except ToolError:
        return Finding(False, f"{'/'.join(_libwim.LIBRARY_NAMES[:1])} not found")
    try:
        have = _libwim.version_tuple(cdll.wimlib_get_version())
    except AttributeError:
        return Finding(False, "the library found is not wimlib (no wimlib_get_version)")
    version = ".".join(map(str, have))
    path = _loaded_path("libwim") or getattr(cdll, "_name", None)
    if have < _libwim.MIN_VERSION:
        need = ".".join(map(str, _libwim.MIN_VERSION))
        return Finding(False, f"wimlib {version} is too old (pebuild needs {need})", path, version)
    return Finding(True, f"wimlib {version} ({path})" if path else f"wimlib {version}", path, version)


def _loaded_path(stem: str) -> str | None:
    """The file a loaded shared library came from (Linux: /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if f"/{stem}." in path:
            return path
    return None


def probe_file(check: Check, _search_path: str) -> Finding:
    """The first of `target`'s '|'-separated paths that is a file."""
    candidates = check.target.split("|")
    for candidate in candidates:
        if Path(candidate).is_file():
            return Finding(True, candidate, path=candidate)
    return Finding(False, f"none of {', '.join(candidates)}")


def probe_nic_rom(check: Check, _search_path: str) -> Finding:
    """An iPXE ROM where `pebuild smoke` looks for it."""
    from pebuild.errors import ToolError
    from pebuild.qemu.firmware import IPXE_ROM_DIRS, find_nic_rom

    try:
        return Finding(True, str(rom := find_nic_rom(check.target)), path=str(rom))
    except ToolError:
        return Finding(False, f"no {check.target} in {', '.join(map(str, IPXE_ROM_DIRS))}")


def probe_ovmf(check: Check, _search_path: str) -> Finding:
    from pebuild.errors import ToolError
    from pebuild.qemu.firmware import find_ovmf

    try:
        ovmf = find_ovmf(check.target)
    except ToolError:
        return Finding(False, "no usable UEFI firmware (QEMU descriptors, known paths)")
    how = f" (descriptor {ovmf.descriptor.name})" if ovmf.descriptor else ""
    return Finding(True, f"{ovmf.code}{how}", path=str(ovmf.code))


def probe_secure_boot_ovmf(check: Check, _search_path: str) -> Finding:
    """OVMF's Secure Boot build with an enrolled store, as `pebuild smoke --secure-boot` picks it."""
    from pebuild.errors import ToolError
    from pebuild.qemu.firmware import find_secure_boot_ovmf

    try:
        ovmf = find_secure_boot_ovmf()
    except ToolError as exc:
        return Finding(False, exc.message.split(":")[0])
    return Finding(True, f"{ovmf.code} + {ovmf.vars_template.name}", path=str(ovmf.code))


def probe_descriptor(check: Check, _search_path: str) -> Finding:
    """A QEMU firmware descriptor (docs/interop/firmware.json) for the arch whose files exist."""
    from pebuild.qemu.firmware import FIRMWARE_DESCRIPTOR_DIRS

    for directory in FIRMWARE_DESCRIPTOR_DIRS:
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
            try:
                desc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if not any(t.get("architecture") == check.target for t in desc.get("targets", [])):
                continue
            code = desc.get("mapping", {}).get("executable", {}).get("filename")
            if code and Path(code).is_file() and "enrolled-keys" not in desc.get("features", []):
                return Finding(True, f"{code} (descriptor {path.name})", path=code)
    return Finding(False, f"no QEMU firmware descriptor for {check.target} with its files present")


def probe_python(check: Check, _search_path: str) -> Finding:
    """The installed versions of pebuild's requirements, against the lower (and upper) bounds."""
    from importlib import metadata

    try:
        requires = [r for r in metadata.requires(check.target) or [] if "extra ==" not in r]
    except metadata.PackageNotFoundError:
        return Finding(True, f"{check.target} is not installed (running from a source tree)")
    have, problems = [], []
    for req in requires:
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", req)
        if not m:
            continue
        name, spec = m.group(1), m.group(2).split(";")[0]
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} missing")
            continue
        have.append(f"{name} {version}")
        if not _satisfies(version, spec):
            problems.append(f"{name} {version} does not satisfy {spec.strip()}")
    if problems:
        return Finding(False, "; ".join(problems))
    return Finding(True, ", ".join(have))


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version.split("+")[0])[:4])


def _satisfies(version: str, spec: str) -> bool:
    """`>=` and `<` bounds, the only ones pyproject.toml uses; anything else is not judged."""
    have = _numbers(version)
    for op, bound in re.findall(r"(>=|<)\s*([0-9][0-9.]*)", spec):
        want = _numbers(bound)
        if op == ">=" and have[: len(want)] < want:
            return False
        if op == "<" and have[: len(want)] >= want:
            return False
    return True


PROBES: dict[str, Probe] = {
    "program": probe_program,
    "library": probe_library,
    "file": probe_file,
    "nic-rom": probe_nic_rom,
    "ovmf": probe_ovmf,
    "ovmf-secboot": probe_secure_boot_ovmf,
    "descriptor": probe_descriptor,
    "python": probe_python,
}
