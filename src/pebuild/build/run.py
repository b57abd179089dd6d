"""`build()`: recipe -> source -> boot.wim edits -> BCD/SDI -> media tree -> ISO/PXE/USB -> manifest.

The build runs in one directory beside the output (`.pebuild-build-*`):
the source WIM is copied there (reflink / copy_file_range), edited with ONE
libwim update, stamped (GUID from stable_guid, XML times from the build
clock), laid out as copype's media/, and turned into outputs, each written
atomically. On failure the directory is removed unless `keep`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pebuild import clock
from pebuild.build.image import STARTNET, check_placed_pe, gather_placed, image_edits, update_commands
from pebuild.build.model import BuildRequest, BuildResult
from pebuild.errors import OutputError, PebuildError, RecipeError, SourceError, UsageError
from pebuild.fsutil import atomic_directory, copy_file, sha256_file
from pebuild.manifest import MANIFEST_VERSION, file_entries, tool_versions, write_manifest
from pebuild.media import check_media_pe, collect_boot_files, has_bios, write_tree
from pebuild.progress import Progress, ProgressEvent
from pebuild.recipe import ARCHES, Recipe, load_recipe
from pebuild.source import EFI_NAME, open_source

STAGES = ("recipe", "source", "image", "boot", "media", "iso", "pxe", "usb", "manifest")


class _Stages:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self.n = 0

    @contextlib.contextmanager
    def stage(self, name: str, message: str = "") -> Iterator[None]:
        if self.progress:
            self.progress(ProgressEvent("build", self.n, len(STAGES), f"{name}: {message}"))
        t0 = time.monotonic()
        yield
        self.seconds[name] = time.monotonic() - t0
        self.n += 1
        if self.progress:
            self.progress(ProgressEvent("build", self.n, len(STAGES), name))


def build(req: BuildRequest, progress: Progress | None = None) -> BuildResult:
    """Build WinPE media from a recipe; see the module docstring for the stages."""
    if req.arch not in ARCHES:
        raise UsageError(f"unknown arch {req.arch!r} (one of {', '.join(ARCHES)})")
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
    anchor = next(p for p in (req.output, req.media_dir, req.pxe_dir, req.usb_output) if p is not None)
    root = req.build_root or Path(anchor).resolve().parent
    if not root.is_dir():
        raise OutputError("cannot write output: directory does not exist", path=root)
    try:
        build_dir = Path(tempfile.mkdtemp(prefix=".pebuild-build-", dir=root))
    except OSError as exc:
        raise OutputError(f"cannot create the build directory: {exc.strerror or exc}", path=root) from None
    try:
        with st.stage("source", str(spec)):
            source = open_source(spec, req.arch)
        with source:
            result = _run(req, recipe, source, build_dir, t, st, progress)
        return result
    except PebuildError as exc:
        if req.keep:
            exc.message = f"{exc.message} (build directory kept: {build_dir})"
        raise
    finally:
        if not req.keep:
            shutil.rmtree(build_dir, ignore_errors=True)


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


def _run(
    req: BuildRequest,
    recipe: Recipe,
    source: Any,
    build_dir: Path,
    t: int,
    st: _Stages,
    progress: Progress | None,
) -> BuildResult:
    from pebuild.wim import Wim

    s = recipe.settings
    variables = _variables(req, recipe, source)
    media = build_dir / "media"
    wim_path = build_dir / "boot.wim"
    manifest: dict[str, Any] = {"manifest_version": MANIFEST_VERSION, "arch": req.arch, "build_time": t}
    with st.stage("image", "edit boot.wim"):
        placed = gather_placed(recipe, source, variables)
        pe_files = check_placed_pe(placed, req.arch)
        source_wim = source.boot_wim_path(build_dir)
        if source_wim.parent == build_dir:  # already a private copy (extracted from an ISO): take it
            os.replace(source_wim, wim_path)
        else:
            copy_file(source_wim, wim_path)
        os.chmod(wim_path, 0o644)
        with Wim.open(wim_path, write=True) as wim:
            index = _select_index(recipe, source, wim)
            servicing = None
            if recipe.servicing_plan is not None:
                from pebuild.servicing import plan_image_edits

                servicing = plan_image_edits(
                    recipe.servicing_plan,
                    wim=wim,
                    index=index,
                    arch=req.arch,
                    workdir=build_dir,
                    variables=variables,
                )
                servicing_pe = {f"image:{k}": v for k, v in _check_edit_pe(servicing.add, req.arch).items()}
                pe_files.update(servicing_pe)
            edits = image_edits(recipe, placed, variables, servicing=servicing)
            existing = None
            if edits.startnet_lines and wim.exists(index, STARTNET):
                existing = wim.read_file(index, STARTNET)
            wim.update(index, update_commands(edits, existing), timestamp=t, progress=progress)
            props = {
                "name": _render(recipe, s.image.name, variables, "name"),
                "description": _render(recipe, s.image.description, variables, "description"),
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
            wim.set_guid(clock.stable_guid("boot.wim", recipe.sha256, req.arch, t))
            wim.overwrite(progress=progress)
        with Wim.open(wim_path, write=True) as wim:  # pin XML times: libwim stamps `now` on write
            for i in range(1, wim.info.image_count + 1):
                wim.set_times(i, t)
            wim.overwrite()
        with Wim.open(wim_path) as wim:
            manifest["wim"] = {
                **{k: v for k, v in wim.info.to_json().items() if k not in ("path",)},
                "edited_index": index,
                "images": [img.to_json() for img in wim.images],
            }
    with st.stage("boot", "BCD stores and boot.sdi"):
        stores, bcd_bytes = _bcd_stores(recipe, req.arch, t)
        boot_sdi = _boot_sdi(source, t)
    with st.stage("media", "lay out media/"):
        files = collect_boot_files(
            source,
            req.arch,
            prompt=s.media.prompt,
            bcd_bios=bcd_bytes.get("bios"),
            bcd_uefi=bcd_bytes["uefi"],
            boot_sdi=boot_sdi,
        )
        for p in placed:
            if p.on == "media":
                files.put(p.dest, p.content)
        media_pe = check_media_pe({k: v for k, v in files.files.items()}, req.arch)
        pe_files.update({f"media:{k}": v for k, v in media_pe.items()})
        write_tree(media, files.files, mtime=t)
        # move, not copy: the edited WIM is the build's own file (saves a full copy of boot.wim)
        final_wim = media / "sources" / "boot.wim"
        final_wim.parent.mkdir(parents=True, exist_ok=True)
        os.replace(wim_path, final_wim)
        for path in (final_wim, final_wim.parent, media):
            os.utime(path, (t, t))
        fw = build_dir / "fwfiles"
        write_tree(fw, dict(files.fwfiles), mtime=t)
    # hash the media tree (mostly boot.wim) on a second core while the ISO is written
    hashing = ThreadPoolExecutor(max_workers=1)
    media_entries = hashing.submit(file_entries, media)
    result = BuildResult(
        arch=req.arch,
        iso=None,
        iso_size=None,
        iso_sha256=None,
        media_dir=None,
        manifest_path=None,
        manifest=manifest,
        build_dir=None,
    )
    outputs: dict[str, Any] = {}
    if req.output is not None:
        with st.stage("iso", str(req.output)):
            from pebuild.iso import IsoRequest, write_iso

            uefi_name = "efisys.bin" if s.media.prompt else "efisys_noprompt.bin"
            iso = write_iso(
                IsoRequest(
                    media_dir=media,
                    output=Path(req.output),
                    bios_boot=(fw / "etfsboot.com") if has_bios(req.arch) else None,
                    uefi_boot=fw / uefi_name,
                    label=s.media.label,
                    udf=s.media.udf,
                    joliet=s.media.joliet,
                    timestamp=t,
                ),
                progress,
            )
            result.iso, result.iso_size, result.iso_sha256 = iso.path, iso.size, iso.sha256
            outputs["iso"] = {"path": Path(req.output).name, "size": iso.size, "sha256": iso.sha256}
    outputs["media"] = media_entries.result()
    hashing.shutdown()
    outputs["fwfiles"] = file_entries(fw)
    if req.pxe_dir is not None:
        with st.stage("pxe", str(req.pxe_dir)):
            from pebuild.pxe import PxeRequest, write_pxe_tree

            pxe_kwargs: dict[str, Any] = {}
            if s.pxe.block_size is not None:
                pxe_kwargs["block_size"] = s.pxe.block_size
            if s.pxe.window_size is not None:
                pxe_kwargs["window_size"] = s.pxe.window_size
            write_pxe_tree(
                PxeRequest(
                    dest=Path(req.pxe_dir),
                    boot_wim=media / "sources" / "boot.wim",
                    arches=[req.arch],
                    source=source,
                    prompt=s.pxe.prompt,
                    description=s.bcd.description,
                    timestamp=t,
                    **pxe_kwargs,
                ),
                progress,
            )
            result.pxe_dir = Path(req.pxe_dir)
            outputs["pxe"] = file_entries(Path(req.pxe_dir))
    if req.usb_output is not None:
        with st.stage("usb", str(req.usb_output)):
            from pebuild.usb import UsbRequest, write_usb_image

            usb = write_usb_image(
                UsbRequest(
                    media_dir=media,
                    output=Path(req.usb_output),
                    size=req.usb_size,
                    table=req.usb_table,
                    arch=req.arch,
                    label=s.media.label[:11],
                    timestamp=t,
                ),
                progress,
            )
            result.usb_image = Path(req.usb_output)
            outputs["usb"] = {
                "path": Path(req.usb_output).name,
                "size": usb.size,
                "sha256": sha256_file(req.usb_output),
                "table": usb.table,
            }
    with st.stage("manifest"):
        manifest.update(
            outputs=outputs,
            pe_files=dict(sorted(pe_files.items())),
            bcd={k: v.to_json() for k, v in stores.items()},
            recipe={
                "path": recipe.path.name,
                "sha256": recipe.sha256,
                "profile": recipe.profile,
                "files": [p.name for p in recipe.files],
                "settings": recipe.to_json()["settings"],
            },
            source={"kind": source.kind, "arch": req.arch},
            tools=tool_versions(),
        )
        if req.media_dir is not None:
            with atomic_directory(req.media_dir) as tmp:
                tmp.rmdir()
                shutil.copytree(media, tmp, copy_function=_copy)
            result.media_dir = Path(req.media_dir)
        if req.manifest is not None:
            write_manifest(Path(req.manifest), manifest)
            result.manifest_path = Path(req.manifest)
    if req.keep:
        result.build_dir = build_dir
    result.stages = st.seconds
    return result


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

    b = recipe.settings.bcd
    opts = presets.PresetOptions(
        description=b.description,
        locale=b.locale,
        timeout=b.timeout,
        bootmenupolicy=b.bootmenupolicy,  # type: ignore[arg-type]
        ems=(b.ems_port, b.ems_baud) if b.ems else None,
        loadoptions=b.loadoptions,
    )
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
