"""pebuild.pe.authenticode and pebuild.pe.sign, cross-checked with osslsigncode and sbverify.

osslsigncode (its own PE hashing and PKCS#7 code) signs files that pebuild reads, and
verifies files pebuild signs; sbverify (sbsigntool, the shim/distro tool) checks them too.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pip
import pytest

from _helpers import require_tool
from pebuild.pe import authenticode_digest, boot_security_version, inspect_pe, read_authenticode
from pebuild.pe._layout import pe_checksum, pe_layout
from pebuild.pe.sign import Signer, sign_pe
from pebuild.sample import testkeys
from pebuild.sample.bootsets import signed_program
from pebuild.sample.stubs import efi_program
from pebuild.sample.stubs._pe import pe_checksum as sample_checksum

LAUNCHER = Path(pip.__file__).parent / "_vendor" / "distlib" / "t64.exe"
#: every date the test certificates span: the 2011 chain expired in 2026, as Microsoft's did
IN_2025 = "1750000000"


def _pem(tmp: Path, name: str) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    path = tmp / f"{name}.pem"
    cert = x509.load_der_x509_certificate(testkeys.certificate(name))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _key(tmp: Path, name: str) -> Path:
    path = tmp / f"{name}.key"
    path.write_bytes(testkeys.private_key(name))
    return path


def _signer(leaf: str) -> Signer:
    return Signer(testkeys.private_key(leaf), testkeys.signer_chain(leaf))


def _osslsigncode_digests(path: Path, *extra: str) -> tuple[list[tuple[str, str]], str]:
    tool = require_tool("osslsigncode")
    proc = subprocess.run([tool, "verify", *extra, "-in", str(path)], capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    pairs = re.findall(
        r"Current message digest\s*:\s*([0-9A-F]+)\s*\n\s*Calculated message digest\s*:\s*([0-9A-F]+)", out
    )
    return pairs, out


@pytest.mark.parametrize("data_kind", ["launcher", "sample"])
def test_image_digest_matches_osslsigncode(tmp_path: Path, data_kind: str) -> None:
    """The Authenticode hash of a real MSVC PE and of a sample program equals osslsigncode's."""
    raw = LAUNCHER.read_bytes() if data_kind == "launcher" else efi_program("PEBUILD-SAMPLE x", "amd64")
    signed = tmp_path / "signed.efi"
    signed.write_bytes(sign_pe(raw, _signer("windows-2023-signer")))
    pairs, out = _osslsigncode_digests(signed, "-time", IN_2025)
    assert pairs, out
    current, calculated = pairs[0]
    assert current == calculated == authenticode_digest(raw).hex().upper()
    assert read_authenticode(signed).sha256 == calculated  # signing does not change the image hash


def test_signatures_written_by_osslsigncode_incl_nested(tmp_path: Path) -> None:
    tool = require_tool("osslsigncode")
    key, cert = _key(tmp_path, "windows-2023-signer"), _pem(tmp_path, "windows-2023-signer")
    ca = _pem(tmp_path, "windows-uefi-ca-2023")
    plain = tmp_path / "plain.efi"
    plain.write_bytes(efi_program("PEBUILD-SAMPLE nested", "amd64"))
    one, two = tmp_path / "one.efi", tmp_path / "two.efi"
    base = [tool, "sign", "-certs", str(cert), "-ac", str(ca), "-key", str(key)]
    subprocess.run(
        [*base, "-h", "sha256", "-in", str(plain), "-out", str(one)], check=True, capture_output=True
    )
    subprocess.run(
        [*base, "-h", "sha1", "-nest", "-in", str(one), "-out", str(two)], check=True, capture_output=True
    )
    auth = read_authenticode(two)
    assert [(s.path, s.digest_algorithm, s.valid) for s in auth.signatures] == [
        ("1", "sha256", True),
        ("1.1", "sha1", True),
    ]
    chain = [c.common_name for c in auth.signatures[0].chain]
    assert chain == ["pebuild TEST Windows UEFI (boot manager 2023)", "pebuild TEST Windows UEFI CA 2023"]
    assert auth.entries == 1
    assert auth.signatures[1].signed_digest == authenticode_digest(plain.read_bytes(), "sha1").hex().upper()


def test_pebuild_signatures_verify_with_osslsigncode_and_sbverify(tmp_path: Path) -> None:
    sbverify = require_tool("sbverify")
    roots = _pem(tmp_path, "root-2010")
    data = sign_pe(efi_program("PEBUILD-SAMPLE ok", "amd64"), _signer("windows-2023-signer"))
    nested = sign_pe(data, _signer("windows-2011-signer"), algorithm="sha1", mode="nest")
    for name, blob, count in (("one", data, 1), ("nested", nested, 2)):
        path = tmp_path / f"{name}.efi"
        path.write_bytes(blob)
        pairs, out = _osslsigncode_digests(path, "-CAfile", str(roots), "-time", IN_2025)
        assert f"Number of verified signatures: {count}" in out and "Succeeded" in out, out
        assert all(cur == calc for cur, calc in pairs) and len(pairs) == count
        proc = subprocess.run(
            [sbverify, "--cert", str(_pem(tmp_path, "windows-uefi-ca-2023")), str(path)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # deterministic: same input, key and certificates -> same bytes (the sample kit relies on it)
    assert sign_pe(efi_program("PEBUILD-SAMPLE ok", "amd64"), _signer("windows-2023-signer")) == data


def test_several_win_certificate_entries(tmp_path: Path) -> None:
    sbverify = require_tool("sbverify")
    data = sign_pe(efi_program("PEBUILD-SAMPLE two", "amd64"), _signer("windows-2011-signer"))
    both = sign_pe(data, _signer("windows-2023-signer"), mode="append")
    auth = read_authenticode(both)
    assert auth.entries == 2
    assert [(s.entry, s.path, s.valid) for s in auth.signatures] == [(0, "1", True), (1, "2", True)]
    path = tmp_path / "two.efi"
    path.write_bytes(both)
    listing = subprocess.run([sbverify, "--list", str(path)], capture_output=True, text=True).stdout
    assert "signature 1" in listing and "signature 2" in listing
    assert "pebuild TEST Windows (boot manager 2011)" in listing
    assert "pebuild TEST Windows UEFI (boot manager 2023)" in listing
    # the PE checksum covers the table: pebuild's value equals the sample writer's and imagehlp's rule
    lay = pe_layout(both)
    stored = struct.unpack_from("<I", both, lay.checksum_offset)[0]
    assert stored == pe_checksum(both, lay.checksum_offset) == sample_checksum(both, lay.checksum_offset)


def test_tampered_file_fails_the_digest_everywhere(tmp_path: Path) -> None:
    data = bytearray(sign_pe(efi_program("PEBUILD-SAMPLE tamper", "amd64"), _signer("windows-2023-signer")))
    lay = pe_layout(bytes(data))
    data[lay.size_of_headers + 40] ^= 0xFF  # one byte of .text
    path = tmp_path / "bad.efi"
    path.write_bytes(bytes(data))
    sig = read_authenticode(path).signatures[0]
    assert sig.signature_ok and not sig.digest_ok and not sig.valid
    assert "modified" in (sig.problem or "")
    assert inspect_pe(path).signature == "invalid"
    pairs, out = _osslsigncode_digests(path, "-time", IN_2025)
    assert pairs and pairs[0][0] != pairs[0][1], out
    sbverify = require_tool("sbverify")
    proc = subprocess.run(
        [sbverify, "--cert", str(_pem(tmp_path, "windows-uefi-ca-2023")), str(path)], capture_output=True
    )
    assert proc.returncode != 0


def test_boot_security_version_resource() -> None:
    for svn in ((3, 0), (9, 0), (11, 3)):
        data = signed_program("PEBUILD-SAMPLE svn", "amd64", name="bootmgfw.efi", generation="2023", svn=svn)
        assert boot_security_version(data) == svn
        assert inspect_pe(data).version == "10.0.26100.1"  # the version resource still reads
    no_svn = signed_program("PEBUILD-SAMPLE svn", "amd64", name="cdboot.efi", generation="2011", svn=None)
    assert boot_security_version(no_svn) is None
    assert boot_security_version(LAUNCHER.read_bytes()) is None
    assert boot_security_version(b"not a PE") is None


def test_pefile_reads_the_resource_tree_like_windows_does() -> None:
    """Independent of pebuild's reader: pefile's own resource walk finds the named RCDATA entry."""
    import pefile

    data = signed_program("PEBUILD-SAMPLE rsrc", "amd64", name="bootmgfw.efi", generation="2011", svn=(7, 2))
    pe = pefile.PE(data=data)
    names = {
        (t.id, str(n.name)): pe.get_data(n.directory.entries[0].data.struct.OffsetToData, 4)
        for t in pe.DIRECTORY_ENTRY_RESOURCE.entries
        for n in t.directory.entries
        if n.name is not None
    }
    assert names == {(10, "BOOTMGRSECURITYVERSIONNUMBER"): struct.pack("<I", 7 << 16 | 2)}
    assert pe.verify_checksum()


def test_unsigned_and_broken_tables() -> None:
    raw = efi_program("PEBUILD-SAMPLE u", "amd64")
    auth = read_authenticode(raw)
    assert (auth.signed, auth.entries, auth.cert_table) == (False, 0, (0, 0))
    data = bytearray(raw)
    lay = pe_layout(raw)
    struct.pack_into("<II", data, lay.security_entry_offset, len(raw), 16)
    junk = bytes(data) + struct.pack("<IHH", 16, 0x0200, 0x0002) + b"\x30\x03garbage"[:8]
    sig = read_authenticode(junk).signatures[0]
    assert not sig.valid and "unreadable" in (sig.problem or "")
