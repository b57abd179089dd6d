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
from pebuild.fsutil import normalize_image_path
from pebuild.servicing.drivers import DriverPackage, WrongArchError, find_infs, validate_driver
from pebuild.servicing.pesettings import apply_pe_settings
from pebuild.servicing.recipe import ServicingPlan
from pebuild.servicing.registry import RegistryEditor
from pebuild.servicing.unattend import render_unattend


def wim_hive_loader(wim: Any, index: int, workdir: Path):  # type: ignore[no-untyped-def]
    """Read hive files from a WIM image through one extract each (hives can be tens of MB)."""
    dest = Path(workdir) / "servicing-hives"

    def load(image_path: str) -> bytes | None:
        if not wim.exists(index, image_path):
            return None
        wim.extract(index, [image_path], dest)
        local = dest / normalize_image_path(image_path)
        if not local.is_file():  # libwim matched without case; the extracted name keeps the image's
            parent = local.parent
            hits = (
                [p for p in parent.iterdir() if p.name.lower() == local.name.lower()]
                if parent.is_dir()
                else []
            )
            if len(hits) != 1:
                return None
            local = hits[0]
        return local.read_bytes()

    return load


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


def plan_drivers(plan: ServicingPlan, arch: str) -> list[DriverPackage]:
    """Validate every package for `arch`.

    A named INF for another arch is an error. A folder may hold packages for several arches side
    by side (vendors ship x86/ and x64/ trees): its INFs for other arches are skipped, but a folder
    with none for `arch` is an error naming them. Any other defect is always an error.
    """
    packages: list[DriverPackage] = []
    names: set[str] = set()
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
            base, n = pkg.name, 1
            while pkg.name.lower() in names:
                n += 1
                pkg.name = f"{base}_{n}"
            names.add(pkg.name.lower())
            packages.append(pkg)
    return packages


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
        editor = RegistryEditor(wim_hive_loader(wim, index, workdir))
        apply_registry_plan(plan, editor, variables)
        for image_path, data in editor.serialized(timestamp=build_time()).items():
            edits.add_file(image_path, data)
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
