"""Everything the build changes in boot.wim, gathered into one ImageEdits, then applied at once.

Sources of edits: overlays, the recipe's [files], winpeshl.ini and startnet.cmd
from [startup], and the servicing sections (registry, drivers, unattend). All
become ONE wimlib_update_image() call (deletes, renames, then adds), so the image
is never half-edited. Every PE file entering the image is checked against the arch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from pebuild.edits import ImageEdits
from pebuild.errors import RecipeError
from pebuild.fsutil import copy_file, normalize_image_path
from pebuild.make.overlay import Placed, expand_overlay, load_overlay
from pebuild.pe import check_arch
from pebuild.recipe import Recipe
from pebuild.recipe.render import render_file_template, startnet_cmd, startnet_lines, winpeshl_ini

STARTNET = "Windows/System32/startnet.cmd"
WINPESHL = "Windows/System32/winpeshl.ini"


def gather_placed(recipe: Recipe, source: Any, variables: dict[str, Any]) -> list[Placed]:
    """Overlay files then recipe [files.add], in recipe order (later ones win)."""
    placed: list[Placed] = []
    for ref in recipe.settings.overlays:
        placed += expand_overlay(load_overlay(Path(ref)), source, variables)
    for i, item in enumerate(recipe.settings.files.add):
        src = Path(item.source)
        dest = normalize_image_path(item.dest)
        if item.template:
            if not src.is_file():
                raise recipe.error("files.add: a template must be a file", "files", "add", i, "source")
            text = render_file_template(str(src), src.read_text(encoding="utf-8"), variables)
            placed.append(Placed(dest, text.encode("utf-8"), f"recipe files.add[{i}]", item.on))
        elif src.is_dir():
            for f in sorted(p for p in src.rglob("*") if p.is_file()):
                rel = f.relative_to(src).as_posix()
                placed.append(Placed(f"{dest}/{rel}", f, f"recipe files.add[{i}] {rel}", item.on))
        else:
            placed.append(Placed(dest, src, f"recipe files.add[{i}]", item.on))
    return placed


def check_placed_pe(placed: list[Placed], arch: str) -> dict[str, dict[str, object]]:
    """check_arch on every PE among the placed files; key 'image:<path>' or 'media:<path>'."""
    out: dict[str, dict[str, object]] = {}
    for p in placed:
        data = p.content.read_bytes() if isinstance(p.content, Path) else p.content
        info = check_arch(data, arch, name=f"{p.dest} ({p.origin})", error=RecipeError)
        if info is not None:
            out[f"{p.on}:{p.dest}"] = info.to_json()
    return out


def image_edits(
    recipe: Recipe,
    placed: list[Placed],
    variables: dict[str, Any],
    *,
    servicing: ImageEdits | None,
) -> ImageEdits:
    edits = ImageEdits()
    for path in recipe.settings.files.remove:
        edits.delete.append(normalize_image_path(path))
    for item in recipe.settings.files.rename:
        edits.rename.append((normalize_image_path(item.from_), normalize_image_path(item.to)))
    for p in placed:
        if p.on == "image":
            edits.add_file(p.dest, p.content)
    ini = winpeshl_ini(recipe, variables)
    if ini is not None:
        edits.add_file(WINPESHL, ini)
    if servicing is not None:
        # Servicing first: its drvload lines must run before the recipe's own startnet
        # lines (e.g. deploy.toml's `setup.exe /wds` needs the NIC driver loaded).
        edits.merge(servicing)
    edits.startnet_lines.extend(startnet_lines(recipe, variables))
    return edits


def update_commands(
    edits: ImageEdits, existing_startnet: bytes | None, *, stage_dir: Path, timestamp: int
) -> list[Any]:
    """Deletes, renames, then adds (sorted by path): one libwim update, deterministic order.

    libwim stores each added file's own times (write, access, creation), so local
    files are first copied into `stage_dir` with their times set to the build time:
    the same recipe in another checkout (other atimes, mtimes) gives the same boot.wim.
    """
    from pebuild.wim import AddCommand, DeleteCommand, RenameCommand

    cmds: list[Any] = [DeleteCommand(p, recursive=True) for p in edits.delete]
    cmds += [RenameCommand(a, b) for a, b in edits.rename]
    adds = dict(edits.add)
    if edits.startnet_lines:
        adds[STARTNET] = startnet_cmd(existing_startnet, list(edits.startnet_lines))
    for n, dest in enumerate(sorted(adds, key=str.lower)):
        content = adds[dest]
        if isinstance(content, Path):
            content = _pinned_copy(content, stage_dir / str(n), timestamp)
        cmds.append(AddCommand(os.fspath(content) if isinstance(content, Path) else content, dest))
    return cmds


def _pinned_copy(src: Path, stage: Path, timestamp: int) -> Path:
    """A copy of a file or tree under `stage` whose every entry carries `timestamp`."""
    stage.mkdir(parents=True)
    dst = stage / src.name
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True, copy_function=copy_file)
        entries = [*sorted(dst.rglob("*"), reverse=True), dst]  # children before their directory
    else:
        copy_file(src, dst)
        entries = [dst]
    for entry in entries:
        os.utime(entry, (timestamp, timestamp), follow_symlinks=False)
    return dst
