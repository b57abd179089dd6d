"""Write a bootable El Torito ISO the way oscdimg lays out Windows media.

Layout (formats.md 4.1-4.6): ISO 9660 level 3 (multi-extent files over
4 GiB) + Joliet + UDF 2.60 bridge; an El Torito catalog whose default entry
is the BIOS no-emulation image (platform 0, load segment 0x07C0, 8 sectors:
etfsboot.com) followed by a final section header for platform 0xEF holding
the whole efisys.bin, or a UEFI-only catalog. Boot images are placed right
after the metadata, the volume label goes into every descriptor that has one
(pycdlib leaves UDF labels to us), and every date and identifier comes from
the build clock, so SOURCE_DATE_EPOCH gives byte-identical output.
File data is never held in memory: pycdlib opens each file only while it
copies it at write time.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any

import pycdlib.udf
from pycdlib.pycdlibexception import PyCdlibException

from pebuild import __version__
from pebuild.clock import build_time
from pebuild.errors import FormatError, OutputError, UsageError
from pebuild.fsutil import atomic_output
from pebuild.iso._pycdlib import OrderedPyCdlib, copy_deferred, pinned_clock
from pebuild.iso.bootimage import check_boot_file, check_uefi_image
from pebuild.iso.model import IsoRequest, IsoResult
from pebuild.iso.names import MediaFile, NameMap, scan_media, udf_path, validate_label
from pebuild.outputs import MARKER as TREE_MARKER
from pebuild.outputs import Output, Transaction, plan_outputs
from pebuild.progress import Progress, ProgressEvent

#: the ISO 9660 side of an oscdimg -u2 disc (formats.md 4.1, observed 135 bytes)
UDF_ONLY_README = (
    b'This disc contains a "UDF" file system and requires an operating system\r\n'
    b'that supports the ISO-13346 "UDF" file system specification.\r\n'
)
APP_IDENT = f"PEBUILD {__version__}"
COPY_BLOCK = 1 << 20
NOTIFY_STEP = 4 << 20
#: names the catalog has while it is built; it is then unlinked from every view
CATALOG_ISO, CATALOG_LONG = "/PEBUILD_BOOT.CAT;1", "/pebuild-boot.catalog"
JOLIET_LABEL_MAX = 16  # 32 bytes of UCS-2
UDF_SHORT_LABEL_MAX = 30  # dstring[32] with 8-bit OSTA compression


class _Views:
    """The paths one media entry gets in each file system view (None = absent there)."""

    def __init__(self, iso: str | None, joliet: str | None, udf: str | None) -> None:
        self.iso, self.joliet, self.udf = iso, joliet, udf

    def kwargs(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (("iso_path", self.iso), ("joliet_path", self.joliet), ("udf_path", self.udf))
            if v
        }


def write_iso(req: IsoRequest, progress: Progress | None = None, *, into: Path | None = None) -> IsoResult:
    """Write `req.output`; nothing appears there unless the whole ISO was written.

    The path is checked and locked first (pebuild.outputs: not inside the media
    tree, not a directory, ...). `into`: write the ISO there instead and leave
    publishing to the caller, who staged it (`pebuild make`).
    """
    if into is None:
        return _write_published(req, progress)
    label = validate_label(req.label)
    if req.udf_only and not req.udf:
        raise UsageError("a UDF-only disc (oscdimg -u2) cannot be written with UDF turned off")
    bios = Path(req.bios_boot) if req.bios_boot else None
    uefi = Path(req.uefi_boot) if req.uefi_boot else None
    if bios is not None:
        check_boot_file(bios, "BIOS")
    uefi_size = check_uefi_image(uefi) if uefi else 0
    if not (0 < req.bios_sector_count <= 0xFFFF):
        raise UsageError(f"BIOS boot sector count must be 1-65535, got {req.bios_sector_count}")
    if not (0 <= req.bios_load_segment <= 0xFFFF):
        raise UsageError(f"BIOS load segment must be 0-0xFFFF, got {req.bios_load_segment:#x}")
    tree = scan_media(Path(req.media_dir))
    _check_output(into)
    # the ownership marker of a tree pebuild published is not part of the media
    tree.files = [f for f in tree.files if f.rel != TREE_MARKER]
    epoch = build_time(req.timestamp)
    with pinned_clock(epoch, f"{label}\x1f{epoch}"):
        iso = _build(req, tree, label, bios, uefi, uefi_size)
        return _master(iso, into, progress)


def _write_published(req: IsoRequest, progress: Progress | None) -> IsoResult:
    inputs = [p for p in (req.media_dir, req.bios_boot, req.uefi_boot) if p is not None]
    plan = plan_outputs([Output("iso", Path(req.output))], inputs=inputs)
    with Transaction(plan, req.outputs) as tx:
        staged = write_iso(req, progress, into=tx.path("iso"))
        tx.publish()
    return IsoResult(path=Path(req.output), size=staged.size, sha256=staged.sha256)


def _check_output(output: Path) -> None:
    if output.is_dir():
        raise OutputError("output is a directory", path=output)
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("cannot write output: directory does not exist", path=parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError("cannot write output: directory is not writable", path=parent)


def _build(
    req: IsoRequest, tree: Any, label: str, bios: Path | None, uefi: Path | None, uefi_size: int
) -> OrderedPyCdlib:
    iso = OrderedPyCdlib()
    joliet = req.joliet and not req.udf_only
    try:
        iso.new(
            interchange_level=3,
            vol_ident=label[:JOLIET_LABEL_MAX] if joliet else label,
            sys_ident="",
            app_ident_str=APP_IDENT,
            joliet=3 if joliet else None,
            udf="2.60" if req.udf else None,
        )
        _set_labels(iso, label, req.udf)
        names = NameMap()
        root = tree.root.resolve()
        boot_rels = {_rel_inside(p, root) for p in (bios, uefi) if p is not None} - {None}
        hide_inside = req.hide_boot_images is True

        def views(rel: str, is_dir: bool) -> _Views:
            if req.udf_only:
                return _Views(None, None, udf_path(rel))
            iso_path = names.iso_path(rel, is_dir)
            return _Views(
                iso_path, names.joliet_path(rel) if joliet else None, udf_path(rel) if req.udf else None
            )

        for rel in tree.dirs:
            v = views(rel, True)
            if any(v.kwargs().values()):
                iso.add_directory(**v.kwargs())
        placed: dict[str, _Views] = {}
        seen: dict[tuple[int, str], _Views] = {}
        for mf in tree.files:
            if mf.rel in boot_rels and hide_inside:
                continue
            v = views(mf.rel, False)
            if not v.kwargs():
                raise FormatError(
                    f"{mf.rel!r} is deeper than the 8 directory levels of ISO 9660; keep Joliet or UDF on",
                    path=req.media_dir,
                )
            placed[mf.rel] = v
            _add_file(iso, mf, v, seen if req.dedupe else None)
        if req.udf_only:
            iso.add_fp(_bytes_fp(UDF_ONLY_README), len(UDF_ONLY_README), iso_path="/README.TXT;1")
        _add_boot(iso, req, (bios, uefi, uefi_size), root, placed, views, joliet)
        _set_file_order(iso, req.file_order, placed)
    except (PyCdlibException, UnicodeError) as exc:
        raise FormatError(f"cannot lay out the ISO: {exc}", path=req.media_dir) from None
    return iso


def _set_labels(iso: OrderedPyCdlib, label: str, udf: bool) -> None:
    """The label in every descriptor: ISO PVD (32), Joliet SVD (16 UCS-2), UDF PVD/LVD/IUVD/FSD."""
    padded = label.encode("ascii").ljust(32, b" ")
    for pvd in iso.pvds:
        pvd.volume_identifier = padded
    if not udf:
        return
    pad = pycdlib.udf._ostaunicode_zero_pad
    short = label[:UDF_SHORT_LABEL_MAX]
    for descs in (iso.udf_main_descs, iso.udf_reserve_descs):
        for pvd in descs.pvds:
            pvd.vol_ident = pad(short, 32)
        for lvd in descs.logical_volumes:
            lvd.logical_vol_ident = pad(label, 128)
        for impl in descs.impl_use:
            impl.impl_use.log_vol_ident = pad(label, 128)
    iso.udf_file_set.log_vol_ident = pad(label, 128)
    iso.udf_file_set.file_set_ident = pad(short, 32)


def _add_file(
    iso: OrderedPyCdlib, mf: MediaFile, v: _Views, seen: dict[tuple[int, str], _Views] | None
) -> None:
    if seen is not None and mf.size > 0:
        key = (mf.size, _md5(mf.path))
        first = seen.get(key)
        if first is not None:
            old = _old_path_kwargs(first)
            for new_key, new in (
                ("iso_new_path", v.iso),
                ("joliet_new_path", v.joliet),
                ("udf_new_path", v.udf),
            ):
                if new:
                    iso.add_hard_link(**old, **{new_key: new})
            return
        seen[key] = v
    iso.add_file(str(mf.path), **v.kwargs())


def _old_path_kwargs(v: _Views) -> dict[str, str]:
    if v.iso:
        return {"iso_old_path": v.iso}
    if v.joliet:
        return {"joliet_old_path": v.joliet}
    assert v.udf
    return {"udf_old_path": v.udf}


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_BLOCK):
            h.update(chunk)
    return h.hexdigest()


def _rel_inside(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def _add_boot(
    iso: OrderedPyCdlib,
    req: IsoRequest,
    boot: tuple[Path | None, Path | None, int],
    root: Path,
    placed: dict[str, _Views],
    views: Any,
    joliet: bool,
) -> None:
    """Catalog entries in oscdimg's order: BIOS default entry, then the final 0xEF section."""
    bios, uefi, uefi_size = boot
    entries: list[tuple[Path, dict[str, Any], str]] = []
    if bios is not None:
        opts = {
            "platform_id": 0,
            "boot_load_seg": req.bios_load_segment,
            "boot_load_size": req.bios_sector_count,
        }
        entries.append((bios, opts, "/PEBIOS.IMG;1"))
    if uefi is not None:
        count = req.uefi_sector_count
        if count is None:
            count = (uefi_size + 511) // 512
            count = count if count <= 0xFFFF else 1  # 1 = to the end of the disc (UEFI 13.3.2.1)
        entries.append((uefi, {"platform_id": 0xEF, "efi": True, "boot_load_size": count}, "/PEUEFI.IMG;1"))
    hidden: list[str] = []
    for index, (path, opts, hidden_path) in enumerate(entries):
        rel = _rel_inside(path, root)
        v = placed.get(rel) if rel is not None else None
        if v is not None and v.iso:
            iso_path = v.iso  # visible in the tree where it is
        elif v is None and rel is None and req.hide_boot_images is False and not req.udf_only:
            shown = views(path.name, False)  # from outside, shown at the root
            iso_path = shown.iso or hidden_path
            iso.add_file(str(path), **{**shown.kwargs(), "iso_path": iso_path})
            if not shown.iso:
                hidden.append(iso_path)
        elif v is not None:  # in the tree but not in ISO 9660 (-u2): link its data, add nothing
            iso_path = hidden_path
            iso.add_hard_link(**_old_path_kwargs(v), iso_new_path=iso_path)
            hidden.append(iso_path)
        else:
            iso_path = hidden_path
            iso.add_file(str(path), iso_path=iso_path)
            hidden.append(iso_path)
        cat: dict[str, str] = {}
        if index == 0:
            cat["bootcatfile"] = CATALOG_ISO
            if joliet:
                cat["joliet_bootcatfile"] = CATALOG_LONG
            if req.udf:
                cat["udf_bootcatfile"] = CATALOG_LONG
        iso.add_eltorito(iso_path, media_name="noemul", **cat, **opts)
    for iso_path in hidden:
        iso.rm_hard_link(iso_path=iso_path)
    if entries:
        _hide_catalog(iso, joliet, req.udf)


def _hide_catalog(iso: OrderedPyCdlib, joliet: bool, udf: bool) -> None:
    """oscdimg does not show the boot catalog as a file; neither do we."""
    iso.rm_hard_link(iso_path=CATALOG_ISO)
    if joliet:
        iso.rm_hard_link(joliet_path=CATALOG_LONG)
    if udf:
        iso.rm_hard_link(udf_path=CATALOG_LONG)


def _set_file_order(iso: OrderedPyCdlib, order: list[str] | None, placed: dict[str, _Views]) -> None:
    """oscdimg -yo: listed files first, in list order (paths relative to media_dir, any case)."""
    if not order:
        return
    by_key = {rel.casefold(): rel for rel in placed}
    prio: dict[int, int] = {}
    for n, entry in enumerate(order):
        rel = by_key.get(entry.replace("\\", "/").strip("/").casefold())
        if rel is None:
            continue
        v = placed[rel]
        rec = _find_record(iso, v)
        if rec is not None and rec.inode is not None:
            prio.setdefault(id(rec.inode), n)
    iso.pebuild_priority = prio
    iso._needs_reshuffle = True  # lay out again with the priorities at write time


def _find_record(iso: OrderedPyCdlib, v: _Views) -> Any:
    if v.iso:
        return iso.get_record(iso_path=v.iso)
    if v.joliet:
        return iso.get_record(joliet_path=v.joliet)
    return iso.get_record(udf_path=v.udf)


def _master(iso: OrderedPyCdlib, output: Path, progress: Progress | None) -> IsoResult:
    try:
        with atomic_output(output) as fh:
            iso.write_fp(fh, blocksize=COPY_BLOCK)  # metadata; file data is deferred
            fh.flush()
            size = os.fstat(fh.fileno()).st_size
            digest = _copy_and_hash(fh.fileno(), size, iso, progress)
    except PyCdlibException as exc:
        raise FormatError(f"cannot write the ISO: {exc}", path=output) from None
    finally:
        iso.close()
    return IsoResult(path=output, size=size, sha256=digest)


def _copy_and_hash(fd: int, size: int, iso: OrderedPyCdlib, progress: Progress | None) -> str:
    """Copy the file data in offset order while a thread hashes every byte that is final.

    Everything outside the deferred file extents is final once write_fp returns,
    so the hash can follow the copy: offsets below `ready` never change again.
    The fsync that atomic_output needs starts as soon as the copy is done.
    """
    tasks = [iso.pebuild_deferred[k] for k in sorted(iso.pebuild_deferred)]
    total = sum(t.length for t in tasks)
    follower = _HashFollower(fd, size)
    follower.start()
    syncer = threading.Thread(target=_fsync_quietly, args=(fd,), daemon=True)
    try:
        follower.publish(tasks[0].start if tasks else size)
        copied = 0
        for task in tasks:
            copy_deferred(fd, task, follower.publish)
            copied += task.length
            if progress is not None:
                progress(ProgressEvent("iso", copied, total))
        follower.publish(size)
        syncer.start()
        return follower.result()
    finally:
        follower.publish(size, abort=True)
        follower.join()
        if syncer.is_alive():
            syncer.join()


class _HashFollower(threading.Thread):
    """SHA-256 of the ISO, read back from the page cache up to the last published offset."""

    def __init__(self, fd: int, size: int) -> None:
        super().__init__(daemon=True)
        self._fd, self._size = fd, size
        self._cond = threading.Condition()
        self._ready = 0
        self._notified = 0
        self._abort = False
        self._digest: str | None = None
        self._error: BaseException | None = None

    def publish(self, offset: int, abort: bool = False) -> None:
        """Mark bytes below `offset` final; wake the hasher only every few MiB (small files)."""
        if not abort and offset < self._size and offset - self._notified < NOTIFY_STEP:
            self._ready = max(self._ready, offset)  # read under the lock by the hasher when it wakes
            return
        with self._cond:
            self._ready = max(self._ready, offset)
            self._abort = self._abort or abort
            self._notified = self._ready
            self._cond.notify()

    def run(self) -> None:
        h = hashlib.sha256()
        offset = 0
        try:
            while offset < self._size:
                with self._cond:
                    while self._ready <= offset and not self._abort:
                        self._cond.wait()
                    if self._abort:
                        return
                    limit = self._ready
                while offset < limit:
                    chunk = os.pread(self._fd, min(4 * COPY_BLOCK, limit - offset), offset)
                    if not chunk:
                        raise OSError(f"short read at {offset} of the ISO being hashed")
                    h.update(chunk)
                    offset += len(chunk)
            self._digest = h.hexdigest()
        except BaseException as exc:  # handed to the writer thread by result()
            self._error = exc

    def result(self) -> str:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest


def _fsync_quietly(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        pass  # atomic_output's own fsync reports the error


def _bytes_fp(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
