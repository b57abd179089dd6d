"""`pebuild update-media`: the sample's 2011 ISO rewritten with its own boot.wim's 2023 set."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, require_tool

PROFILES = ("2011-only", "2011+2023", "2023-enforced")
#: one worker builds the session's sample media (conftest.sample_media) and runs these
pytestmark = pytest.mark.xdist_group("secureboot")


def _tree(xorriso: str, iso: Path, dest: Path) -> dict[str, str]:
    subprocess.run(
        [xorriso, "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)],
        check=True,
        capture_output=True,
    )
    return {
        p.relative_to(dest).as_posix().lower(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in dest.rglob("*")
        if p.is_file()
    }


def test_update_media_2011_iso_to_2023(sample_media, run_pebuild, tmp_path: Path) -> None:
    xorriso = require_tool("xorriso")
    src = sample_media["2011"]["iso"]
    before_bytes = src.read_bytes()
    out, usb = tmp_path / "new.iso", tmp_path / "new.img"
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    proc = run_pebuild("update-media", str(src), "-o", str(out), "--usb", str(usb), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert tuple(doc["before"]["boots"][p] for p in PROFILES) == (True, True, False)
    for after in doc["after"]:
        assert tuple(after["boots"][p] for p in PROFILES) == (False, True, True), after["media"]
    assert "sources/boot.wim still carries PCA 2011-signed boot managers" in proc.stderr
    assert not any("skusipolicy" in r.lower() for r in doc["replaced"])
    assert src.read_bytes() == before_bytes  # the input is never modified

    # every other file is kept byte for byte; the EFI boot files are the boot.wim's _EX ones
    old, new = _tree(xorriso, src, tmp_path / "old"), _tree(xorriso, out, tmp_path / "new")
    changed = {k for k in new if old.get(k) != new[k]}
    assert changed == {
        "efi/boot/bootx64.efi",
        "bootmgr.efi",
        "efi/microsoft/boot/efisys_ex.bin",
        "efi/microsoft/boot/fonts/segmono_boot.ttf",
        "efi/microsoft/boot/fonts/segoe_slboot.ttf",
        "efi/microsoft/boot/fonts/wgl4_boot.ttf",
    }
    assert set(old) <= set(new)
    wim_ex = tmp_path / "ex"
    wimlib = require_tool("wimlib-imagex")
    subprocess.run(
        [
            wimlib,
            "extract",
            str(tmp_path / "new" / "sources" / "boot.wim"),
            "1",
            "/Windows/Boot/EFI_EX",
            f"--dest-dir={wim_ex}",
        ],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "new" / "efi" / "boot" / "bootx64.efi").read_bytes() == (
        wim_ex / "EFI_EX" / "bootmgfw_EX.efi"
    ).read_bytes()

    # the BIOS boot image is the same; the UEFI image is efisys_EX.bin
    def images(iso: Path, dest: Path) -> dict[str, bytes]:
        dest.mkdir()
        subprocess.run(
            [xorriso, "-osirrox", "on", "-indev", str(iso), "-extract_boot_images", str(dest)],
            check=True,
            capture_output=True,
        )
        return {p.name: p.read_bytes() for p in dest.iterdir()}

    a, b = images(src, tmp_path / "ia"), images(out, tmp_path / "ib")
    assert a["eltorito_img1_bios.img"] == b["eltorito_img1_bios.img"]
    assert hashlib.sha256(b["eltorito_img2_uefi.img"]).hexdigest() == new["efi/microsoft/boot/efisys_ex.bin"]
    assert a["eltorito_img2_uefi.img"] != b["eltorito_img2_uefi.img"]

    # reproducible: the same input and SOURCE_DATE_EPOCH give the same bytes
    again = tmp_path / "again.iso"
    assert run_pebuild("update-media", str(src), "-o", str(again), env=env).returncode == 0
    assert again.read_bytes() == out.read_bytes()


def test_update_media_refuses_to_overwrite_and_old_wims(sample_media, run_pebuild, tmp_path: Path) -> None:
    src = str(sample_media["2011"]["iso"])
    existing = tmp_path / "exists.iso"
    existing.write_bytes(b"mine")
    assert_one_line_error(run_pebuild("update-media", src, "-o", str(existing)), 8)
    assert existing.read_bytes() == b"mine"
    assert_one_line_error(run_pebuild("update-media", src), 2)
    assert_one_line_error(run_pebuild("update-media", src, "-o", src), 2)
    # a boot.wim without the _EX set (a pre-2024 image): a source error naming what is missing
    old_wim = tmp_path / "old.wim"
    tree = tmp_path / "tree" / "Windows" / "Boot" / "EFI"
    tree.mkdir(parents=True)
    (tree / "bootmgfw.efi").write_bytes(b"MZ")
    wimlib = require_tool("wimlib-imagex")
    subprocess.run([wimlib, "capture", str(tmp_path / "tree"), str(old_wim)], check=True, capture_output=True)
    proc = run_pebuild("update-media", src, "-o", str(tmp_path / "x.iso"), "--boot-wim", str(old_wim))
    assert_one_line_error(proc, 4)
    assert "EFI_EX" in proc.stderr
