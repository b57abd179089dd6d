"""`pebuild driver add|list|remove`: DISM's /Add-Driver, /Get-Drivers, /Remove-Driver on an offline image.

Two ways in, chosen per call:

* **staged** (default): the checked package goes to `\\Drivers\\<name>\\` and startnet.cmd gets
  `drvload X:\\Drivers\\<name>\\<inf>` (plus one `wpeutil InitializeNetwork` after the drvload
  lines when a Net-class driver is among them) — exactly what a recipe's `[drivers]` does, with
  the same checks (`validate_driver`: INF syntax, arch decoration, every CopyFiles file, the
  catalog, every binary a PE file of the image's arch);
* **offline** (`--offline`): the package is installed into the image as DISM does
  (`pebuild.servicing.offline`), for INFs simple enough; the others are refused with the reason.

The target is a `ServicedImage` (mount directory, WIM + index, media or copype tree), changed
with one commit. docs/servicing.md has the DISM equivalents side by side.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pebuild.errors import UsageError
from pebuild.servicing.drivers import DriverPackage, WrongArchError, parse_inf, validate_driver
from pebuild.servicing.image import ServicedImage
from pebuild.servicing.plan import package_digest

STARTNET = "Windows/System32/startnet.cmd"
DRIVERS = "Drivers"
INF_DIR = "Windows/INF"
INIT_NETWORK = "wpeutil InitializeNetwork"


@dataclass
class DriverRequest:
    target: Path
    paths: list[Path] = field(default_factory=list)
    index: int | None = None
    arch: str | None = None  # None: the image's own (its system programs' machine type)
    recurse: bool = False
    force_unsigned: bool = False
    offline: bool = False


@dataclass
class DriverEntry:
    """One driver in the image, as /Get-Drivers lists it."""

    name: str  # staged: the Drivers\\<name> folder; offline: the published name oem<N>.inf
    mode: str  # staged | offline
    inf: str  # original INF name
    class_name: str
    provider: str
    version: str
    path: str  # image path of the INF
    loaded: bool = True  # staged: startnet.cmd has its drvload line
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class DriverResult:
    target: str
    arch: str
    drivers: list[DriverEntry] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already there, identical

    def to_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "arch": self.arch,
            "drivers": [d.to_json() for d in self.drivers],
            "unchanged": self.unchanged,
        }


def image_arch(image: ServicedImage, given: str | None) -> str:
    """The image's arch from its system programs; --arch where they do not tell (it must agree)."""
    from pebuild.arches import normalize_arch

    programs = image.arch(programs_only=True)
    if given:
        given = normalize_arch(given)
        if programs is not None and programs != given:
            raise UsageError(
                f"{image.describe()} is an {programs} image (by its system programs), not {given}"
            )
        return given
    arch = programs or image.arch()
    if arch is None:
        raise UsageError(f"cannot tell the arch of {image.describe()} (no system programs): give --arch")
    return arch


def collect_packages(req: DriverRequest, arch: str) -> list[DriverPackage]:
    """Validate every INF named or found (folders: top level, or all levels with --recurse)."""
    packages: list[DriverPackage] = []
    seen: set[str] = set()
    for path in req.paths:
        if path.is_file():
            infs = [path]
        elif path.is_dir():
            found = path.rglob("*") if req.recurse else path.glob("*")
            infs = sorted(p for p in found if p.is_file() and p.suffix.lower() == ".inf")
        else:
            raise UsageError(f"driver path not found: {path}")
        if not infs:
            hint = "" if req.recurse else " (--recurse searches sub-folders)"
            raise UsageError(f"no .inf file in {path}{hint}")
        wrong: list[WrongArchError] = []
        before = len(packages)
        for inf in infs:
            try:
                pkg = validate_driver(inf, arch, force_unsigned=req.force_unsigned)
            except WrongArchError as exc:
                if path.is_file():
                    raise
                wrong.append(exc)
                continue
            digest = package_digest(pkg)
            if digest not in seen:
                seen.add(digest)
                packages.append(pkg)
        if len(packages) == before and wrong:
            raise wrong[0]
    return packages


def add_drivers(req: DriverRequest) -> DriverResult:
    with ServicedImage(req.target, index=req.index) as image:
        arch = image_arch(image, req.arch)
        result = DriverResult(image.describe(), arch)
        packages = collect_packages(req, arch)
        if req.offline:
            from pebuild.servicing.offline_apply import install_offline

            for pkg in packages:
                published, notes, changed = install_offline(image, pkg)
                if not changed:
                    result.unchanged.append(published)
                    continue
                entry = DriverEntry(
                    published, "offline", pkg.inf_path.name, pkg.class_name, pkg.provider, pkg.driver_ver,
                    f"{INF_DIR}/{published}", notes=notes,
                )  # fmt: skip
                result.drivers.append(entry)
        else:
            _stage(image, packages, result)
        image.commit()
        return result


def _stage(image: ServicedImage, packages: list[DriverPackage], result: DriverResult) -> None:
    lines: list[str] = []
    net = False
    for pkg in packages:
        folder = _free_name(image, pkg, result)
        if folder is None:
            continue
        for rel in pkg.files:
            image.add(f"{DRIVERS}/{folder}/{rel}", pkg.inf_path.parent / rel)
        lines.append(f"drvload X:\\{DRIVERS}\\{folder}\\{pkg.inf_path.name}")
        net = net or pkg.class_name.lower() == "net"
        result.drivers.append(
            DriverEntry(
                folder,
                "staged",
                pkg.inf_path.name,
                pkg.class_name,
                pkg.provider,
                pkg.driver_ver,
                f"{DRIVERS}/{folder}/{pkg.inf_path.name}",
            )
        )
    if lines:
        image.add(STARTNET, _startnet_with(image.read(STARTNET), lines, net))


def _free_name(image: ServicedImage, pkg: DriverPackage, result: DriverResult) -> str | None:
    """The Drivers\\<name> folder for `pkg`; None when the very same package is already staged there."""
    names = {n.lower() for n in image.children(DRIVERS)}
    base, n = pkg.name, 1
    name = base
    while name.lower() in names:
        same = all(
            image.read(f"{DRIVERS}/{name}/{rel}") == (pkg.inf_path.parent / rel).read_bytes()
            for rel in pkg.files
        )
        if same:
            result.unchanged.append(name)
            return None
        n += 1
        name = f"{base}_{n}"
    return name


def _startnet_with(existing: bytes | None, drvload: list[str], net: bool) -> bytes:
    """New drvload lines after the last drvload (else after wpeinit); InitializeNetwork after them."""
    text = existing.decode("utf-8", "replace") if existing else "wpeinit\r\n"
    body = [line for line in text.replace("\r\n", "\n").rstrip("\n").split("\n")]
    lows = [line.strip().lower() for line in body]
    last = max((i for i, low in enumerate(lows) if low.startswith("drvload ")), default=-1)
    if last < 0:
        last = max(
            (i for i, low in enumerate(lows) if low == "wpeinit" or low.startswith("wpeinit ")), default=-1
        )
    body[last + 1 : last + 1] = drvload
    has_init = any(line.strip().lower() == INIT_NETWORK.lower() for line in body)
    if net and not has_init:
        body.insert(last + 1 + len(drvload), INIT_NETWORK)
    return ("\r\n".join(body) + "\r\n").encode("utf-8")


def list_drivers(target: Path, *, index: int | None = None, arch: str | None = None) -> DriverResult:
    with ServicedImage(target, index=index, write=False) as image:
        result = DriverResult(image.describe(), image.arch() or arch or "unknown")
        startnet = (image.read(STARTNET) or b"").decode("utf-8", "replace").lower()
        for folder in image.children(DRIVERS):
            for name in image.children(f"{DRIVERS}/{folder}"):
                if name.lower().endswith(".inf"):
                    path = f"{DRIVERS}/{folder}/{name}"
                    entry = _entry(image, folder, "staged", name, path)
                    entry.loaded = (
                        f"drvload x:\\{DRIVERS.lower()}\\{folder.lower()}\\{name.lower()}" in startnet
                    )
                    result.drivers.append(entry)
        from pebuild.servicing.offline_apply import original_names

        originals = original_names(image)
        for name in image.children(INF_DIR):
            if re.fullmatch(r"oem\d+\.inf", name, re.IGNORECASE):
                entry = _entry(image, name, "offline", originals.get(name.lower(), name), f"{INF_DIR}/{name}")
                result.drivers.append(entry)
        return result


def _entry(image: ServicedImage, name: str, mode: str, inf_name: str, path: str) -> DriverEntry:
    from pebuild.errors import PebuildError

    try:
        inf = parse_inf(image.read(path) or b"", Path(path))
    except PebuildError:  # a broken INF is still listed, with what is known
        return DriverEntry(name, mode, inf_name, "", "", "", path, notes=["INF does not parse"])
    values = [inf.value("version", key) or "" for key in ("Class", "Provider")]
    return DriverEntry(name, mode, inf_name, *values, inf.joined("version", "DriverVer"), path)


def remove_driver(target: Path, name: str, *, index: int | None = None) -> DriverResult:
    """Remove a staged package (folder name or INF name) or an offline one (oem<N>.inf or INF name)."""
    listed = list_drivers(target, index=index)
    matches = [d for d in listed.drivers if name.lower() in (d.name.lower(), d.inf.lower())]
    if not matches:
        known = ", ".join(f"{d.name} ({d.inf})" for d in listed.drivers) or "none"
        raise UsageError(f"no driver {name!r} in {listed.target} (drivers: {known})")
    if len(matches) > 1:
        raise UsageError(
            f"{name!r} names {len(matches)} drivers ({', '.join(d.name for d in matches)}): give one"
        )
    (entry,) = matches
    with ServicedImage(target, index=index) as image:
        if entry.mode == "staged":
            image.delete(f"{DRIVERS}/{entry.name}")
            line = f"drvload x:\\{DRIVERS}\\{entry.name}\\{entry.inf}".lower()
            text = (image.read(STARTNET) or b"").decode("utf-8", "replace")
            kept = [
                ln for ln in text.replace("\r\n", "\n").rstrip("\n").split("\n") if ln.strip().lower() != line
            ]
            image.add(STARTNET, ("\r\n".join(kept) + "\r\n").encode("utf-8"))
        else:
            from pebuild.servicing.offline_apply import uninstall_offline

            entry.notes = uninstall_offline(image, entry.name)
        image.commit()
        return DriverResult(image.describe(), listed.arch, [entry])
