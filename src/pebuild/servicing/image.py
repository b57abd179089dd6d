"""An offline Windows image to service: a mount directory, one image of a WIM, or the boot.wim of a
media or copype tree — read, changed and committed the same way for `pebuild driver`.

* a directory holding `Windows/System32` (a `pebuild mount` directory or any applied image):
  files are written in place (each atomically); `pebuild commit` later writes them into the WIM.
  A read-only mount is refused.
* a WIM file (`--index`, else its only image or its boot image), a media tree
  (`sources/boot.wim`) or a copype tree (`media/sources/boot.wim`): ONE libwim update + an
  append-mode overwrite, header last (an interrupted write leaves the old WIM readable).

Paths are image paths ('Windows/System32/startnet.cmd'), matched without case as Windows does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from pebuild.errors import StateError, UsageError
from pebuild.fsutil import find_case_insensitive, write_bytes_atomic

WIM_MAGIC = b"MSWIM\x00\x00\x00"
#: system programs whose machine type says the image's arch (WIM XML ARCH is often missing or wrong)
ARCH_PROBES = (
    "Windows/System32/drvload.exe",
    "Windows/System32/wpeinit.exe",
    "Windows/System32/cmd.exe",
    "Windows/System32/ntoskrnl.exe",
    "Windows/System32/winload.exe",
    "Windows/System32/boot/winload.exe",
)


class ServicedImage:
    """Read an image, queue adds and deletes, `commit()` them at once; `arch` from its programs."""

    def __init__(self, spec: str | os.PathLike[str], *, index: int | None = None, write: bool = True) -> None:
        self.kind, self.path, self.wim_path = _locate(Path(spec))
        self.index = 0
        self._wim: Any = None
        self._tmp = tempfile.TemporaryDirectory(prefix="pebuild-drv-")
        self.adds: dict[str, bytes | Path] = {}
        self.deletes: list[str] = []
        if self.kind == "wim":
            from pebuild.wim import Wim

            self._wim = Wim.open(self.wim_path, write=write)
            self.index = self._pick_index(index)
        elif index is not None:
            raise UsageError(f"--index applies to a WIM, not to the directory {self.path}")

    def describe(self) -> str:
        return f"{self.wim_path}:{self.index}" if self.kind == "wim" else str(self.path)

    def _pick_index(self, index: int | None) -> int:
        info = self._wim.info
        if index is not None:
            return int(self._wim.image_index(index))
        if info.image_count == 1:
            return 1
        if info.boot_index:
            return int(info.boot_index)
        raise UsageError(f"{self.wim_path} has {info.image_count} images: choose one with --index")

    # -- reading -------------------------------------------------------------------------
    def read(self, image_path: str) -> bytes | None:
        """The file's bytes as the image holds them now (queued changes included)."""
        for path, content in self.adds.items():
            if path.lower() == image_path.lower():
                return content.read_bytes() if isinstance(content, Path) else content
        if self._deleted(image_path):
            return None
        if self.kind == "dir":
            found = find_case_insensitive(self.path, image_path)
            return found.read_bytes() if found is not None and found.is_file() else None
        if not self._wim.exists(self.index, image_path):
            return None
        return bytes(self._wim.read_file(self.index, image_path))

    def children(self, image_dir: str) -> list[str]:
        """Names directly under an image directory (sorted, without case duplicates)."""
        names: dict[str, str] = {}
        if self.kind == "dir":
            found = find_case_insensitive(self.path, image_dir)
            if found is not None and found.is_dir():
                names = {p.name.lower(): p.name for p in found.iterdir()}
        elif self._wim.exists(self.index, image_dir):
            depth = len([p for p in image_dir.split("/") if p])
            for entry in self._wim.entries(self.index, image_dir):
                parts = [p for p in entry.path.split("/") if p]
                if len(parts) == depth + 1:
                    names[parts[-1].lower()] = parts[-1]
        prefix = image_dir.strip("/").lower() + "/"
        for path in self.adds:
            if path.lower().startswith(prefix):
                name = path[len(prefix) :].split("/")[0]
                names[name.lower()] = name
        return sorted(n for n in names.values() if not self._deleted(f"{image_dir}/{n}"))

    def real_path(self, image_path: str) -> str:
        """The image's own spelling of an existing path (a replaced hive keeps its name)."""
        if self.kind == "dir":
            found = find_case_insensitive(self.path, image_path)
            return found.relative_to(self.path).as_posix() if found is not None else image_path
        if self._wim.exists(self.index, image_path):
            return str(self._wim.entries(self.index, image_path, recursive=False)[0].path).strip("/")
        return image_path

    def _deleted(self, image_path: str) -> bool:
        low = image_path.lower().strip("/")
        return any(low == d.lower() or low.startswith(d.lower() + "/") for d in self.deletes)

    def arch(self, *, programs_only: bool = False) -> str | None:
        """ADK arch from the machine type of a system program, else the WIM's XML; None if unknown."""
        from pebuild.pe import inspect_pe, is_pe

        for probe in ARCH_PROBES:
            data = self.read(probe)
            if data is not None and is_pe(data):
                arch = inspect_pe(data, name=probe).arch
                if arch in ("x86", "amd64", "arm64", "ia64"):
                    return arch
        if self.kind == "wim" and not programs_only:
            image = self._wim.images[self.index - 1]
            return image.arch
        return None

    # -- changing ------------------------------------------------------------------------
    def add(self, image_path: str, content: bytes | Path) -> None:
        self.adds[image_path] = content

    def delete(self, image_path: str) -> None:
        self.adds = {p: c for p, c in self.adds.items() if not p.lower().startswith(image_path.lower())}
        self.deletes.append(image_path.strip("/"))

    def commit(self) -> None:
        """Deletes, then adds; one libwim update for a WIM, atomic files for a directory."""
        from pebuild.clock import build_time, is_reproducible

        if not self.adds and not self.deletes:
            return
        if self.kind == "dir":
            self._commit_dir()
            return
        from pebuild.wim import AddCommand, DeleteCommand

        commands: list[Any] = [
            DeleteCommand(p, recursive=True) for p in self.deletes if self._wim.exists(self.index, p)
        ]
        stage = Path(self._tmp.name)
        for n, (path, content) in enumerate(sorted(self.adds.items(), key=lambda kv: kv[0].lower())):
            if isinstance(content, Path):
                copy = stage / str(n)
                shutil.copyfile(content, copy)
                os.utime(copy, (build_time(), build_time()))
                content = copy
            commands.append(AddCommand(os.fspath(content) if isinstance(content, Path) else content, path))
        self._wim.update(self.index, commands, timestamp=build_time())
        self._wim.overwrite(timestamp=build_time() if is_reproducible() else None)

    def _commit_dir(self) -> None:
        for path in self.deletes:
            found = find_case_insensitive(self.path, path)
            if found is None:
                continue
            if found.is_dir() and not found.is_symlink():
                shutil.rmtree(found)
            else:
                found.unlink()
        for path, content in sorted(self.adds.items()):
            target = _real_target(self.path, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(target, content.read_bytes() if isinstance(content, Path) else content)

    def close(self) -> None:
        if self._wim is not None:
            self._wim.close()
            self._wim = None
        self._tmp.cleanup()

    def __enter__(self) -> ServicedImage:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _real_target(root: Path, image_path: str) -> Path:
    """Where a new file goes: existing directories keep their spelling (Windows vs windows)."""
    from pebuild.fsutil import safe_join

    parts = image_path.strip("/").split("/")
    base = root
    for i, part in enumerate(parts[:-1]):
        found = find_case_insensitive(base, part)
        if found is None:
            return safe_join(base, "/".join(parts[i:]))
        base = found
    return safe_join(base, parts[-1])


def _locate(path: Path) -> tuple[str, Path, Path | None]:
    """(kind, the path, the WIM) for a mount/image directory, a WIM, or a media/copype tree."""
    if path.is_file():
        with path.open("rb") as fh:
            if fh.read(8) != WIM_MAGIC:
                raise UsageError(f"{path} is not a WIM (nor a directory)")
        return "wim", path, path
    if not path.is_dir():
        raise UsageError(f"target not found: {path} (a mount directory, a WIM, or a media/copype tree)")
    if find_case_insensitive(path, "Windows/System32") is not None:
        _refuse_readonly_mount(path)
        return "dir", path, None
    for rel in ("sources/boot.wim", "media/sources/boot.wim"):
        found = find_case_insensitive(path, rel)
        if found is not None and found.is_file():
            return "wim", path, found
    raise UsageError(
        f"{path} is neither an image (no Windows/System32) nor a media tree (no sources/boot.wim) "
        "nor a copype tree (no media/sources/boot.wim)"
    )


def _refuse_readonly_mount(path: Path) -> None:
    from pebuild.wim.mount import mount_record

    try:
        record = mount_record(path)
    except (StateError, UsageError, OSError):
        return  # not a pebuild mount: an applied image directory
    if record.readonly:
        raise StateError(f"{path} is mounted read-only (pebuild mount --readonly): nothing can be added")
