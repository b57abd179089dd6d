"""`Wim`: an open WIM file — pebuild's WIM engine on top of libwim.

Reproducible writes. libwim stamps a random GUID on every new WIM and, for
every image it had to re-scan, writes `now` into the XML's
LASTMODIFICATIONTIME (xml_update_image_info(), called from write_wim_part()
for images whose stats are outdated) — after any property we set. So a pinned
write (`guid=` / `timestamp=`) goes in two steps on a temporary file beside
the target: (1) wimlib_write() with WIMLIB_WRITE_FLAG_RETAIN_GUID after
wimlib_set_wim_info(WIMLIB_CHANGE_GUID); (2) reopen the temporary file (stats
are now current, so nothing is restamped), set CREATIONTIME and
LASTMODIFICATIONTIME, and wimlib_overwrite() it: only the XML changes, and
it keeps its length, so libwim rewrites it in place. Then fsync and rename.
Directories libwim would invent for an add command's missing parents (stamped
`now`) are added explicitly with the build time instead (clock.build_time).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pebuild import interrupts
from pebuild.errors import FormatError, OutputError, PebuildError, SourceError, UsageError
from pebuild.fsutil import normalize_image_path
from pebuild.progress import Progress
from pebuild.wim import _libwim as L
from pebuild.wim._progress import _ProgressBridge
from pebuild.wim.config import CaptureConfig
from pebuild.wim.model import (
    Compression,
    ImageEntry,
    ImageInfo,
    UpdateCommand,
    WimInfo,
)
from pebuild.wim.tree import list_entries
from pebuild.wim.update import command_array, plan_with_parents, wim_path
from pebuild.wim.writer import _guid_bytes, _pins, _write_pinned, compression_level

if TYPE_CHECKING:
    import uuid

# clock (uuid, platform), tempfile and shutil are imported where used: `pebuild info` and
# `pebuild commit` start faster without them.

_ARCH = {"0": "x86", "9": "amd64", "6": "ia64", "12": "arm64", "5": "arm"}


def libwim_version() -> str:
    """The loaded libwim's version string (e.g. '1.13.6'); ToolError when libwim is missing."""
    raw = L.lib().wimlib_get_version_string()
    return raw.decode() if raw else ".".join(map(str, L.version_tuple(L.lib().wimlib_get_version())))


_wim_path = wim_path


class Wim:
    """An open WIM. Read-only unless opened with write=True; use as a context manager.

    Changes (update, properties, boot index) stay in memory until `overwrite()`
    (in place) or `write()` (a new file).
    """

    def __init__(self, handle: int, path: str | None, bridge: _ProgressBridge, writable: bool) -> None:
        self._handle = ctypes.c_void_p(handle)
        self.path = path
        self._bridge = bridge
        self._writable = writable
        self._tmp: Path | None = None
        self._images_changed = False  # an update or a new image since open

    # ---------------------------------------------------------------- life cycle

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, write: bool = False, check: bool = False) -> Wim:
        """Open a WIM file (check: verify the integrity table, if there is one)."""
        p = os.fspath(path)
        if not os.path.exists(p):
            raise UsageError("no such WIM file", path=p)
        if os.path.isdir(p):
            raise UsageError("is a directory, not a WIM file", path=p)
        try:
            with open(p, "rb") as fh:
                magic = fh.read(8)
        except OSError as exc:
            raise UsageError(f"cannot read WIM: {exc.strerror}", path=p) from None
        if magic not in (b"MSWIM\0\0\0", b"WLPWM\0\0\0"):
            raise FormatError("not a WIM file (no MSWIM signature)", path=p)
        flags = L.WIMLIB_OPEN_FLAG_WRITE_ACCESS if write else 0
        if check:
            flags |= L.WIMLIB_OPEN_FLAG_CHECK_INTEGRITY
        bridge = _ProgressBridge()
        handle = L.WIMStruct_p()
        cfunc = bridge.cfunc if check else L.wimlib_progress_func_t()  # only integrity checks report
        try:
            with interrupts.deferred():
                code = L.lib().wimlib_open_wim_with_progress(
                    L.encode(p), flags, ctypes.byref(handle), cfunc, None
                )
                bridge.reraise()
        except BaseException:
            if handle.value:
                L.lib().wimlib_free(handle)
            raise
        if code == L.WIMLIB_ERR_READ and os.path.getsize(p) < 208:
            code = L.WIMLIB_ERR_UNEXPECTED_END_OF_FILE  # shorter than a WIM header: truncated
        L.check(code, "cannot open WIM", p, default=FormatError)
        return cls(handle.value or 0, p, bridge, write)

    @classmethod
    def create(cls, compression: Compression | str = Compression.LZX) -> Wim:
        """A new, empty in-memory WIM (add images with capture-like calls, then write())."""
        bridge = _ProgressBridge()
        handle = L.WIMStruct_p()
        L.check(
            L.lib().wimlib_create_new_wim(Compression.parse(compression).wimlib_type, ctypes.byref(handle)),
            "cannot create WIM",
        )
        return cls(handle.value or 0, None, bridge, True)

    def close(self) -> None:
        if self._handle.value:
            L.lib().wimlib_free(self._handle)
            self._handle = ctypes.c_void_p(0)
        if self._tmp is not None:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Wim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - safety net
        with contextlib.suppress(Exception):
            self.close()

    @property
    def handle(self) -> ctypes.c_void_p:
        if not self._handle.value:
            raise PebuildError("WIM is closed", path=self.path)
        return self._handle

    def _call(
        self,
        what: str,
        fn: Callable[..., int],
        *args: Any,
        progress: Progress | None = None,
        path: str | None = None,
        default: type[PebuildError] = FormatError,
    ) -> None:
        # The callback is registered even without `progress`: it is how Ctrl-C stops libwim
        # cleanly (pebuild.wim._progress). SIGINT/SIGTERM wait for it, never hit a C frame.
        L.lib().wimlib_register_progress_function(self.handle, self._bridge.cfunc, None)
        with interrupts.deferred(), self._bridge.active(progress):
            code = fn(*args)
            self._bridge.reraise()
        L.check(code, what, path or self.path, default=default)

    # ---------------------------------------------------------------- reading

    @property
    def info(self) -> WimInfo:
        raw = L.wimlib_wim_info()
        L.check(
            L.lib().wimlib_get_wim_info(self.handle, ctypes.byref(raw)), "cannot read WIM info", self.path
        )
        return WimInfo(
            path=self.path or "",
            guid=bytes(raw.guid),
            image_count=raw.image_count,
            boot_index=raw.boot_index,
            compression=Compression.from_wimlib(raw.compression_type),
            chunk_size=raw.chunk_size,
            part_number=raw.part_number,
            total_parts=raw.total_parts,
            wim_version=raw.wim_version,
            total_bytes=raw.total_bytes,
            has_integrity_table=raw.flag(L.WIM_INFO_HAS_INTEGRITY_TABLE),
            is_readonly=raw.flag(L.WIM_INFO_IS_READONLY),
            pipable=raw.flag(L.WIM_INFO_PIPABLE),
            write_in_progress=raw.flag(L.WIM_INFO_WRITE_IN_PROGRESS),
        )

    def image_property(self, index: int, name: str) -> str | None:
        """An XML property of an image by path ('NAME', 'WINDOWS/VERSION/BUILD', ...)."""
        self._check_index(index)
        return L.decode(L.lib().wimlib_get_image_property(self.handle, index, name.encode()))

    def _filetime_property(self, index: int, name: str) -> int | None:
        high = self.image_property(index, f"{name}/HIGHPART")
        low = self.image_property(index, f"{name}/LOWPART")
        if high is None or low is None:
            return None
        try:
            from pebuild import clock

            return int(clock.from_filetime(int(high, 16) << 32 | int(low, 16)))
        except ValueError:
            return None

    @property
    def images(self) -> list[ImageInfo]:
        info = self.info
        result = []
        for index in range(1, info.image_count + 1):

            def num(name: str, index: int = index) -> int:
                value = self.image_property(index, name)
                try:
                    return int(value) if value else 0
                except ValueError:
                    return 0

            arch = self.image_property(index, "WINDOWS/ARCH")
            result.append(
                ImageInfo(
                    index=index,
                    name=self.image_property(index, "NAME") or "",
                    description=self.image_property(index, "DESCRIPTION"),
                    flags=self.image_property(index, "FLAGS"),
                    display_name=self.image_property(index, "DISPLAYNAME"),
                    display_description=self.image_property(index, "DISPLAYDESCRIPTION"),
                    dir_count=num("DIRCOUNT"),
                    file_count=num("FILECOUNT"),
                    total_bytes=num("TOTALBYTES"),
                    hard_link_bytes=num("HARDLINKBYTES"),
                    creation_time=self._filetime_property(index, "CREATIONTIME"),
                    last_modification_time=self._filetime_property(index, "LASTMODIFICATIONTIME"),
                    arch=_ARCH.get(arch, arch) if arch is not None else None,
                    is_boot=index == info.boot_index,
                )
            )
        return result

    def image_index(self, name_or_index: int | str) -> int:
        """Resolve an image number or name to its 1-based index."""
        count = self.info.image_count
        if isinstance(name_or_index, int) or str(name_or_index).strip().isdigit():
            index = int(name_or_index)
            if not 1 <= index <= count:
                raise UsageError(
                    f"image index {index} is out of range (the WIM has {count} image(s))", path=self.path
                )
            return index
        name = str(name_or_index)
        for index in range(1, count + 1):
            if (self.image_property(index, "NAME") or "") == name:
                return index
        raise SourceError(f"no image named {name!r} (the WIM has {count} image(s))", path=self.path)

    def _check_index(self, index: int) -> None:
        count = self.info.image_count
        if not isinstance(index, int) or not 1 <= index <= count:
            raise UsageError(
                f"image index {index} is out of range (the WIM has {count} image(s))", path=self.path
            )

    @property
    def xml(self) -> str:
        buf = ctypes.c_void_p()
        size = ctypes.c_size_t()
        L.check(
            L.lib().wimlib_get_xml_data(self.handle, ctypes.byref(buf), ctypes.byref(size)),
            "cannot read XML data",
            self.path,
            default=FormatError,
        )
        try:
            data = ctypes.string_at(buf.value or 0, size.value)
        finally:
            L.c_free(buf.value or 0)
        return data.decode("utf-16-le", "replace").lstrip("\ufeff")

    def entries(self, index: int, path: str = "", *, recursive: bool = True) -> list[ImageEntry]:
        """Files and directories at and below `path` in an image, with their Windows metadata."""
        self._check_index(index)
        return list_entries(self.handle, self.path, index, path, recursive=recursive)

    def exists(self, index: int, path: str) -> bool:
        try:
            self.entries(index, path, recursive=False)
        except SourceError:
            return False
        return True

    def extract(
        self,
        index: int,
        paths: Iterable[str],
        dest: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> None:
        """Extract image paths under `dest`, keeping their directories ('a/b/c' -> dest/a/b/c)."""
        self._check_index(index)
        wanted = [_wim_path(p) for p in paths]
        if not wanted:
            return
        dest_s = os.fspath(dest)
        os.makedirs(dest_s, exist_ok=True)
        arr = (ctypes.c_char_p * len(wanted))(*wanted)
        self._call(
            f"cannot extract from image {index}",
            L.lib().wimlib_extract_paths,
            self.handle,
            index,
            L.encode(dest_s),
            arr,
            len(wanted),
            0,
            progress=progress,
        )

    def extract_image(
        self, index: int, dest: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> None:
        """Apply a whole image into the directory `dest` (created when missing)."""
        self._check_index(index)
        dest_s = os.fspath(dest)
        os.makedirs(dest_s, exist_ok=True)
        self._call(
            f"cannot extract image {index}",
            L.lib().wimlib_extract_image,
            self.handle,
            index,
            L.encode(dest_s),
            0,
            progress=progress,
        )

    def read_file(self, index: int, path: str) -> bytes:
        """The content of one (small) file in an image."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="pebuild-wim-") as tmp:
            self.extract(index, [path], tmp)
            local = Path(tmp, normalize_image_path(path))
            if local.is_dir():
                raise UsageError(f"{path!r} is a directory in image {index}", path=self.path)
            if not local.is_file():
                # libwim looks paths up without case; the extracted name keeps the image's case.
                hits = [p for p in Path(tmp).rglob("*") if p.is_file()]
                if len(hits) != 1:
                    raise SourceError(f"no file {path!r} in image {index}", path=self.path)
                local = hits[0]
            return local.read_bytes()

    def verify(self, *, progress: Progress | None = None) -> None:
        """Check every image's metadata and every blob's SHA-1 (wimlib_verify_wim)."""
        self._call("WIM does not verify", L.lib().wimlib_verify_wim, self.handle, 0, progress=progress)

    # ---------------------------------------------------------------- changing

    def _tempdir(self) -> Path:
        if self._tmp is None:
            import tempfile

            self._tmp = Path(tempfile.mkdtemp(prefix="pebuild-wim-"))
        return self._tmp

    def _stamped_empty_dir(self, timestamp: int) -> Path:
        # One directory per use: libwim's scan reads it, which can move its atime (relatime).
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="dir-", dir=self._tempdir()))
        os.utime(d, (timestamp, timestamp))
        return d

    def update(
        self,
        index: int,
        commands: Iterable[UpdateCommand],
        *,
        progress: Progress | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Apply add/delete/rename commands to an image as ONE wimlib_update_image() (atomic).

        Parent directories an add needs that the image lacks are created with
        the build time (clock.build_time(timestamp)), not libwim's `now`.
        """
        self._check_index(index)
        cmds = list(commands)
        if not cmds:
            return
        stamps: list[int] = []

        def stamp() -> int:  # the build time, read only when a command needs it
            if not stamps:
                from pebuild import clock

                stamps.append(clock.build_time(timestamp))
            return stamps[0]

        keep: list[bytes] = []  # owns the strings until libwim returns
        plan = plan_with_parents(
            cmds, lambda p: self.exists(index, p), lambda: self._stamped_empty_dir(stamp())
        )
        arr = command_array(plan, keep, self._tempdir, stamp)
        self._call(
            f"cannot update image {index}",
            L.lib().wimlib_update_image,
            self.handle,
            index,
            arr,
            len(plan),
            L.WIMLIB_UPDATE_FLAG_SEND_PROGRESS,
            progress=progress,
            default=UsageError,
        )
        self._images_changed = True

    def set_image_property(self, index: int, name: str, value: str | None) -> None:
        self._check_index(index)
        raw = None if value is None else value.encode("utf-8")
        L.check(
            L.lib().wimlib_set_image_property(self.handle, index, name.encode(), raw),
            f"cannot set {name} of image {index}",
            self.path,
            default=UsageError,
        )

    def set_image_properties(
        self,
        index: int,
        *,
        name: str | None = None,
        description: str | None = None,
        flags: str | None = None,
        display_name: str | None = None,
        display_description: str | None = None,
    ) -> None:
        """Set image XML properties; None leaves a property unchanged."""
        if name is not None:
            if not name:
                raise UsageError("an image name must not be empty")
            for other in range(1, self.info.image_count + 1):
                if other != index and self.image_property(other, "NAME") == name:
                    raise UsageError(f"image {other} is already named {name!r}", path=self.path)
        for prop, value in (
            ("NAME", name),
            ("DESCRIPTION", description),
            ("FLAGS", flags),
            ("DISPLAYNAME", display_name),
            ("DISPLAYDESCRIPTION", display_description),
        ):
            if value is not None:
                self.set_image_property(index, prop, value)

    def set_times(self, index: int, timestamp: int, *, creation: bool = True) -> None:
        """Pin an image's XML CREATIONTIME / LASTMODIFICATIONTIME (FILETIME hex parts)."""
        from pebuild import clock

        ft = clock.to_filetime(timestamp)
        names = ("CREATIONTIME", "LASTMODIFICATIONTIME") if creation else ("LASTMODIFICATIONTIME",)
        for prop in names:
            self.set_image_property(index, f"{prop}/HIGHPART", f"0x{ft >> 32:08X}")
            self.set_image_property(index, f"{prop}/LOWPART", f"0x{ft & 0xFFFFFFFF:08X}")

    def set_boot_index(self, index: int) -> None:
        """Mark image `index` bootable (0: none)."""
        if index != 0:
            self._check_index(index)
        raw = L.wimlib_wim_info()
        raw.boot_index = index
        L.check(
            L.lib().wimlib_set_wim_info(self.handle, ctypes.byref(raw), L.WIMLIB_CHANGE_BOOT_INDEX),
            "cannot set the boot index",
            self.path,
            default=UsageError,
        )

    def set_guid(self, guid: bytes | uuid.UUID) -> None:
        raw = L.wimlib_wim_info()
        raw.guid[:] = list(_guid_bytes(guid))
        L.check(
            L.lib().wimlib_set_wim_info(self.handle, ctypes.byref(raw), L.WIMLIB_CHANGE_GUID),
            "cannot set the WIM GUID",
            self.path,
            default=UsageError,
        )

    # ---------------------------------------------------------------- writing

    def overwrite(
        self,
        *,
        rebuild: bool = False,
        check: bool = False,
        timestamp: int | None = None,
        progress: Progress | None = None,
        threads: int = 0,
        unsafe_xml_in_place: bool = False,
        compress_level: int | None = None,
    ) -> None:
        """Write changes into the WIM itself.

        Default: append mode — new data and metadata go after the old, the
        header last, so an interruption leaves the old WIM intact. rebuild:
        wimlib writes a temporary file and renames it over the WIM.
        timestamp: pin LASTMODIFICATIONTIME of modified images (a second,
        rebuilding pass; costs a copy of the WIM).
        unsafe_xml_in_place: when no image changed, let libwim rewrite the XML
        in place instead of rebuilding the whole file. Only for a private copy
        nobody else needs (the builder's): an interruption can break that file.
        compress_level: libwim's level (1-1000) for what this write compresses (new data,
        metadata); None: 50. Commits pass 20: LZX at 50 on the metadata is most of their time.
        """
        if not self._writable or self.path is None:
            raise UsageError("WIM was not opened for writing", path=self.path)
        # With no image changed, libwim would rewrite the XML *in place* (its documented unsafe
        # case); a rebuild (temporary file + rename) keeps property-only changes crash-safe too.
        in_place_ok = self._images_changed or unsafe_xml_in_place
        flags = L.WIMLIB_WRITE_FLAG_REBUILD if rebuild or not in_place_ok else 0
        flags |= L.WIMLIB_WRITE_FLAG_CHECK_INTEGRITY if check else 0
        with compression_level(compress_level):  # process-global: set only around this write
            self._call(
                "cannot write WIM",
                L.lib().wimlib_overwrite,
                self.handle,
                flags,
                threads,
                progress=progress,
                default=OutputError,
            )
        if timestamp is not None:
            count = self.info.image_count
            with Wim.open(self.path, write=True) as again, compression_level(compress_level):
                for index in range(1, count + 1):
                    again.set_times(index, timestamp, creation=False)
                again._call(
                    "cannot write WIM",
                    L.lib().wimlib_overwrite,
                    again.handle,
                    L.WIMLIB_WRITE_FLAG_REBUILD | (flags & L.WIMLIB_WRITE_FLAG_CHECK_INTEGRITY),
                    threads,
                    default=OutputError,
                )

    def write(
        self,
        new_path: str | os.PathLike[str],
        index: int | None = None,
        compression: Compression | str = Compression.LZX,
        boot: bool = False,
        check: bool = False,
        guid: bytes | uuid.UUID | None = None,
        timestamp: int | None = None,
        *,
        progress: Progress | None = None,
        threads: int = 0,
    ) -> None:
        """Write all images (index=None) or one image to a new WIM, atomically.

        boot: mark the written image bootable (index=None: keep the boot
        index, or image 1 when none is set). guid + timestamp pin the bytes:
        the same inputs give a byte-identical file. With SOURCE_DATE_EPOCH set
        and no guid/timestamp, both are derived from it.
        """
        target = Path(new_path)
        ctype = Compression.parse(compression)
        if index is not None:
            self._check_index(index)
        guid, timestamp = _pins(guid, timestamp, target)
        if index is None:
            src = self
            L.check(
                L.lib().wimlib_set_output_compression_type(self.handle, ctype.wimlib_type),
                "cannot set compression",
                self.path,
                default=UsageError,
            )
            if boot and not self.info.boot_index:
                self.set_boot_index(1)
            _write_pinned(src, target, L.WIMLIB_ALL_IMAGES, check, guid, timestamp, progress, threads)
        else:
            with Wim.create(ctype) as dest:
                export_flags = L.WIMLIB_EXPORT_FLAG_BOOT if boot else 0
                L.check(
                    L.lib().wimlib_export_image(self.handle, index, dest.handle, None, None, export_flags),
                    f"cannot export image {index}",
                    self.path,
                    default=FormatError,
                )
                _write_pinned(dest, target, L.WIMLIB_ALL_IMAGES, check, guid, timestamp, progress, threads)

    def optimize(
        self, *, recompress: bool = False, check: bool = False, progress: Progress | None = None
    ) -> None:
        """Rebuild the WIM without unused space (wimoptimize)."""
        if not self._writable:
            raise UsageError("WIM was not opened for writing", path=self.path)
        flags = L.WIMLIB_WRITE_FLAG_REBUILD | (L.WIMLIB_WRITE_FLAG_RECOMPRESS if recompress else 0)
        flags |= L.WIMLIB_WRITE_FLAG_CHECK_INTEGRITY if check else 0
        self._call(
            "cannot optimize WIM",
            L.lib().wimlib_overwrite,
            self.handle,
            flags,
            0,
            progress=progress,
            default=OutputError,
        )

    def add_image(
        self,
        src_dir: str | os.PathLike[str],
        name: str,
        *,
        config: CaptureConfig | None = None,
        boot: bool = False,
        progress: Progress | None = None,
    ) -> int:
        """Capture a directory as a new image in memory; returns its index."""
        src = os.fspath(src_dir)
        if not os.path.isdir(src):
            raise UsageError("capture source is not a directory", path=src)
        if not name:
            raise UsageError("an image needs a name (--name)")
        if L.lib().wimlib_image_name_in_use(self.handle, name.encode("utf-8")):
            raise UsageError(f"an image named {name!r} already exists", path=self.path)
        cfg_path = None
        if config is not None:
            cfg_path = self._tempdir() / "capture-config.ini"
            cfg_path.write_text(config.to_ini(libwim_only=True) or "[ExclusionList]\n", encoding="utf-8")
        flags = L.WIMLIB_ADD_FLAG_BOOT if boot else 0
        self._call(
            "cannot capture directory",
            L.lib().wimlib_add_image,
            self.handle,
            L.encode(src),
            name.encode("utf-8"),
            None if cfg_path is None else L.encode(cfg_path),
            flags,
            progress=progress,
            path=src,
            default=UsageError,
        )
        self._images_changed = True
        return self.info.image_count
