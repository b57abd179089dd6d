"""`pebuild check` on the sample's 2011 and 2023 media (ISO, USB, PXE, media tree), a WIM and the kit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, require_tool
from pebuild.fat.reader import FatVolume
from pebuild.pe.sign import Signer, sign_pe
from pebuild.sample import testkeys
from pebuild.sample.bootsets import signed_program
from pebuild.secureboot import evaluate, load_dbx
from pebuild.secureboot.check import CheckRequest, check_media

#: generation -> the expected verdict on (2011-only, 2011+2023, 2023-enforced) with the TEST keys
EXPECTED = {"2011": (True, True, False), "2023": (False, True, True)}
PROFILES = ("2011-only", "2011+2023", "2023-enforced")
#: one worker builds the session's sample media (conftest.sample_media) and runs these
pytestmark = pytest.mark.xdist_group("secureboot")


@pytest.mark.parametrize("generation", ["2011", "2023"])
@pytest.mark.parametrize("kind", ["iso", "usb", "pxe", "media"])
def test_check_verdicts_for_all_three_profiles(sample_media, run_pebuild, generation: str, kind: str) -> None:
    proc = run_pebuild("check", str(sample_media[generation][kind]), "--json")
    assert proc.returncode == 0, proc.stderr  # nothing required: exit 0
    doc = json.loads(proc.stdout)
    assert tuple(doc["boots"][p] for p in PROFILES) == EXPECTED[generation]
    assert doc["test_keys"] is True
    path = [p for p in doc["programs"] if p["on_boot_path"]]
    assert path, doc
    want = "windows-pca-2011" if generation == "2011" else "windows-uefi-ca-2023"
    assert {p["signer_ca"] for p in path} == {want}
    if kind == "iso":  # the El Torito efisys image and efi/boot/bootx64.efi are both on the path
        assert {p["location"].split(":")[0] for p in path} == {
            "El Torito EFI image 1",
            "efi/boot/bootx64.efi",
        }
    if generation == "2011":
        reasons = {p["reasons"]["2023-enforced"] for p in path}
        assert reasons == {"revoked: signed under Microsoft Windows Production PCA 2011, which is in dbx"}


@pytest.mark.parametrize("generation", ["2011", "2023"])
def test_require_sets_the_exit_code(sample_media, run_pebuild, generation: str) -> None:
    iso = str(sample_media[generation]["iso"])
    for profile, boots in zip(PROFILES, EXPECTED[generation], strict=True):
        proc = run_pebuild("check", iso, "--require", profile, "--no-wims")
        if boots:
            assert proc.returncode == 0, proc.stderr
        else:
            assert_one_line_error(proc, 1)
            assert f"does not boot on {profile}" in proc.stderr
    table = run_pebuild("check", iso).stdout
    assert "El Torito EFI image 1:EFI/BOOT/BOOTX64.EFI" in table and "media (iso) boots on:" in table
    assert_one_line_error(run_pebuild("check", iso, "--require", "all", "--no-wims"), 1)


def test_without_test_keys_sample_media_boot_nowhere(sample_media) -> None:
    res = check_media(CheckRequest(sample_media["2023"]["iso"], test_keys=False))
    assert res.boots == dict.fromkeys(PROFILES, False)
    path = [v for v in res.programs if v.on_boot_path]
    assert all("TEST keys" in v.reasons["2011+2023"] for v in path)


def test_wim_and_kit_report_both_sets(sample_media) -> None:
    from pebuild.sample import sample_source_path

    for target in (sample_media["2023"]["media"] / "sources" / "boot.wim", sample_source_path("amd64")):
        res = check_media(CheckRequest(target))
        assert res.kind in ("wim", "kit")
        assert res.boots == dict.fromkeys(PROFILES, True)  # one of its two sets boots everywhere
        names = {v.location.rsplit("/", 1)[-1] for v in res.programs}
        assert {"bootmgfw.efi", "bootmgfw_EX.efi", "bootmgr_EX.efi"} <= names
        if res.kind == "kit":  # its winpe.wim: media rebuilt from it could pick the old set
            assert any("still carries PCA 2011-signed boot managers" in w for w in res.warnings)


def test_dbx_hash_and_svn_revocation(tmp_path: Path) -> None:
    """A file whose hash is added to dbx is refused everywhere; an SVN below the minimum only when enforced."""
    program = signed_program("PEBUILD-SAMPLE r", "amd64", name="bootmgfw.efi", generation="2023", svn=(8, 0))
    dbx = load_dbx()
    v = evaluate(program, "efi/boot/bootx64.efi", dbx, test_keys=True, svn=(8, 0), component="bootmgfw")
    assert v.boots == {"2011-only": False, "2011+2023": True, "2023-enforced": False}
    assert v.reasons["2023-enforced"] == "SVN 8.0 below the dbx minimum 9.0"
    esl = _sha256_list(bytes.fromhex(v.authenticode_sha256))
    update = tmp_path / "dbx.bin"
    update.write_bytes(esl)
    revoked = evaluate(program, "x", load_dbx(update), test_keys=True, svn=(8, 0), component="bootmgfw")
    assert not any(revoked.boots.values()) and revoked.revoked_hash


def _sha256_list(digest: bytes) -> bytes:
    """One EFI_SIGNATURE_LIST of EFI_CERT_SHA256 (written from the UEFI spec, independent of pebuild)."""
    import struct
    import uuid

    owner = uuid.UUID("5eb0c0de-0000-4000-8000-000000000014").bytes_le
    kind = uuid.UUID("c1c41626-504c-4092-aca9-41f936934328").bytes_le
    return kind + struct.pack("<III", 28 + 48, 0, 48) + owner + digest


def test_check_cross_checks_with_mtools_and_xorriso(sample_media, tmp_path: Path) -> None:
    """The El Torito image pebuild reads is the one xorriso extracts; mtools lists the same FAT files."""
    xorriso, mdir = require_tool("xorriso"), require_tool("mdir")
    iso = sample_media["2023"]["iso"]
    out = tmp_path / "eltorito"
    out.mkdir()
    subprocess.run(
        [xorriso, "-osirrox", "on", "-indev", str(iso), "-extract_boot_images", str(out)],
        check=True,
        capture_output=True,
    )
    uefi = next(p for p in out.iterdir() if "uefi" in p.name)
    listing = subprocess.run([mdir, "-i", str(uefi), "-/", "-b", "::"], capture_output=True, text=True).stdout
    with open(uefi, "rb") as fh:
        ours = FatVolume(fh).files()
    assert {f"::/{p}".upper() for p in ours} == {
        line.strip().upper() for line in listing.splitlines() if line.strip() and not line.endswith("/")
    }
    res = check_media(CheckRequest(iso))
    torito = next(v for v in res.programs if v.location.startswith("El Torito"))
    from pebuild.pe import read_authenticode

    with open(uefi, "rb") as fh:
        vol = FatVolume(fh)
        first, size = vol.files()["EFI/BOOT/BOOTX64.EFI"]
        assert read_authenticode(vol.read(first, size)).sha256 == torito.authenticode_sha256


def test_bad_media_is_a_one_line_error(run_pebuild, tmp_path: Path) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\0" * 4096)
    assert_one_line_error(run_pebuild("check", str(junk)), 5)
    assert_one_line_error(run_pebuild("check", str(tmp_path / "missing.iso")), 2)
    bad_dbx = tmp_path / "dbx.bin"
    bad_dbx.write_bytes(b"nope")
    assert_one_line_error(run_pebuild("check", str(tmp_path), "--dbx", str(bad_dbx)), 5)


def test_third_party_style_chain_is_unknown_not_trusted() -> None:
    """A chain that merely *names* a Microsoft CA as issuer, without its signature, is not identified."""
    data = sign_pe(
        signed_program("PEBUILD-SAMPLE t", "amd64", name="x.efi", generation="2011", svn=None),
        Signer(testkeys.private_key("windows-2023-signer"), (testkeys.certificate("windows-2023-signer"),)),
    )
    v = evaluate(data, "x.efi", load_dbx(), test_keys=False)
    assert v.ca.ca_id == "unknown" and not any(v.boots.values())
