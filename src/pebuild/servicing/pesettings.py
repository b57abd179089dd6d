"""WinPE settings: DISM /Set-ScratchSpace, /Set-TargetPath and /Get-PESettings, offline.

Where WinPE keeps them (docs/servicing.md cites the sources):

* scratch space: the FBWF (file-based write filter) cache size in MB,
  ``HKLM\\SYSTEM\\CurrentControlSet\\Services\\FBWF`` value ``WinPECacheThreshold``
  (REG_DWORD); peimg /scratchspace and DISM /Set-ScratchSpace write it.
* target path: ``HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\WinPE``
  value ``InstRoot`` (REG_SZ), the root of the image at boot (``X:\\``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from pebuild.errors import UsageError
from pebuild.servicing.regfile import REG_DWORD, REG_SZ, dword_bytes, sz_bytes
from pebuild.servicing.registry import RegistryEditor

SCRATCH_SPACE_SIZES = (32, 64, 128, 256, 512)
SCRATCH_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\FBWF"
SCRATCH_VALUE = "WinPECacheThreshold"
TARGET_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\WinPE"
TARGET_VALUE = "InstRoot"
_TARGET_RE = re.compile(r"[C-Zc-z]:\\[\x21-\x7e]*")
_INVALID = set('<>"/|?*:')


@dataclass(frozen=True)
class PeSettings:
    scratch_space: int | None  # MB; None when the image does not set it
    target_path: str | None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def check_scratch_space(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size not in SCRATCH_SPACE_SIZES:
        sizes = ", ".join(map(str, SCRATCH_SPACE_SIZES))
        raise UsageError(f"scratch space must be one of {sizes} MB (DISM /Set-ScratchSpace), not {size!r}")
    return size


def check_target_path(path: str) -> str:
    """DISM /Set-TargetPath rules: 3-32 chars, C:-Z: then ':\\', ASCII, absolute, no spaces or '\\\\'."""

    def bad(why: str) -> UsageError:
        return UsageError(f"invalid target path {path!r}: {why} (DISM /Set-TargetPath rules)")

    if not isinstance(path, str):
        raise bad("must be a string")
    if not 3 <= len(path) <= 32:
        raise bad("must be 3 to 32 characters long")
    if not _TARGET_RE.fullmatch(path):
        if path[:1].upper() in "AB" and path[1:3] == ":\\":
            raise bad("drive letter must be C to Z")
        if " " in path:
            raise bad("must not contain spaces")
        if any(ord(c) > 0x7E or ord(c) < 0x20 for c in path):
            raise bad("must be plain ASCII")
        raise bad("must start with a drive letter C-Z followed by ':\\'")
    rest = path[3:]
    if "\\\\" in path:
        raise bad("must not contain '\\\\'")
    if any(c in _INVALID for c in rest):
        raise bad("contains a character Windows forbids in paths")
    if any(part in (".", "..") for part in rest.split("\\")):
        raise bad("must be absolute, without '.' or '..'")
    return path


def read_pe_settings(editor: RegistryEditor) -> PeSettings:
    """DISM /Get-PESettings: None for a setting the image leaves at WinPE's default."""
    scratch = editor.get_value(SCRATCH_KEY, SCRATCH_VALUE)
    target = editor.get_value(TARGET_KEY, TARGET_VALUE)
    scratch_mb = (
        int.from_bytes(scratch.data[:4], "little") if scratch is not None and len(scratch.data) >= 4 else None
    )
    target_text = None
    if target is not None:
        target_text = bytes(target.data).decode("utf-16-le", errors="replace").split("\x00", 1)[0]
    return PeSettings(scratch_space=scratch_mb, target_path=target_text)


def apply_pe_settings(
    editor: RegistryEditor, *, scratch_space: int | None = None, target_path: str | None = None
) -> None:
    if scratch_space is not None:
        editor.set_value(
            SCRATCH_KEY, SCRATCH_VALUE, REG_DWORD, dword_bytes(check_scratch_space(scratch_space))
        )
    if target_path is not None:
        editor.set_value(TARGET_KEY, TARGET_VALUE, REG_SZ, sz_bytes(check_target_path(target_path)))
