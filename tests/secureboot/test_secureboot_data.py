"""Package data (Microsoft's CAs and dbx JSON) and the dbx readers, against the shared fixtures."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from _helpers import SHARED_DIR
from pebuild.errors import FormatError
from pebuild.secureboot.cas import KNOWN_CAS, microsoft_certificate
from pebuild.secureboot.dbx import SVN_OWNER, add_binary, default_dbx, load_dbx, signature_lists

FIXTURES = SHARED_DIR / "fixtures" / "secureboot"
DATA = resources.files("pebuild.secureboot").joinpath("data")


def _fixture(rel: str) -> Path:
    path = FIXTURES / rel
    if not path.is_file():
        pytest.skip(f"shared fixture {rel} not present (../shared)")
    return path


def test_provenance_lists_every_data_file_with_its_sha256() -> None:
    text = DATA.joinpath("PROVENANCE.txt").read_text()
    rows = re.findall(r"^(\S+\.(?:der|json|txt))\s+.*\s([0-9a-f]{64})$", text, flags=re.M)
    assert len(rows) == 9
    for name, digest in rows:
        assert hashlib.sha256(DATA.joinpath(name).read_bytes()).hexdigest() == digest, name


def test_package_data_is_the_fixture_bytes() -> None:
    pairs = {
        "windows-pca-2011.der": "PreSignedObjects/DB/Certificates/MicWinProPCA2011_2011-10-19.der",
        "windows-uefi-ca-2023.der": "PreSignedObjects/DB/Certificates/windows uefi ca 2023.der",
        "uefi-ca-2023.der": "PreSignedObjects/DB/Certificates/microsoft uefi ca 2023.der",
        "dbx_info_msft_latest.json": "PreSignedObjects/DBX/dbx_info_msft_latest.json",
    }
    for local, rel in pairs.items():
        assert DATA.joinpath(local).read_bytes() == _fixture(rel).read_bytes(), local


def test_known_ca_thumbprints_match_docs() -> None:
    """SHA-1 thumbprints from shared/docs/secureboot.md §1 (computed there with openssl x509)."""
    expected = {
        "windows-pca-2011": "580a6f4cc4e4b669b9ebdc1b2b3e087b80d0678d",
        "windows-uefi-ca-2023": "45a0fa32604773c82433c3b7d59e7466b3ac0c67",
        "uefi-ca-2023": "b5eeb4a6706048073f0ed296e7f580a790b59eaa",
        "option-rom-uefi-ca-2023": "3fb39e2b8bd183bf9e4594e72183ca60afcd4277",
        "uefi-ca-2011": "46def63b5ce61cf8ba0de2e6639c1019d0ed14f3",
    }
    assert {ca.id: microsoft_certificate(ca.id).sha1 for ca in KNOWN_CAS} == expected
    pca = microsoft_certificate("windows-pca-2011")
    assert (
        pca.not_after == "2026-10-19T18:51:42Z"
    )  # expired on this machine's clock; never a reason to refuse


def test_default_dbx_counts() -> None:
    dbx = default_dbx()
    doc = json.loads(DATA.joinpath("dbx_info_msft_latest.json").read_bytes())
    assert len(dbx.images) == len({e["authenticodeHash"] for v in doc["images"].values() for e in v}) > 600
    assert dbx.revoked_sha1 == {
        "580a6f4cc4e4b669b9ebdc1b2b3e087b80d0678d": "CN = Microsoft Windows Production PCA 2011"
    }
    assert dbx.svn == {"bootmgfw": (9, 0), "cdboot": (3, 0), "wdsmgfw": (3, 0)}


def test_signed_dbx_updates_parse_and_agree_with_the_json() -> None:
    json_hashes = set(default_dbx().images)
    lists = signature_lists(_fixture("PostSignedObjects/DBX/amd64/DBXUpdate.bin").read_bytes(), "amd64")
    hashes = {value.hex().upper() for _kind, _owner, value in lists}
    assert len(lists) == len(hashes) == 443 and hashes <= json_hashes
    svn = add_binary(
        default_dbx().__class__(),
        _fixture("PostSignedObjects/Optional/DBX/DBXUpdateSVN.bin").read_bytes(),
        "svn",
    )
    assert svn.svn == {"bootmgfw": (9, 0), "cdboot": (3, 0), "wdsmgfw": (3, 0)}
    revocation = add_binary(
        default_dbx().__class__(),
        _fixture("PostSignedObjects/Optional/DBX/DBXUpdate2024.bin").read_bytes(),
        "2024",
    )
    assert list(revocation.revoked_sha1) == ["580a6f4cc4e4b669b9ebdc1b2b3e087b80d0678d"]
    assert revocation.svn == {"bootmgfw": (2, 0), "cdboot": (2, 0), "wdsmgfw": (2, 0)}
    assert all(
        owner == SVN_OWNER
        for _k, owner, _v in signature_lists(
            _fixture("PostSignedObjects/Optional/DBX/DBXUpdateSVN.bin").read_bytes(), "x"
        )
    )


def test_load_dbx_json_replaces_and_binary_adds(tmp_path: Path) -> None:
    newer = tmp_path / "dbx.json"
    newer.write_text(
        json.dumps(
            {
                "images": {"x64": [{"authenticodeHash": "AB" * 32}]},
                "certificates": [],
                "svns": [
                    {
                        "value": "01612B139DD5598843AB1C185C3CB2EB92" + "0000" + "0A00" + "00" * 11,
                        "filename": "bootmgfw.efi",
                    }
                ],
            }
        )
    )
    replaced = load_dbx(newer)
    assert list(replaced.images) == ["AB" * 32] and replaced.svn == {"bootmgfw": (10, 0)}
    efivarfs = tmp_path / "dbx-d719b2cb-3d3a-4596-a3bc-dad00e67656f"
    lists = _fixture("PostSignedObjects/Optional/DBX/DBXUpdateSVN.bin").read_bytes()
    efivarfs.write_bytes(b"\x27\x00\x00\x00" + lists[16 + int.from_bytes(lists[16:20], "little") :])
    added = load_dbx(efivarfs)
    assert added.images == default_dbx().images and added.svn["bootmgfw"] == (9, 0)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x01" * 100)
    with pytest.raises(FormatError):
        load_dbx(bad)
