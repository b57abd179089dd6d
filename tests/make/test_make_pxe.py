"""`pebuild make --pxe`: every PXE store carries the recipe's whole [bcd] table, and the recipe's
[pxe] table reaches dnsmasq.conf (issue 13). hivexregedit reads the stores, dnsmasq checks the config."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.make import BuildRequest, build

RECIPE = """\
[bcd]
description = "WinPE lab"
timeout = 7
locale = "de-DE"
bootmenupolicy = "standard"
ems = true
ems_port = 2
ems_baud = 57600
loadoptions = "DISABLE_INTEGRITY_CHECKS"

[pxe]
dhcp_mode = "full"
dhcp_range = "10.9.0.100,10.9.0.150,255.255.255.0,2h"
interface = "lab0"
block_size = 1432
window_size = 8
menu_text = "Lab boot"
"""
#: timeout, locale, description, menu policy, loadoptions, bootems, ems, EMS port and baud
BCD_SETTINGS = ("25000004", "12000005", "12000004", "250000c2", "12000030", "16000020", "260000b0",
                "15000022", "15000023")  # fmt: skip


def settings_of(bcd: Path) -> dict[str, set[bytes]]:
    """Element id -> the set of raw values in any object, from hivexregedit's export (not pebuild)."""
    require_tool("hivexregedit")
    out = subprocess.run(["hivexregedit", "--export", str(bcd), "\\"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    found: dict[str, set[bytes]] = {}
    for m in re.finditer(
        r"\\Elements\\([0-9a-f]{8})\]\r?\n\"Element\"=hex\(\d+\):([0-9a-f,\s\\]*)", out, re.IGNORECASE
    ):
        raw = bytes.fromhex(re.sub(r"[,\s\\]", "", m.group(2)))
        found.setdefault(m.group(1).lower(), set()).add(raw)
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("make-pxe")
    recipe = base / "lab.toml"
    recipe.write_text(RECIPE)
    req = BuildRequest(arch="amd64", recipe=recipe, source="sample", media_dir=base / "media",
                       pxe_dir=base / "pxe", timestamp=1_700_000_000)  # fmt: skip
    build(req)
    return base


@pytest.mark.parametrize("media_store, pxe_store", [("boot/bcd", "Boot/x64/BCD"),
                                                    ("efi/microsoft/boot/bcd", "Boot/x64/BCD.efi")])  # fmt: skip
def test_pxe_stores_carry_the_recipes_bcd_table(built: Path, media_store: str, pxe_store: str) -> None:
    media = settings_of(built / "media" / media_store)
    pxe = settings_of(built / "pxe" / pxe_store)
    for element in BCD_SETTINGS:
        assert element in media, element  # the recipe set it, so the ISO store has it
        assert pxe.get(element) == media[element], element
    assert media["25000004"] == {(7).to_bytes(8, "little")}  # timeout 7 s, not the preset's 30
    assert media["12000005"] == {"de-DE\0".encode("utf-16-le")}
    # and the PXE store still has its own TFTP values (35000007 blksize, 35000008 windowsize)
    assert pxe["35000007"] == {(1432).to_bytes(8, "little")} and pxe["35000008"] == {
        (8).to_bytes(8, "little")
    }


def test_recipe_pxe_table_reaches_dnsmasq_conf(built: Path) -> None:
    conf = built / "pxe/conf/dnsmasq.conf"
    body = conf.read_text().splitlines()
    assert "dhcp-range=10.9.0.100,10.9.0.150,255.255.255.0,2h" in body
    assert "interface=lab0" in body and "dhcp-no-override" in body
    assert any(line.startswith("dhcp-option-force=tag:bios,252,") for line in body)
    proc = subprocess.run([require_tool("dnsmasq"), "--test", f"--conf-file={conf}"], capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_a_bad_recipe_range_is_a_usage_error(tmp_path: Path, run_pebuild) -> None:  # type: ignore[no-untyped-def]
    recipe = tmp_path / "bad.toml"
    recipe.write_text('[pxe]\ndhcp_mode = "full"\ndhcp_range = "10.0.0.9,10.0.0.1,12h"\n')
    proc = run_pebuild("make", "amd64", "--recipe", str(recipe), "--source", "sample", "--pxe",
                       str(tmp_path / "pxe"))  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "pebuild: --dhcp-range starts after it ends: 10.0.0.9 > 10.0.0.1"
    assert not (tmp_path / "pxe").exists()
