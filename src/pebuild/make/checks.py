"""Checks that turn a recipe's silent failures into errors or warnings, before any media is written.

A recipe can be valid TOML, every value in range, and still build media that cannot do what it
says. `check_build` looks at the recipe, its servicing plan and the image being edited, and
returns `Finding`s: an **error** when the media cannot work as written (startnet lines that
never run, an answer file that wipes a disk and installs nowhere), a **warning** when it is
unusual (a driver listed twice, a label cut short). `enforce` raises the first error — or, with
`strict`, the first warning — as a RecipeError with the recipe's file:line, and returns the
warnings for the caller to show. docs/recipes.md ("Build checks") lists every check.

The builder calls this once, in `_edit_boot_wim`, where the edited image is open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pebuild.errors import PebuildError, RecipeError
from pebuild.recipe import Recipe

#: FAT volume labels hold 11 characters (fatgen103 BS_VolLab); the ISO's may hold 32
FAT_LABEL_MAX = 11
WINPESHL = "Windows/System32/winpeshl.ini"


@dataclass(frozen=True)
class Finding:
    level: str  # "error" | "warning"
    check: str  # stable id, as docs/recipes.md lists it
    message: str
    key: tuple[str | int, ...] = ()  # the recipe key it is about (for file:line)


@dataclass
class BuildCheck:
    """What the checks look at: the recipe, the build's arch and outputs, and the image."""

    recipe: Recipe
    arch: str
    #: image path -> file bytes, or None when the image has no such file
    read_image: Callable[[str], bytes | None]
    placed: list[Any]  # overlay and recipe files going into the image (make.overlay.Placed)
    usb: bool = False


def check_build(c: BuildCheck) -> list[Finding]:
    findings: list[Finding] = []
    for check in (_startnet_reachable, _wds_client, _wimscript, _drivers, _usb_label):
        findings += check(c)
    return findings


def enforce(recipe: Recipe, findings: list[Finding], *, strict: bool) -> list[str]:
    """Raise the first error (first warning too when strict); return the warnings as text."""
    for finding in findings:
        if finding.level == "error" or strict:
            loc = recipe.location(*finding.key)
            suffix = " (--strict makes warnings errors)" if finding.level == "warning" else ""
            raise RecipeError(finding.message + suffix, path=loc.path, line=loc.line)
    return [_located(recipe, f) for f in findings]


def _located(recipe: Recipe, finding: Finding) -> str:
    loc = recipe.location(*finding.key) if finding.key else None
    return f"{loc}: {finding.message}" if loc is not None and loc.line else finding.message


# ----------------------------------------------------------------------------- the checks


def _startnet_lines(c: BuildCheck) -> list[tuple[str, tuple[str | int, ...]]]:
    """What the recipe puts into startnet.cmd: its own lines and the [drivers] drvload lines."""
    s = c.recipe.settings
    out: list[tuple[str, tuple[str | int, ...]]] = []
    if s.startup.startnet:
        out.append(("startup.startnet lines", ("startup", "startnet")))
    plan = c.recipe.servicing_plan
    if plan is not None and plan.driver_paths and plan.drivers_load:
        out.append(("the [drivers] drvload lines (and wpeutil InitializeNetwork)", ("drivers",)))
    return out


def _runs_startnet(entries: list[str]) -> bool:
    return any("startnet" in e.lower() for e in entries)


def _startnet_reachable(c: BuildCheck) -> list[Finding]:
    """winpeshl.ini replaces the shell: startnet.cmd then runs only if a LaunchApps entry runs it.

    WinPE's winpeshl.exe runs cmd /k startnet.cmd only when there is no winpeshl.ini
    (Microsoft, "Winpeshl.ini Files"); with one, its programs run instead.
    """
    lines = _startnet_lines(c)
    if not lines:
        return []
    s = c.recipe.settings.startup
    what = " and ".join(text for text, _ in lines)
    if s.launch_app or s.launch_apps:
        entries = ([s.launch_app] if s.launch_app else []) + [f"{a.app} {a.args}" for a in s.launch_apps]
        if _runs_startnet(entries):
            return []
        key: tuple[str | int, ...] = ("startup", "launch_apps" if s.launch_apps else "launch_app")
        return [
            Finding(
                "error",
                "winpeshl-skips-startnet",
                f"startup.{key[1]} writes winpeshl.ini, which replaces the shell: startnet.cmd never runs, "
                f"so {what} never run; add an entry that runs it first, e.g. "
                '{ app = "%SYSTEMROOT%\\System32\\cmd.exe", args = "/c %SYSTEMROOT%\\System32\\startnet.cmd" }',
                key,
            )
        ]
    removed = {p.replace("\\", "/").strip("/").lower() for p in c.recipe.settings.files.remove}
    if WINPESHL.lower() in removed or any(p.dest.lower() == WINPESHL.lower() for p in c.placed):
        return []
    existing = c.read_image(WINPESHL)
    if existing is None or _runs_startnet(existing.decode("utf-8", "replace").splitlines()):
        return []
    return [  # a warning: what the image's own programs do is beyond what pebuild can read
        Finding(
            "warning",
            "image-winpeshl-skips-startnet",
            f"the image has its own {WINPESHL}, which replaces the shell and never runs startnet.cmd, "
            f"so {what} never run; remove it (files.remove) or run startnet.cmd from [startup] launch_apps",
            lines[0][1],
        )
    ]


def _wds_client(c: BuildCheck) -> list[Finding]:
    plan = c.recipe.servicing_plan
    specs = [u for u in (plan.unattend if plan else []) if u.kind == "wds_client"]
    if not specs:
        return []
    out = []
    settings = specs[0].settings
    key: tuple[str | int, ...] = ("unattend", "wds_client")
    if settings.get("wipe_disk") and not settings.get("partitions"):
        out.append(
            Finding(
                "error",
                "wipe-without-partitions",
                f"unattend.wds_client: wipe_disk = true with no partitions: Setup wipes disk "
                f"{settings.get('disk_id', 0)}, creates nothing, then installs to partition "
                f"{settings.get('install_partition', 1)}, which no longer exists; add partitions "
                "or set wipe_disk = false",
                (*key, "wipe_disk"),
            )
        )
    added = any(p.dest.lower() == "sources/setup.exe" for p in c.placed)
    if not added and c.read_image("sources/setup.exe") is None:
        out.append(
            Finding(
                "warning",
                "wds-client-without-setup",
                "unattend.wds_client: the image has no sources\\setup.exe, so nothing reads "
                "WDSClientUnattend.xml (Windows Setup in WDS client mode runs from a Setup boot image, "
                "e.g. index 2 of an install medium's boot.wim)",
                key,
            )
        )
    return out


def _has_wimscript_overlay(recipe: Recipe) -> bool:
    for ref in recipe.settings.overlays:
        path = Path(ref)
        if path.name == "wimscript":
            return True
        try:
            texts = [p.read_text("utf-8", "replace") for p in path.rglob("*") if p.is_file()]
        except OSError:
            continue
        if any("wimscript_sections" in t for t in texts):
            return True
    return False


def _wimscript(c: BuildCheck) -> list[Finding]:
    """[wimscript] is only written by the wimscript overlay; its globs follow capture's rule."""
    from pebuild.wim.config import check_glob

    recipe = c.recipe
    given = [k for k in recipe.locations if k and k[0] == "wimscript"]
    if not given:
        return []
    out = []
    if not _has_wimscript_overlay(recipe):
        out.append(
            Finding(
                "error",
                "wimscript-without-overlay",
                '[wimscript] is set but no overlay writes wimscript.ini: add "wimscript" to overlays',
                min(given, key=lambda k: recipe.locations[k].line or 0),
            )
        )
    s = recipe.settings.wimscript
    for name in ("exclusion_list", "exclusion_exception", "compression_exclusion_list"):
        for i, glob in enumerate(getattr(s, name)):
            try:
                check_glob(glob)
            except PebuildError as exc:
                out.append(
                    Finding(
                        "error", "wimscript-glob", f"wimscript.{name}: {exc.message}", ("wimscript", name, i)
                    )
                )
    return out


def _drivers(c: BuildCheck) -> list[Finding]:
    plan = c.recipe.servicing_plan
    if plan is None or not plan.driver_paths:
        return []
    from pebuild.servicing.plan import plan_drivers

    warnings: list[str] = []
    plan_drivers(plan, c.arch, warnings)  # arch mismatches and bad packages raise here, with the INF
    return [Finding("warning", "driver-twice", w, ("drivers", "paths")) for w in warnings]


def _usb_label(c: BuildCheck) -> list[Finding]:
    label = c.recipe.settings.media.label
    if not c.usb or len(label) <= FAT_LABEL_MAX:
        return []
    return [
        Finding(
            "warning",
            "usb-label-cut",
            f"media.label {label!r} is {len(label)} characters; a FAT volume label holds {FAT_LABEL_MAX}: "
            f"the USB image is labelled {label[:FAT_LABEL_MAX].upper()!r} (the ISO keeps the full label)",
            ("media", "label"),
        )
    ]


def check_image(recipe: Recipe, req: Any, placed: list[Any], wim: Any, index: int) -> list[str]:
    """The builder's one call: every check on the open image; raises or returns the warnings."""

    def read(path: str) -> bytes | None:
        return bytes(wim.read_file(index, path)) if wim.exists(index, path) else None

    check = BuildCheck(recipe, req.arch, read, placed, usb=req.usb_output is not None)
    return enforce(recipe, check_build(check), strict=req.strict)
