"""[media] boot_manager = auto | 2023 | 2011 and --boot-manager: which set the build puts on the media."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, require_tool
from pebuild.errors import SourceError
from pebuild.pe import read_authenticode
from pebuild.secureboot.bootset import WARN_2011, choose_boot_set
from pebuild.source import open_source

#: one worker builds the session's sample media (conftest.sample_media) and runs these
pytestmark = pytest.mark.xdist_group("secureboot")


def _cache_env() -> dict[str, str]:
    """Reuse the sample kit the library fixtures already built (the CLI would rebuild it in tmp)."""
    return {"XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")}


@pytest.mark.parametrize("generation", ["2011", "2023"])
def test_manifest_records_signer_svn_and_verdict_per_efi_file(sample_media, generation: str) -> None:
    manifest = json.loads(sample_media[generation]["manifest"].read_text())
    sb = manifest["secure_boot"]
    assert sb["boot_manager"] == {"requested": generation, "generation": generation, "warning": None}
    files = sb["files"]
    assert {
        "El Torito EFI image:EFI/BOOT/BOOTX64.EFI",
        "media:efi/boot/bootx64.efi",
        "media:bootmgr.efi",
    } <= set(files)
    assert "pxe:Boot/x64/bootmgfw.efi" in files
    ca = "windows-pca-2011" if generation == "2011" else "windows-uefi-ca-2023"
    for name in ("media:efi/boot/bootx64.efi", "media:bootmgr.efi", "pxe:Boot/x64/bootmgfw.efi"):
        entry = files[name]
        assert (entry["signer_ca"], entry["test_keys"], entry["digest_ok"]) == (ca, True, True), name
        assert entry["svn"] == ("3.0" if generation == "2011" else "9.0")
    enforced = files["media:efi/boot/bootx64.efi"]["verdict"]["2023-enforced"]
    assert (enforced == "boots") is (generation == "2023")
    assert manifest["pe_files"]["media:efi/boot/bootx64.efi"]["signature"] == "valid"
    summary = sb["summary"]
    assert summary.startswith(f"Secure Boot: {generation} boot manager")
    assert ("fails on 2023-enforced" in summary) is (generation == "2011")


def test_2023_media_carry_the_images_ex_files(sample_media) -> None:
    wimlib = require_tool("wimlib-imagex")
    media = sample_media["2023"]["media"]
    out = media.parent / "ex"
    subprocess.run(
        [
            wimlib,
            "extract",
            str(media / "sources" / "boot.wim"),
            "1",
            "/Windows/Boot/EFI_EX",
            "/Windows/Boot/FONTS_EX",
            f"--dest-dir={out}",
        ],
        check=True,
        capture_output=True,
    )
    assert (media / "efi" / "boot" / "bootx64.efi").read_bytes() == (
        out / "EFI_EX" / "bootmgfw_EX.efi"
    ).read_bytes()
    assert (media / "bootmgr.efi").read_bytes() == (out / "EFI_EX" / "bootmgr_EX.efi").read_bytes()
    ex_font = (out / "FONTS_EX" / "wgl4_boot_EX.ttf").read_bytes()
    assert (media / "efi" / "microsoft" / "boot" / "fonts" / "wgl4_boot.ttf").read_bytes() == ex_font
    pxe = sample_media["2023"]["pxe"] / "Boot" / "x64" / "bootmgfw.efi"
    assert pxe.read_bytes() == (out / "EFI_EX" / "bootmgfw_EX.efi").read_bytes()
    chain = read_authenticode(pxe).signatures[0].chain
    assert chain[-1].common_name == "pebuild TEST Windows UEFI CA 2023"


@pytest.fixture(scope="module")
def old_wim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's winpe.wim without the _EX set: a pre-2024-04 image."""
    from pebuild.sample import sample_source_path

    wimlib = require_tool("wimlib-imagex")
    src = next(
        Path(sample_source_path("amd64")).glob("Windows Preinstallation Environment/amd64/en-us/winpe.wim")
    )
    dest = tmp_path_factory.mktemp("old") / "old.wim"
    dest.write_bytes(src.read_bytes())
    script = "".join(f"delete --recursive /Windows/Boot/{d}\n" for d in ("EFI_EX", "DVD_EX", "FONTS_EX"))
    subprocess.run(
        [wimlib, "update", str(dest), "1"], input=script, text=True, check=True, capture_output=True
    )
    return dest


def test_auto_falls_back_with_a_warning_and_2023_refuses(old_wim: Path) -> None:
    with open_source(old_wim, "amd64") as source:
        auto = choose_boot_set(source, "auto")
        assert (auto.generation, auto.warning) == ("2011", WARN_2011)
        assert "2023-enforced" in auto.warning
        assert choose_boot_set(source, "2011").warning is None
        with pytest.raises(SourceError, match="EFI_EX"):
            choose_boot_set(source, "2023")
    with open_source("sample", "amd64") as source:
        assert choose_boot_set(source, "auto").generation == "2023"
        assert choose_boot_set(source, "2011").generation == "2011"


def test_cli_summary_warning_and_refusal(old_wim: Path, run_pebuild, tmp_path: Path) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text('[media]\nlabel = "SB"\n')  # no tools: a bare WIM source has none
    recipe = str(plain)
    env = {**_cache_env(), "SOURCE_DATE_EPOCH": "1700000000"}
    proc = run_pebuild(
        "make", "amd64", "--recipe", recipe, "--source", str(old_wim), "-o", str(tmp_path / "a.iso"), env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "pebuild: warning: boot manager: the source has no 2023 (_EX) boot files" in proc.stderr
    assert "Secure Boot: 2011 boot manager" in proc.stdout and "fails on 2023-enforced" in proc.stdout
    refused = run_pebuild(
        "make",
        "amd64",
        "--recipe",
        recipe,
        "--source",
        str(old_wim),
        "--boot-manager",
        "2023",
        "-o",
        str(tmp_path / "b.iso"),
        env=env,
    )
    assert_one_line_error(refused, 4)
    assert not (tmp_path / "b.iso").exists()
    recipe_2011 = tmp_path / "r.toml"
    recipe_2011.write_text(f'include = ["{recipe}"]\n\n[media]\nboot_manager = "2011"\n')
    ok = run_pebuild(
        "make",
        "amd64",
        "--recipe",
        str(recipe_2011),
        "--source",
        "sample",
        "-o",
        str(tmp_path / "c.iso"),
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert "Secure Boot: 2011 boot manager, PCA 2011 [TEST keys], SVN 3.0" in ok.stdout
    assert "warning" not in ok.stderr  # 2011 asked for explicitly
    bad = tmp_path / "bad.toml"
    bad.write_text('[media]\nboot_manager = "2019"\n')
    assert_one_line_error(
        run_pebuild(
            "make",
            "amd64",
            "--recipe",
            str(bad),
            "--source",
            "sample",
            "-o",
            str(tmp_path / "d.iso"),
            env=env,
        ),
        3,
    )
