"""`build()`: recipe -> source -> boot.wim edits -> BCD/SDI -> media tree -> ISO/PXE/USB -> manifest.

Before any work the whole output plan is checked (pebuild.outputs: paths,
kinds, collisions, ownership of existing trees) and locked. The build runs in
one directory beside the first output (`.pebuild-build-<pid>-*`): the source
WIM is copied there (reflink / copy_file_range), edited with ONE libwim update,
stamped (GUID from stable_guid, XML times from the build clock) and laid out as
copype's media/. Every output is written into a staging area beside its target
and all are published together at the end, the manifest last: an error or an
interrupt before that leaves every target as it was. The build directory is
removed on every exit path unless `keep`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild import clock
from pebuild.arches import normalize_arch
from pebuild.bcd import store_to_json
from pebuild.errors import OutputError, PebuildError, RecipeError, SourceError, UsageError
from pebuild.fsutil import copy_file, sha256_file, start_writeback
from pebuild.make.checks import check_image
from pebuild.make.image import STARTNET, check_placed_pe, gather_placed, image_edits, update_commands
from pebuild.make.model import BuildRequest, BuildResult
from pebuild.manifest import MANIFEST_VERSION, file_entries, tool_versions, write_manifest
from pebuild.media import check_media_pe, collect_boot_files, has_bios, write_tree
from pebuild.outputs import TREE, Output, OutputPlan, Transaction, build_directory, plan_outputs
from pebuild.progress import Progress, ProgressEvent
from pebuild.recipe import Recipe, load_recipe, overlays_dir
from pebuild.source import EFI_NAME, open_source

STAGES = ("recipe", "source", "image", "boot", "media", "iso", "pxe", "usb", "manifest", "publish")


class _Stages:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self.n = 0

    @contextlib.contextmanager
    def stage(self, name: str, message: str = "") -> Iterator[None]:
        if self.progress:
            self.progress(ProgressEvent("build", self.n, len(STAGES), f"{name}: {message}", unit="steps"))
        t0 = time.monotonic()
        yield
        self.seconds[name] = time.monotonic() - t0
        self.n += 1
        if self.progress:
            self.progress(ProgressEvent("build", self.n, len(STAGES), name, unit="steps"))


def build(req: BuildRequest, progress: Progress | None = None) -> BuildResult:
    """Build WinPE media from a recipe; see the module docstring for the stages."""
    req = dataclasses.replace(req, arch=normalize_arch(req.arch))  # x64 -> amd64, once (pebuild.arches)
    if req.output is None and req.media_dir is None and req.pxe_dir is None and req.usb_output is None:
        raise UsageError("nothing to build: give -o OUT.iso, --media-dir, --pxe or --usb")
    t = clock.build_time(req.timestamp)
    st = _Stages(progress)
    with st.stage("recipe"):
        recipe = load_recipe(req.recipe, profile=req.profile)
        allowed = recipe.settings.arch
        if allowed and req.arch not in allowed:
            raise recipe.error(f"arch: this recipe is for {', '.join(allowed)}, not {req.arch}", "arch")
    spec = req.source or recipe.settings.source
    if spec is None:
        raise UsageError(
            "no source: give --source (sample, a kit, an install .iso or a WIM) or set `source` in the recipe"
        )
    plan = _output_plan(req, recipe, spec)
    with Transaction(plan, req.outputs) as tx:
        root = Path(req.build_root) if req.build_root else plan.outputs[0].parent
        if not root.is_dir():
            raise OutputError("cannot write output: directory does not exist", path=root)
        with build_directory(root, keep=req.keep) as build_dir:
            try:
                with st.stage("source", str(spec)):
                    source = open_source(spec, req.arch)
                with source:
                    return _run(req, recipe, source, build_dir, t, st, progress, tx)
            except PebuildError as exc:
                if req.keep:
                    exc.message = f"{exc.message} (build directory kept: {build_dir})"
                raise


def _output_plan(req: BuildRequest, recipe: Recipe, spec: str) -> OutputPlan:
    """Every output of the build, checked before any work; the manifest last (published last)."""
    outputs = [
        Output(role, Path(path), kind)
        for role, path, kind in (
            ("iso", req.output, "file"),
            ("media", req.media_dir, TREE),
            ("pxe", req.pxe_dir, TREE),
            ("usb", req.usb_output, "file"),
            ("manifest", req.manifest, "file"),
        )
        if path is not None
    ]
    inputs = [recipe.path] + ([] if spec == "sample" else [Path(spec)])
    return plan_outputs(outputs, inputs=inputs)


def _variables(req: BuildRequest, recipe: Recipe, source: Any) -> dict[str, Any]:
    s = recipe.settings
    variables: dict[str, Any] = {"tools_dir": "Windows/System32"}
    variables.update(s.variables)
    variables.update(
        arch=req.arch,
        efi_arch=EFI_NAME[req.arch],
        label=s.media.label,
        profile=recipe.profile or "",
        source_kind=source.kind,
        recipe_dir=str(recipe.path.parent),
        wimscript_sections=[
            ("ExclusionList", list(s.wimscript.exclusion_list)),
            ("ExclusionException", list(s.wimscript.exclusion_exception)),
            ("CompressionExclusionList", list(s.wimscript.compression_exclusion_list)),
        ],
    )
    return variables


@dataclass
class _Ctx:
    """Run state of one build (style.md: a Context beside the frozen settings)."""

    req: BuildRequest
    recipe: Recipe
    source: Any
    build_dir: Path
    t: int
    st: _Stages
    progress: Progress | None
    variables: dict[str, Any]
    tx: Transaction
    pe_files: dict[str, dict[str, object]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    boot_set: Any = None  # pebuild.secureboot.bootset.BootSet, chosen in the media stage
    warnings: list[str] = field(default_factory=list)

    @property
    def media(self) -> Path:
        return self.build_dir / "media"

    @property
    def fw(self) -> Path:
        return self.build_dir / "fwfiles"

    @property
    def wim_path(self) -> Path:
        return self.build_dir / "boot.wim"


def _run(
    req: BuildRequest,
    recipe: Recipe,
    source: Any,
    build_dir: Path,
    t: int,
    st: _Stages,
    progress: Progress | None,
    tx: Transaction,
) -> BuildResult:
    ctx = _Ctx(req, recipe, source, build_dir, t, st, progress, _variables(req, recipe, source), tx)
    ctx.manifest.update(manifest_version=MANIFEST_VERSION, arch=req.arch, build_time=t)
    with st.stage("image", "edit boot.wim"):
        placed = gather_placed(recipe, source, ctx.variables)
        ctx.pe_files.update(check_placed_pe(placed, req.arch))
        _edit_boot_wim(ctx, placed)
    with st.stage("boot", "BCD stores and boot.sdi"):
        stores, bcd_bytes = _bcd_stores(recipe, req.arch, t)
        boot_sdi = _boot_sdi(source, t)
    with st.stage("media", "lay out media/"):
        _lay_out_media(ctx, placed, bcd_bytes, boot_sdi)
    result = BuildResult(
        arch=req.arch,
        iso=None,
        iso_size=None,
        iso_sha256=None,
        media_dir=None,
        manifest_path=None,
        manifest=ctx.manifest,
        build_dir=None,
    )
    # hash the media tree (mostly boot.wim) on a second core while the ISO is written
    with ThreadPoolExecutor(max_workers=1) as hashing:
        media_entries = hashing.submit(file_entries, ctx.media)
        if req.output is not None:
            with st.stage("iso", str(req.output)):
                _write_iso(ctx, result)
        ctx.outputs["media"] = media_entries.result()
    ctx.outputs["fwfiles"] = file_entries(ctx.fw)
    if req.pxe_dir is not None:
        with st.stage("pxe", str(req.pxe_dir)):
            _write_pxe(ctx)
            result.pxe_dir = Path(req.pxe_dir)
    if req.usb_output is not None:
        with st.stage("usb", str(req.usb_output)):
            _write_usb(ctx)
            result.usb_image = Path(req.usb_output)
    with st.stage("manifest"):
        _finish(ctx, result, stores)
    with st.stage("publish", "rename the new outputs into place"):
        tx.publish()
    if req.keep:
        result.build_dir = build_dir
    result.stages = st.seconds
    result.warnings = ctx.warnings
    return result


def _edit_boot_wim(ctx: _Ctx, placed: list[Any]) -> None:
    """Private copy of the source WIM, ONE update with every edit, metadata, pinned GUID and times."""
    from pebuild.wim import Wim

    s, recipe, t = ctx.recipe.settings, ctx.recipe, ctx.t
    source_wim = ctx.source.boot_wim_path(ctx.build_dir)
    if source_wim.parent == ctx.build_dir:  # already a private copy (extracted from an ISO): take it
        os.replace(source_wim, ctx.wim_path)
    else:
        copy_file(source_wim, ctx.wim_path)
    os.chmod(ctx.wim_path, 0o644)
    with Wim.open(ctx.wim_path, write=True) as wim:
        index = _select_index(recipe, ctx.source, wim)
        ctx.warnings += check_image(recipe, ctx.req, placed, wim, index)  # errors raise (make/checks.py)
        servicing = None
        if recipe.servicing_plan is not None:
            from pebuild.servicing import plan_image_edits

            servicing = plan_image_edits(
                recipe.servicing_plan,
                wim=wim,
                index=index,
                arch=ctx.req.arch,
                workdir=ctx.build_dir,
                variables=ctx.variables,
            )
            checked = _check_edit_pe(servicing.add, ctx.req.arch)
            ctx.pe_files.update({f"image:{k}": v for k, v in checked.items()})
        edits = image_edits(recipe, placed, ctx.variables, servicing=servicing)
        existing = None
        if edits.startnet_lines and wim.exists(index, STARTNET):
            existing = wim.read_file(index, STARTNET)
        commands = update_commands(edits, existing, stage_dir=ctx.build_dir / "stage", timestamp=t)
        wim.update(index, commands, timestamp=t, progress=ctx.progress)
        props = {
            "name": _render(recipe, s.image.name, ctx.variables, "name"),
            "description": _render(recipe, s.image.description, ctx.variables, "description"),
            "flags": s.image.flags,
        }
        if any(v is not None for v in props.values()):
            wim.set_image_properties(index, **props)
        boot_index = s.image.boot_index or index
        if boot_index > wim.info.image_count:
            raise recipe.error(
                f"image.boot_index: {boot_index} but the WIM has {wim.info.image_count} image(s)",
                "image",
                "boot_index",
            )
        wim.set_boot_index(boot_index)
        wim.set_guid(clock.stable_guid("boot.wim", recipe.sha256, ctx.req.arch, t))
        wim.overwrite(progress=ctx.progress)
    with Wim.open(ctx.wim_path, write=True) as wim:  # pin XML times: libwim stamps `now` on write
        for i in range(1, wim.info.image_count + 1):
            wim.set_times(i, t)
        # Only the XML changes, in the build's private copy: a rebuild would rewrite the whole
        # WIM (seconds for 400 MB); if this is interrupted the build fails and the copy is dropped.
        wim.overwrite(unsafe_xml_in_place=True)
    start_writeback(ctx.wim_path)  # final now: on disk by the time the outputs are published
    with Wim.open(ctx.wim_path) as wim:
        ctx.manifest["wim"] = {
            **{k: v for k, v in wim.info.to_json().items() if k not in ("path",)},
            "edited_index": index,
            "images": [img.to_json() for img in wim.images],
        }


def _boot_source(ctx: _Ctx) -> Any:
    """The source as the media and PXE stages see it: usual names serve the chosen boot manager set.

    `[media] boot_manager` / --boot-manager (issue 14, pebuild.secureboot.bootset).
    """
    from pebuild.secureboot.bootset import BootSetSource, choose_boot_set

    if ctx.boot_set is None:
        ctx.boot_set = choose_boot_set(
            ctx.source, ctx.req.boot_manager or ctx.recipe.settings.media.boot_manager
        )
    return BootSetSource(ctx.source, ctx.boot_set)


def _lay_out_media(ctx: _Ctx, placed: list[Any], bcd_bytes: dict[str, bytes], boot_sdi: bytes) -> None:
    files = collect_boot_files(
        _boot_source(ctx),
        ctx.req.arch,
        prompt=ctx.recipe.settings.media.prompt,
        bcd_bios=bcd_bytes.get("bios"),
        bcd_uefi=bcd_bytes["uefi"],
        boot_sdi=boot_sdi,
    )
    for p in placed:
        if p.on == "media":
            files.put(p.dest, p.content)
    media_pe = check_media_pe(dict(files.files), ctx.req.arch)
    ctx.pe_files.update({f"media:{k}": v for k, v in media_pe.items()})
    write_tree(ctx.media, files.files, mtime=ctx.t)
    # move, not copy: the edited WIM is the build's own file (saves a full copy of boot.wim)
    final_wim = ctx.media / "sources" / "boot.wim"
    final_wim.parent.mkdir(parents=True, exist_ok=True)
    os.replace(ctx.wim_path, final_wim)
    for path in (final_wim, final_wim.parent, ctx.media):
        os.utime(path, (ctx.t, ctx.t))
    write_tree(ctx.fw, dict(files.fwfiles), mtime=ctx.t)


def _write_iso(ctx: _Ctx, result: BuildResult) -> None:
    from pebuild.iso import IsoRequest, write_iso

    m = ctx.recipe.settings.media
    assert ctx.req.output is not None
    target = ctx.tx.plan.get("iso").path
    iso = write_iso(
        IsoRequest(
            media_dir=ctx.media,
            output=target,
            bios_boot=(ctx.fw / "etfsboot.com") if has_bios(ctx.req.arch) else None,
            uefi_boot=ctx.fw / ("efisys.bin" if m.prompt else "efisys_noprompt.bin"),
            label=m.label,
            udf=m.udf,
            joliet=m.joliet,
            timestamp=ctx.t,
        ),
        ctx.progress,
        into=ctx.tx.path("iso"),
    )
    result.iso, result.iso_size, result.iso_sha256 = Path(ctx.req.output), iso.size, iso.sha256
    ctx.outputs["iso"] = {"path": Path(ctx.req.output).name, "size": iso.size, "sha256": iso.sha256}


def _write_pxe(ctx: _Ctx) -> None:
    from pebuild.pxe import write_pxe_tree

    assert ctx.req.pxe_dir is not None
    write_pxe_tree(_pxe_request(ctx), ctx.progress, into=ctx.tx.path("pxe"))
    ctx.tx.written("pxe")
    ctx.outputs["pxe"] = file_entries(ctx.tx.path("pxe"))
    ctx.tx.known_files("pxe", ctx.outputs["pxe"])


def _pxe_request(ctx: _Ctx) -> Any:
    """The recipe's [pxe] table and its whole [bcd] table (pebuild.pxe.recipe) for the image just built."""
    from pebuild.pxe import PxeRequest
    from pebuild.pxe.recipe import recipe_fields

    assert ctx.req.pxe_dir is not None
    return PxeRequest(
        dest=ctx.tx.plan.get("pxe").path,
        boot_wim=ctx.media / "sources" / "boot.wim",
        arches=[ctx.req.arch],
        source=_boot_source(ctx),
        timestamp=ctx.t,
        **recipe_fields(ctx.recipe),
    )


def _write_usb(ctx: _Ctx) -> None:
    from pebuild.usb import UsbRequest, write_usb_image

    assert ctx.req.usb_output is not None
    staged = ctx.tx.path("usb")
    usb = write_usb_image(
        UsbRequest(
            media_dir=ctx.media,
            output=ctx.tx.plan.get("usb").path,
            size=ctx.req.usb_size,
            table=ctx.req.usb_table,
            split_size=ctx.req.usb_split_size,
            data_size=ctx.req.usb_data_size,
            data_fs=ctx.req.usb_data_fs,
            arch=ctx.req.arch,
            label=ctx.recipe.settings.media.label[:11],
            timestamp=ctx.t,
        ),
        ctx.progress,
        into=staged,
    )
    ctx.outputs["usb"] = {
        "path": Path(ctx.req.usb_output).name,
        "size": usb.size,
        "sha256": sha256_file(staged),
        "table": usb.table,
    }


def _finish(ctx: _Ctx, result: BuildResult, stores: dict[str, Any]) -> None:
    """The manifest; the --media-dir tree and the manifest file staged for the publish."""
    recipe = ctx.recipe
    _secure_boot_report(ctx, result)
    ctx.manifest.update(
        outputs=ctx.outputs,
        pe_files=dict(sorted(ctx.pe_files.items())),
        bcd={k: store_to_json(v) for k, v in stores.items()},
        recipe={
            "path": recipe.path.name,
            "sha256": recipe.sha256,
            "profile": recipe.profile,
            "files": [p.name for p in recipe.files],
            "settings": _portable_settings(recipe.to_json()["settings"], recipe.path.parent),
        },
        source={"kind": ctx.source.kind, "arch": ctx.req.arch},
        tools=tool_versions(),
    )
    if ctx.req.media_dir is not None:
        _stage_media(ctx)
        result.media_dir = Path(ctx.req.media_dir)
    if ctx.req.manifest is not None:
        write_manifest(ctx.tx.path("manifest"), ctx.manifest)
        result.manifest_path = Path(ctx.req.manifest)


def _secure_boot_report(ctx: _Ctx, result: BuildResult) -> None:
    """Manifest `secure_boot` (per-EFI-file signer CA, SVN, verdict) and `pebuild make`'s summary line."""
    from pebuild.secureboot.report import build_report

    m = ctx.recipe.settings.media
    uefi = ctx.fw / ("efisys.bin" if m.prompt else "efisys_noprompt.bin")
    pxe = ctx.tx.path("pxe") if ctx.req.pxe_dir is not None else None  # the new tree, still staged
    report = build_report(ctx.media, uefi, pxe, ctx.boot_set)
    ctx.manifest["secure_boot"] = report
    warnings = [ctx.boot_set.warning] if ctx.boot_set.warning else []
    result.secure_boot = {"summary": report["summary"], "warnings": warnings, "boots": report["boots"]}


def _stage_media(ctx: _Ctx) -> None:
    """The build's media/ becomes the staged --media-dir: moved (it is done with), copied with --keep."""
    staged = ctx.tx.path("media")
    staged.rmdir()
    if not ctx.req.keep:
        try:
            os.rename(ctx.media, staged)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # --build-root on another file system: copy instead
                raise OutputError(f"cannot stage the media tree: {exc.strerror}", path=staged) from None
        else:
            ctx.tx.known_files("media", ctx.outputs["media"])
            return
    shutil.copytree(ctx.media, staged, copy_function=_copy)
    ctx.tx.known_files("media", ctx.outputs["media"])


def _copy(src: str, dst: str) -> str:
    copy_file(src, dst)
    return dst


def _render(recipe: Recipe, value: str | None, variables: dict[str, Any], key: str) -> str | None:
    if value is None:
        return None
    from pebuild.recipe.render import render_text

    return render_text(recipe, value, variables, "image", key)


def _select_index(recipe: Recipe, source: Any, wim: Any) -> int:
    wanted = recipe.settings.image.index
    count = wim.info.image_count
    if wanted is None:
        return min(source.default_index, count)
    if isinstance(wanted, int):
        if wanted > count:
            raise recipe.error(
                f"image.index: {wanted} but the source WIM has {count} image(s)", "image", "index"
            )
        return wanted
    names = [img.name for img in wim.images]
    for img in wim.images:
        if img.name.lower() == wanted.lower():
            return int(img.index)
    raise recipe.error(
        f"image.index: no image named {wanted!r} (images: {', '.join(names)})", "image", "index"
    )


def _check_edit_pe(adds: dict[str, Path | bytes], arch: str) -> dict[str, dict[str, object]]:
    from pebuild.pe import check_arch

    out = {}
    for dest, content in sorted(adds.items()):
        data = content.read_bytes() if isinstance(content, Path) else content
        info = check_arch(data, arch, name=dest, error=RecipeError)
        if info is not None:
            out[dest] = info.to_json()
    return out


def _bcd_stores(recipe: Recipe, arch: str, t: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    """BIOS and UEFI stores generated from the presets with the recipe's [bcd] settings."""
    from pebuild.bcd import presets

    opts = recipe.settings.bcd.preset_options()
    stores: dict[str, Any] = {"uefi": presets.create("iso-uefi", opts, timestamp=t)}
    if has_bios(arch):
        stores["bios"] = presets.create("iso-bios", opts, timestamp=t)
    return stores, {k: v.serialize(timestamp=t) for k, v in stores.items()}


def _boot_sdi(source: Any, t: int) -> bytes:
    if source.has_boot_file("boot.sdi"):
        return bytes(source.boot_file("boot.sdi"))
    try:
        from pebuild.sdi import create_sdi
    except ImportError:
        source.boot_file("boot.sdi")  # raises SourceError listing where it looked
        raise SourceError("no boot.sdi in the source") from None
    return bytes(create_sdi(timestamp=t))


def _portable_settings(settings: dict[str, Any], base: Path) -> dict[str, Any]:
    """Recipe paths relative to the recipe's directory, so the manifest is the same from any checkout.

    The loader resolves overlays, `source` and `files.add` sources to absolute paths;
    a manifest holding them would differ between two CI workspaces building the same commit.
    """

    def rel(value: Any) -> Any:
        return os.path.relpath(value, base) if isinstance(value, str) and os.path.isabs(value) else value

    def overlay(value: Any) -> Any:
        # a shipped overlay by its name: site-packages and a checkout hold it at different paths
        is_shipped = isinstance(value, str) and Path(value).parent == overlays_dir()
        return Path(value).name if is_shipped else rel(value)

    out = dict(settings)
    out["overlays"] = [overlay(p) for p in out.get("overlays") or []]
    out["source"] = rel(out.get("source"))
    files = out.get("files")
    if isinstance(files, dict):
        files = dict(files)
        files["add"] = [{**item, "source": rel(item.get("source"))} for item in files.get("add") or []]
        out["files"] = files
    return out
