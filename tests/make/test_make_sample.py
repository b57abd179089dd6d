"""`pebuild make` on the built-in sample source for every arch (what `make demo` runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EFI = {"x86": "bootia32.efi", "amd64": "bootx64.efi", "arm64": "bootaa64.efi", "ia64": "bootia64.efi"}


@pytest.mark.parametrize("arch", ["x86", "amd64", "arm64", "ia64"])
def test_capture_recipe_from_sample(tmp_path: Path, run_pebuild, arch: str) -> None:
    out = tmp_path / "winpe.iso"
    proc = run_pebuild(
        "make",
        arch,
        "--recipe",
        "capture",  # the shipped recipe by name, as after `pipx install pebuild` (no checkout)
        "--source",
        "sample",
        "-o",
        str(out),
        "--media-dir",
        str(tmp_path / "media"),
        "--manifest",
        str(tmp_path / "m.json"),
        "--json",
        env={"SOURCE_DATE_EPOCH": "1700000000"},
        cwd=tmp_path,
        check=True,
    )
    summary = json.loads(proc.stdout)
    assert summary["iso_size"] == out.stat().st_size
    media = tmp_path / "media"
    assert (media / "efi/boot" / EFI[arch]).is_file()
    assert (media / "bootmgr").exists() == (arch in ("x86", "amd64"))
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["pe_files"]["image:Windows/System32/imagex.exe"]["arch"] == arch
    assert manifest["source"]["kind"] == "sample"
    assert manifest["recipe"]["path"] == "capture.toml"
    assert manifest["recipe"]["settings"]["overlays"] == ["imagex", "wimscript"]
