"""The Secure Boot part of a build: per-EFI-file verdicts for the manifest and a one-line summary.

Run on what the build wrote (media tree, the El Torito UEFI image, the PXE tree)
with the same rules as `pebuild check`, so the manifest says what `check` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pebuild.secureboot.bootset import BootSet
from pebuild.secureboot.check import _efisys, _Found, _programs, _uses_test_keys, _verdict, media_boots
from pebuild.secureboot.dbx import load_dbx
from pebuild.secureboot.verdict import PROFILES, EfiVerdict
from pebuild.secureboot.volumes import DirVolume


def _file_entry(v: EfiVerdict) -> dict[str, Any]:
    return {
        "signer_ca": v.ca.ca_id,
        "signer_ca_label": v.ca.label,
        "test_keys": v.ca.test_keys,
        "svn": v.svn_text,
        "authenticode_sha256": v.authenticode_sha256,
        "digest_ok": v.digest_ok,
        "on_boot_path": v.on_boot_path,
        "boots": dict(v.boots),
        "verdict": {p: v.reasons[p] for p in PROFILES},
    }


def build_report(
    media_dir: Path,
    uefi_image: Path | None,
    pxe_dir: Path | None,
    boot_set: BootSet,
    *,
    test_keys: bool | None = None,
) -> dict[str, Any]:
    """Manifest `secure_boot`: the chosen set, every EFI file's verdict, where the media boot, a summary.

    test_keys None: trust the sample's TEST CAs only when the files carry them, like `pebuild check`.
    """
    dbx = load_dbx()
    found: list[_Found] = []
    if uefi_image is not None and uefi_image.is_file():
        found += [
            _Found(f"El Torito EFI image:{f.location.split(':', 1)[1]}", f.data, True, "cdboot")
            for f in _efisys(uefi_image.read_bytes(), "image", True)
        ]
    found += [
        _Found(f"media:{f.location}", f.data, f.on_boot_path, f.component)
        for f in _programs(DirVolume(media_dir), "", "media", False)
    ]
    if pxe_dir is not None and pxe_dir.is_dir():
        found += [
            _Found(f"pxe:{f.location}", f.data, False, f.component)
            for f in _programs(DirVolume(pxe_dir), "", "pxe", False)
        ]
    trust_test = _uses_test_keys(found) if test_keys is None else test_keys  # as `pebuild check` decides
    verdicts = [v for f in found if (v := _verdict(f, dbx, trust_test)) is not None]
    boots = media_boots(verdicts, "media")
    return {
        "boot_manager": boot_set.to_json(),
        "files": {v.location: _file_entry(v) for v in sorted(verdicts, key=lambda x: x.location)},
        "boots": boots,
        "summary": summary_line(boot_set, verdicts, boots),
    }


def summary_line(boot_set: BootSet, verdicts: list[EfiVerdict], boots: dict[str, bool]) -> str:
    manager = next((v for v in verdicts if v.on_boot_path and v.component == "bootmgfw"), None)
    signer = (
        ""
        if manager is None
        else f", {manager.ca.label}" + (f", SVN {manager.svn_text}" if manager.svn else "")
    )
    ok = [p for p in PROFILES if boots[p]]
    bad = [p for p in PROFILES if not boots[p]]
    text = (
        f"Secure Boot: {boot_set.generation} boot manager{signer}; boots on {', '.join(ok) or 'no profile'}"
    )
    return text + (f"; fails on {', '.join(bad)}" if bad else "")
