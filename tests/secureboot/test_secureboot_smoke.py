"""`pebuild smoke --secure-boot`: OVMF_CODE_4M.secboot.fd (SMM) enforcing an enrolled variable store.

Debian's OVMF_VARS_4M.snakeoil.fd trusts PkKek-1-snakeoil (its key is public: passphrase
"snakeoil", /usr/share/doc/ovmf/README.Debian); a store built with virt-fw-vars enrolls the
sample's TEST "PCA 2011" and "Windows UEFI CA 2023" in db and the TEST PCA 2011 in dbx, the
2023-enforced profile in miniature, so the firmware's own verdicts can be compared with
`pebuild check`'s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.errors import BootError
from pebuild.qemu import SmokeRequest, smoke
from pebuild.sample import testkeys
from pebuild.sample.stubs import efi_program
from pebuild.secureboot.check import CheckRequest, check_media

pytestmark = [pytest.mark.smoke, pytest.mark.xdist_group("secureboot")]
SNAKEOIL_KEY = Path("/usr/share/ovmf/PkKek-1-snakeoil.key")
SNAKEOIL_CERT = Path("/usr/share/ovmf/PkKek-1-snakeoil.pem")
SNAKEOIL_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd")
EMPTY_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
SECBOOT_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
OWNER = "5eb0c0de-0000-4000-8000-000000000014"


def _need_ovmf() -> None:
    require_tool("qemu-system-x86_64")
    for path in (SNAKEOIL_KEY, SNAKEOIL_CERT, SNAKEOIL_VARS, SECBOOT_CODE, EMPTY_VARS):
        if not path.is_file():
            pytest.skip(f"{path} missing (Debian package ovmf)")


def _iso(tmp: Path, name: str, program: bytes) -> Path:
    from pebuild.fat import efisys_image
    from pebuild.iso import IsoRequest, write_iso

    media = tmp / name
    (media / "EFI" / "BOOT").mkdir(parents=True)
    (media / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(program)
    image = tmp / f"{name}.efisys"
    image.write_bytes(efisys_image({"EFI/BOOT/BOOTX64.EFI": program}))
    out = tmp / f"{name}.iso"
    write_iso(
        IsoRequest(
            media_dir=media, output=out, uefi_boot=image, label=name.upper()[:16], timestamp=1_700_000_000
        )
    )
    return out


def _snakeoil_signed(tmp: Path, program: bytes) -> bytes:
    sbsign = require_tool("sbsign")
    key = tmp / "snakeoil.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(SNAKEOIL_KEY), "-passin", "pass:snakeoil", "-out", str(key)],
        check=True,
    )
    unsigned, signed = tmp / "in.efi", tmp / "out.efi"
    unsigned.write_bytes(program)
    subprocess.run(
        [sbsign, "--key", str(key), "--cert", str(SNAKEOIL_CERT), "--output", str(signed), str(unsigned)],
        check=True,
        capture_output=True,
    )
    return signed.read_bytes()


def test_snakeoil_signed_boots_and_unsigned_is_refused(tmp_path: Path) -> None:
    _need_ovmf()
    program = efi_program("PEBUILD-SAMPLE sb-standin", "amd64")
    good = _iso(tmp_path, "good", _snakeoil_signed(tmp_path, program))
    result = smoke(
        SmokeRequest(good, "uefi", secure_boot=True, vars=SNAKEOIL_VARS, expect=["PEBUILD-SAMPLE sb-standin"])
    )
    assert result.ok, result.reason
    assert "OVMF_CODE_4M.secboot.fd" in " ".join(result.command) and "smm=on" in " ".join(result.command)
    bad = _iso(tmp_path, "bad", program)
    refused = smoke(
        SmokeRequest(
            bad,
            "uefi",
            secure_boot=True,
            vars=SNAKEOIL_VARS,
            expect=["PEBUILD-SAMPLE sb-standin"],
            timeout=120,
            serial_log=tmp_path / "refused.log",  # a failed boot keeps its log: here, not in $TMPDIR
        )
    )
    assert not refused.ok
    assert refused.reason.startswith("Secure Boot refused the boot program"), refused.reason
    with pytest.raises(BootError, match="Secure Boot refused"):
        refused.check()


@pytest.fixture(scope="module")
def test_ca_vars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """db: TEST PCA 2011 + TEST Windows UEFI CA 2023; dbx: TEST PCA 2011 (the 2023-enforced profile)."""
    tool = shutil.which("virt-fw-vars") or str(Path(sys.executable).parent / "virt-fw-vars")
    if not Path(tool).exists():
        pytest.skip("virt-fw-vars not installed (PyPI virt-firmware, in pebuild's test extra)")
    d = tmp_path_factory.mktemp("vars")
    pems = {}
    for name in ("pca-2011", "windows-uefi-ca-2023"):
        der = d / f"{name}.der"
        der.write_bytes(testkeys.certificate(name))
        pems[name] = d / f"{name}.pem"
        subprocess.run(
            ["openssl", "x509", "-inform", "der", "-in", str(der), "-out", str(pems[name])], check=True
        )
    out = d / "vars.fd"
    subprocess.run(
        [
            tool, "-i", str(EMPTY_VARS), "-o", str(out),
            "--set-pk", OWNER, str(SNAKEOIL_CERT), "--add-kek", OWNER, str(SNAKEOIL_CERT),
            "--add-db", OWNER, str(pems["pca-2011"]), "--add-db", OWNER, str(pems["windows-uefi-ca-2023"]),
            "--add-dbx-cert", OWNER, str(pems["pca-2011"]), "--sb",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return out


def test_firmware_agrees_with_check_on_2023_enforced(
    sample_media, test_ca_vars: Path, tmp_path: Path
) -> None:
    _need_ovmf()
    for generation, boots in (("2023", True), ("2011", False)):
        iso = sample_media[generation]["iso"]
        assert check_media(CheckRequest(iso)).boots["2023-enforced"] is boots
        result = smoke(
            SmokeRequest(
                iso,
                "uefi",
                secure_boot=True,
                vars=test_ca_vars,
                expect=[r"PEBUILD-SAMPLE bootx64\.efi"],
                timeout=150,
                serial_log=tmp_path / f"{generation}.log",
            )
        )
        assert result.ok is boots, result.reason
        if not boots:
            assert result.reason.startswith("Secure Boot refused the boot program"), result.reason
