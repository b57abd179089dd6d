"""What `pebuild reg` and `pebuild pe-settings` edit: a WIM image, a directory tree or a hive file.

* ``boot.wim:2`` (or ``boot.wim:"Image Name"``, or ``boot.wim`` alone when it has one
  image or a boot index): hives are extracted, edited, and written back with ONE
  libwim update + an append-mode overwrite (header last: an interrupted commit
  leaves the old WIM intact). Only the WIM the user named is modified.
* a directory (a `pebuild mount` directory or any extracted tree): hive files are
  replaced atomically in place; `pebuild commit` later writes them into the WIM.
* a hive file (``regf`` magic): edited and replaced atomically.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pebuild.errors import FormatError, UsageError
from pebuild.fsutil import find_case_insensitive, write_bytes_atomic
from pebuild.hive.log import empty_logs, find_logs
from pebuild.servicing import regfile
from pebuild.servicing.registry import HiveFiles, RegistryEditor

WIM_MAGIC = b"MSWIM\x00\x00\x00"
HIVE_MAGIC = b"regf"

#: --type names -> REG_* number (the same words as the recipe's [[registry.set]] type)
TYPE_NAMES = regfile.TYPE_NAMES


@dataclass(frozen=True)
class Target:
    kind: str  # "wim" | "dir" | "hive"
    path: Path
    image: str | None = None  # WIM image index or name as given

    def describe(self) -> str:
        return f"{self.path}:{self.image}" if self.image else str(self.path)


def _magic(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(8)
    except OSError as exc:
        raise UsageError(f"cannot read target: {exc.strerror}", path=path) from None


def parse_target(spec: str) -> Target:
    """WIM[:INDEX|:NAME], a directory, or a hive file; decided by what is on disk."""
    path = Path(spec)
    if path.is_dir():
        return Target("dir", path)
    if path.is_file():
        head = _magic(path)
        if head.startswith(WIM_MAGIC):
            return Target("wim", path)
        if head.startswith(HIVE_MAGIC):
            return Target("hive", path)
        raise FormatError("not a WIM, a registry hive or a directory", path=path)
    base, sep, image = spec.rpartition(":")
    if sep and base and Path(base).is_file() and _magic(Path(base)).startswith(WIM_MAGIC):
        if not image:
            raise UsageError(f"empty image after ':' in {spec!r}")
        return Target("wim", Path(base), image)
    raise UsageError(f"target not found: {spec!r} (a WIM[:INDEX], a directory or a hive file)")


class TargetSession:
    """Open a target, edit its hives through `.editor`, then `commit()` the changed ones.

    Dirty hives are recovered from the transaction logs beside them (in the WIM, the
    directory or next to the hive file); after a commit those logs are emptied in the
    target, because the written hive is clean and already holds their data.
    `allow_dirty` opens a dirty hive without usable logs as it is, for reading only.
    `loaded_at` (hive files only) places the file as `reg load KEY FILE` would."""

    def __init__(
        self, target: Target, *, write: bool = True, allow_dirty: bool = False, loaded_at: str | None = None
    ) -> None:
        self.target = target
        self._tmp = tempfile.TemporaryDirectory(prefix="pebuild-reg-")
        self._wim = None
        self._wim_loader: Any = None
        self._files: dict[str, Path] = {}  # image path -> the hive file read (dir and hive targets)
        self.index = 0
        if loaded_at is not None and target.kind != "hive":
            raise UsageError(
                "--loaded-at applies to a hive file target; images map HKLM\\SYSTEM etc. themselves"
            )
        if target.kind == "wim":
            from pebuild.wim import Wim

            self._wim = Wim.open(target.path, write=write)
            self.index = self._pick_index(target.image)
        single = target.kind == "hive"
        self.editor = RegistryEditor(
            self._load,
            single_hive=single,
            allow_dirty=allow_dirty,
            loaded_at=loaded_at,
            describe=self._describe,
        )

    def _pick_index(self, image: str | None) -> int:
        assert self._wim is not None
        if image is not None:
            return self._wim.image_index(int(image) if re.fullmatch(r"\d+", image) else image)
        info = self._wim.info
        if info.image_count == 1:
            return 1
        if info.boot_index:
            return int(info.boot_index)
        raise UsageError(f"{self.target.path} has {info.image_count} images: name one as WIM:INDEX")

    def _describe(self, image_path: str) -> str:
        """How error lines name a hive: its file, or WIM:INDEX/path inside the image."""
        if image_path in self._files:
            return str(self._files[image_path])
        if self.target.kind == "wim":
            return f"{self.target.path}:{self.index}/{image_path}"
        return str(self.target.path)

    def _load(self, image_path: str) -> HiveFiles | None:
        kind = self.target.kind
        if kind in ("hive", "dir"):
            found = (
                self.target.path if kind == "hive" else find_case_insensitive(self.target.path, image_path)
            )
            if found is None or not found.is_file():
                return None
            self._files[image_path] = found
            try:
                return HiveFiles(found.read_bytes(), {p.name: p.read_bytes() for p in find_logs(found)})
            except OSError as exc:
                raise FormatError(f"cannot read hive: {exc.strerror or exc}", path=found) from None
        if self._wim_loader is None:
            from pebuild.servicing.plan import WimHiveLoader

            self._wim_loader = WimHiveLoader(self._wim, self.index, Path(self._tmp.name))
        return self._wim_loader(image_path)

    def commit(self) -> list[str]:
        """Write changed hives back; returns their image paths (empty: nothing changed)."""
        from pebuild.clock import build_time, is_reproducible

        changed = self.editor.serialized(timestamp=build_time())
        if not changed:
            return []
        if self.target.kind in ("hive", "dir"):
            for image_path, data in changed.items():
                found = self._files[image_path]  # it was loaded from there
                write_bytes_atomic(found, data)
                empty_logs(found, self.editor.logs_to_clear(image_path))
        else:
            from pebuild.wim import AddCommand

            assert self._wim is not None
            loader = self._wim_loader
            adds = [AddCommand(data, loader.real_path(path)) for path, data in sorted(changed.items())]
            for path in sorted(changed):
                adds += [
                    AddCommand(b"", log) for log in loader.cleared_logs(path, self.editor.logs_to_clear(path))
                ]
            self._wim.update(self.index, adds, timestamp=build_time())
            # With SOURCE_DATE_EPOCH, pin the image's LASTMODIFICATIONTIME too (costs a rebuild pass).
            self._wim.overwrite(timestamp=build_time() if is_reproducible() else None)
        return sorted(changed)

    def close(self) -> None:
        if self._wim is not None:
            self._wim.close()
            self._wim = None
        self._tmp.cleanup()

    def __enter__(self) -> TargetSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def value_from_text(type_name: str, values: tuple[str, ...]) -> tuple[int, bytes]:
    """--type/--value as given on the command line -> (REG_* type, hive bytes)."""
    if type_name not in TYPE_NAMES:
        raise UsageError(f"unknown --type {type_name!r} (known: {', '.join(TYPE_NAMES)})")
    reg_type = TYPE_NAMES[type_name]
    if type_name == "multi_sz":
        return reg_type, regfile.multi_sz_bytes(list(values))
    if len(values) != 1:
        raise UsageError(f"--type {type_name} takes exactly one --value")
    text = values[0]
    if type_name in ("sz", "expand_sz"):
        return reg_type, regfile.sz_bytes(text)
    if type_name in ("dword", "qword"):
        try:
            number = int(text, 0)
        except ValueError:
            raise UsageError(f"--value {text!r} is not an integer (decimal or 0x hex)") from None
        bits = 32 if type_name == "dword" else 64
        if not 0 <= number < (1 << bits):
            raise UsageError(f"--value {text!r} does not fit a {type_name}")
        return reg_type, number.to_bytes(bits // 8, "little")
    clean = text.replace(",", " ").replace(":", " ")
    try:
        return reg_type, bytes.fromhex(clean)
    except ValueError:
        raise UsageError(f"--value {text!r} is not hex bytes like 'de ad be ef'") from None
