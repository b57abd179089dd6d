"""BuildRequest and BuildResult: what `pebuild make` asks for and what it got."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.outputs import OutputOptions


@dataclass
class BuildRequest:
    arch: str
    recipe: Path
    output: Path | None = None  # the ISO; None: media tree (and PXE/USB) only
    source: str | None = None  # overrides the recipe's `source`
    profile: str | None = None
    media_dir: Path | None = None  # also keep the media tree here
    manifest: Path | None = None
    keep: bool = False  # keep the build directory (also on failure)
    build_root: Path | None = None  # where the build directory is made (default: beside the output)
    pxe_dir: Path | None = None
    usb_output: Path | None = None
    usb_size: int | str = "auto"
    usb_table: str = "mbr"  # mbr (BIOS + UEFI) or gpt (UEFI only); docs/usb.md
    usb_split_size: int = 4000 << 20  # .swm part size for a .wim of 4 GiB or more in the tree
    usb_data_size: int | None = None  # NTFS/exFAT data partition after the boot one
    usb_data_fs: str = "exfat"
    timestamp: int | None = None  # explicit build time (else SOURCE_DATE_EPOCH, else now)
    boot_manager: str | None = None  # overrides [media] boot_manager: auto | 2023 | 2011
    strict: bool = False  # build-check warnings are errors (make/checks.py)
    outputs: OutputOptions = field(default_factory=OutputOptions)  # --force, --no-wait (pebuild.outputs)


@dataclass
class BuildResult:
    arch: str
    iso: Path | None
    iso_size: int | None
    iso_sha256: str | None
    media_dir: Path | None
    manifest_path: Path | None
    manifest: dict[str, Any]
    build_dir: Path | None  # set when kept
    pxe_dir: Path | None = None
    usb_image: Path | None = None
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (not in the manifest)
    secure_boot: dict[str, Any] = field(default_factory=dict)  # summary line + warnings (issue 14)
    warnings: list[str] = field(default_factory=list)  # build-check warnings (make/checks.py)

    def to_json(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "iso": None if self.iso is None else str(self.iso),
            "iso_size": self.iso_size,
            "iso_sha256": self.iso_sha256,
            "media_dir": None if self.media_dir is None else str(self.media_dir),
            "manifest": None if self.manifest_path is None else str(self.manifest_path),
            "build_dir": None if self.build_dir is None else str(self.build_dir),
            "pxe_dir": None if self.pxe_dir is None else str(self.pxe_dir),
            "usb_image": None if self.usb_image is None else str(self.usb_image),
            "boot_wim": self.manifest.get("wim", {}),
            "pe_files": len(self.manifest.get("pe_files", {})),
            "recipe_sha256": self.manifest.get("recipe", {}).get("sha256"),
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            "secure_boot": self.secure_boot,
            "warnings": list(self.warnings),
        }
