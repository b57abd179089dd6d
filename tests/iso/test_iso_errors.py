"""Bad input through the real CLI: one line, non-zero exit, no output file left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _helpers import assert_one_line_error


def _no_output(directory: Path, name: str) -> None:
    leftovers = [p.name for p in directory.iterdir() if p.name == name or p.name.startswith(f".{name}.")]
    assert leftovers == []


def test_iso_error_missing_boot_file(kit, tmp_path, run_pebuild):
    out = tmp_path / "o.iso"
    proc = run_pebuild("iso", str(kit.media), str(out), "--bios", str(tmp_path / "nope.com"))
    assert_one_line_error(proc, 2)
    assert "not found" in proc.stderr
    _no_output(tmp_path, "o.iso")


def test_iso_error_uefi_not_fat(kit, tmp_path, run_pebuild):
    bad = tmp_path / "efisys.bin"
    bad.write_bytes(b"\x00" * 510 + b"\x55\xaa" + b"\x00" * 4096)  # signature, but no BPB
    out = tmp_path / "o.iso"
    proc = run_pebuild("iso", str(kit.media), str(out), "--uefi", str(bad))
    assert_one_line_error(proc, 5)
    assert "not a FAT image" in proc.stderr
    bad.write_bytes(os.urandom(4096))
    proc = run_pebuild("iso", str(kit.media), str(out), "--uefi", str(bad))
    assert_one_line_error(proc, 5)
    _no_output(tmp_path, "o.iso")


@pytest.mark.parametrize("label", ["A" * 33, "WIN PE", "WINPE*", ""])
def test_iso_error_bad_label(kit, tmp_path, run_pebuild, label):
    proc = run_pebuild("iso", str(kit.media), str(tmp_path / "o.iso"), "--label", label)
    assert_one_line_error(proc, 2)
    _no_output(tmp_path, "o.iso")


def test_iso_error_names_differing_in_case(kit, tmp_path, run_pebuild):
    (kit.media / "boot" / "BCD").write_bytes(b"x")  # boot/bcd exists
    proc = run_pebuild("iso", str(kit.media), str(tmp_path / "o.iso"))
    assert_one_line_error(proc, 5)
    assert "differ only in case" in proc.stderr
    _no_output(tmp_path, "o.iso")


def test_iso_error_name_not_utf8(kit, tmp_path, run_pebuild):
    (kit.media / os.fsdecode(b"bad\xff.bin")).write_bytes(b"x")
    proc = run_pebuild("iso", str(kit.media), str(tmp_path / "o.iso"))
    assert_one_line_error(proc, 5)
    assert "not valid UTF-8" in proc.stderr
    _no_output(tmp_path, "o.iso")


def test_iso_error_unwritable_output(kit, tmp_path, run_pebuild):
    if os.geteuid() == 0:
        target = tmp_path / "missing-dir" / "o.iso"  # root can write anywhere: use a missing directory
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        target = ro / "o.iso"
    proc = run_pebuild("iso", str(kit.media), str(target), "--bios", str(kit.bios))
    assert_one_line_error(proc, 8)
    assert not target.exists()
    proc = run_pebuild("iso", str(kit.media), str(kit.media))  # output is a directory
    assert_one_line_error(proc, 8)


def test_iso_error_existing_output_kept_on_failure(kit, tmp_path, run_pebuild):
    out = tmp_path / "o.iso"
    out.write_bytes(b"previous build")
    proc = run_pebuild("iso", str(kit.media), str(out), "--bios", str(tmp_path / "missing"))
    assert_one_line_error(proc)
    assert out.read_bytes() == b"previous build"


def test_iso_error_missing_media_dir(tmp_path, run_pebuild):
    proc = run_pebuild("iso", str(tmp_path / "nomedia"), str(tmp_path / "o.iso"))
    assert_one_line_error(proc, 2)
