"""plan_image_edits: turn a ServicingPlan into the files and startnet lines one build adds.

The builder applies the result in its single libwim update; nothing here writes
to the WIM. Hives are read from the image, edited in memory and returned as
bytes (preserve mode), so the image's other hive content is untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pebuild.clock import build_time
from pebuild.edits import ImageEdits
from pebuild.errors import PebuildError, RecipeError
from pebuild.fsutil import find_case_insensitive
from pebuild.hive.log import LOG_SUFFIXES
from pebuild.servicing.drivers import DriverPackage, WrongArchError, find_infs, validate_driver
from pebuild.servicing.pesettings import apply_pe_settings
from pebuild.servicing.recipe import ServicingPlan
from pebuild.servicing.registry import HiveFiles, RegistryEditor
from pebuild.servicing.unattend import render_unattend


class WimHiveLoader:
    """Read hive files from a WIM image, one extract each (hives can be tens of MB), with the
    transaction logs beside them (SYSTEM.LOG1, .LOG2, .LOG) so a dirty hive can be replayed.

    libwim finds paths without case; `real_paths` keeps the image's own spelling so the
    edited hive replaces the file under its existing name (its logs too, when emptied).
    """

    def __init__(self, wim: Any, index: int, workdir: Path) -> None:
        self.wim, self.index = wim, index
        self.dest = Path(workdir) / "servicing-hives"
        self.real_paths: dict[str, str] = {}
        self.log_paths: dict[str, dict[str, str]] = {}  # hive image path -> {log name: real image path}

    def __call__(self, image_path: str) -> HiveFiles | None:
        if not self.wim.exists(self.index, image_path):
            return None
        logs = [image_path + s for s in LOG_SUFFIXES if self.wim.exists(self.index, image_path + s)]
        self.wim.extract(self.index, [image_path, *logs], self.dest)
        local = find_case_insensitive(self.dest, image_path)
        if local is None or not local.is_file():
            return None
        self.real_paths[image_path] = local.relative_to(self.dest).as_posix()
        found: dict[str, bytes] = {}
        self.log_paths[image_path] = {}
        for log in logs:
            log_local = find_case_insensitive(self.dest, log)
            if log_local is not None and log_local.is_file():
                found[log_local.name] = log_local.read_bytes()
                self.log_paths[image_path][log_local.name] = log_local.relative_to(self.dest).as_posix()
        return HiveFiles(local.read_bytes(), found)

    def real_path(self, image_path: str) -> str:
        return self.real_paths.get(image_path, image_path)

    def cleared_logs(self, image_path: str, names: list[str]) -> list[str]:
        """Image paths of the named logs of a hive, to be replaced by empty files."""
        paths = self.log_paths.get(image_path, {})
        return [paths[n] for n in names if n in paths]


def apply_registry_plan(
    plan: ServicingPlan, editor: RegistryEditor, variables: dict[str, Any] | None = None
) -> None:
    """Registry edits in recipe order: .reg imports, then sets, then deletes, then PE settings."""
    for path, reg in plan.reg_imports:
        try:
            editor.apply_reg(reg)
        except PebuildError as exc:
            raise RecipeError(f"registry.import {path.name}: {exc.message}", path=plan.recipe_path) from None
    for item in plan.reg_sets:
        editor.set_value(item.key, item.name, item.type, item.rendered(variables or {}))
    for item in plan.reg_deletes:
        if item.name is None:
            editor.delete_key(item.key)
        else:
            editor.delete_value(item.key, item.name)
    apply_pe_settings(editor, scratch_space=plan.scratch_space, target_path=plan.target_path)


def plan_drivers(plan: ServicingPlan, arch: str, warnings: list[str] | None = None) -> list[DriverPackage]:
    """Validate every package for `arch`.

    A named INF for another arch is an error. A folder may hold packages for several arches side
    by side (vendors ship x86/ and x64/ trees): its INFs for other arches are skipped, but a folder
    with none for `arch` is an error naming them. Any other defect is always an error. The same
    package reached twice (the same INF, or identical files under another path) is staged once,
    with a warning: two copies would mean two drvload lines installing one driver twice.
    """
    packages: list[DriverPackage] = []
    names: set[str] = set()
    seen: dict[str, Path] = {}  # package digest -> the INF first staged for it
    for path in plan.driver_paths:
        infs = find_infs(path)
        if not infs:
            raise RecipeError(f"drivers.paths: no .inf file in {path}", path=plan.recipe_path)
        found: list[DriverPackage] = []
        wrong: list[WrongArchError] = []
        for inf in infs:
            try:
                found.append(validate_driver(inf, arch))
            except WrongArchError as exc:
                if path.is_file():
                    raise
                wrong.append(exc)
        if not found:
            first = wrong[0].message
            more = f" (and {len(wrong) - 1} more INF files, none for {arch})" if len(wrong) > 1 else ""
            raise WrongArchError(first + more)
        for pkg in found:
            digest = package_digest(pkg)
            if digest in seen:
                if warnings is not None:
                    first = seen[digest]
                    same = (
                        "the same INF"
                        if first.resolve() == pkg.inf_path.resolve()
                        else f"the same as {first}"
                    )
                    warnings.append(f"drivers.paths: {pkg.inf_path} is {same}: staged once, loaded once")
                continue
            seen[digest] = pkg.inf_path
            base, n = pkg.name, 1
            while pkg.name.lower() in names:
                n += 1
                pkg.name = f"{base}_{n}"
            names.add(pkg.name.lower())
            packages.append(pkg)
    return packages


def package_digest(pkg: DriverPackage) -> str:
    """SHA-256 over the package's staged files (names and bytes): equal digests, the same package."""
    import hashlib

    digest = hashlib.sha256()
    for rel in pkg.files:
        digest.update(rel.lower().encode() + b"\0" + (pkg.inf_path.parent / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def plan_image_edits(
    plan: ServicingPlan,
    *,
    wim: Any,
    index: int,
    arch: str,
    workdir: Path,
    variables: dict[str, Any],
) -> ImageEdits:
    edits = ImageEdits()
    needs_registry = (
        plan.reg_imports or plan.reg_sets or plan.reg_deletes or plan.scratch_space or plan.target_path
    )
    if needs_registry:
        loader = WimHiveLoader(wim, index, workdir)
        editor = RegistryEditor(loader, describe=lambda p: f"{wim.path}:{index}/{p}")
        apply_registry_plan(plan, editor, variables)
        for image_path, data in editor.serialized(timestamp=build_time()).items():
            edits.add_file(loader.real_path(image_path), data)
            for log in loader.cleared_logs(image_path, editor.logs_to_clear(image_path)):
                edits.add_file(log, b"")  # the new hive is clean and holds the logs' data
    drivers_root = "X:\\" + plan.drivers_dir.replace("/", "\\")
    packages = plan_drivers(plan, arch)
    for pkg in packages:
        for rel in pkg.files:
            edits.add_file(f"{plan.drivers_dir}/{pkg.name}/{rel}", pkg.inf_path.parent / rel)
        if plan.drivers_load:
            edits.startnet_lines.append(f"drvload {drivers_root}\\{pkg.name}\\{pkg.inf_path.name}")
    if plan.drivers_load and any(p.class_name.lower() == "net" for p in packages):
        # wpeinit has already initialised networking; a NIC loaded after it needs this.
        edits.startnet_lines.append("wpeutil InitializeNetwork")
    for spec in plan.unattend:
        edits.add_file(spec.path, render_unattend(spec, arch=arch, variables=variables))
    return edits
