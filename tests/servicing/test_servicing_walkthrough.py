"""The seed's walkthrough, end to end (docs/servicing.md "Walkthrough"): copype from the sample,
mount the built boot.wim, add a NIC driver from an INF folder (staged, and a second one offline),
commit, rebuild the ISO from the edited WIM, smoke-boot it. Checked with wimlib-imagex, hivex
(the offline service key) and QEMU."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from _helpers import require_tool

INF = Path(__file__).parent / "data" / "inf"


@pytest.mark.smoke
def test_mount_add_driver_commit_rebuild_and_smoke(run_pebuild, tmp_path: Path, kit) -> None:
    wimlib = require_tool("wimlib-imagex")
    require_tool("qemu-system-x86_64")
    shutil.copytree(INF / "good_net_multiarch", tmp_path / "drivers" / "realtek")
    pe, mnt, iso = tmp_path / "pe", tmp_path / "pe" / "mount", tmp_path / "winpe.iso"

    run_pebuild("copype", "amd64", str(pe), "--source", "sample", check=True)
    run_pebuild("mount", str(pe / "media/sources/boot.wim"), str(mnt), check=True)
    run_pebuild("driver", "add", str(mnt), str(tmp_path / "drivers" / "realtek"), check=True)
    run_pebuild("driver", "add", str(mnt), str(tmp_path / "drivers" / "realtek"), "--offline", check=True)
    listed = json.loads(run_pebuild("driver", "list", str(mnt), "--json", check=True).stdout)["drivers"]
    assert [(d["name"], d["mode"]) for d in listed] == [("rtnet", "staged"), ("oem0.inf", "offline")]
    run_pebuild("commit", str(mnt), check=True)
    boot_wim = pe / "media/sources/boot.wim"
    subprocess.run([wimlib, "verify", str(boot_wim)], check=True, capture_output=True)
    startnet = subprocess.run(
        [wimlib, "extract", str(boot_wim), "1", "/Windows/System32/startnet.cmd", "--to-stdout"],
        check=True,
        capture_output=True,
    ).stdout
    assert startnet == b"wpeinit\r\ndrvload X:\\Drivers\\rtnet\\rtnet.inf\r\nwpeutil InitializeNetwork\r\n"
    subprocess.run(
        [
            wimlib,
            "extract",
            str(boot_wim),
            "1",
            "/Windows/System32/config/SYSTEM",
            f"--dest-dir={tmp_path / 'x'}",
        ],
        check=True,
        capture_output=True,
    )
    service = kit.hivex_export(tmp_path / "x" / "SYSTEM", "\\ControlSet001\\Services\\RTL8139")
    assert '"Start"=dword:00000003' in service

    run_pebuild(
        "iso", str(pe / "media"), str(iso),
        "--bios", str(pe / "fwfiles/etfsboot.com"), "--uefi", str(pe / "fwfiles/efisys.bin"),
        check=True,
    )  # fmt: skip
    proc = run_pebuild("smoke", str(iso), "--json")  # arch and firmware from the media
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["ok"], result["reason"]
    assert (result["arch"], result["firmware"]) == ("amd64", "bios")
    (line,) = result["matched"].values()  # etfsboot.com loaded bootmgr, which read the BCD and ramdisk
    assert line.startswith("PEBUILD-SAMPLE bootmgr bcd=\\Boot\\BCD sha256="), line
    assert line.endswith(f"wim=\\sources\\boot.wim:{boot_wim.stat().st_size}"), line
    xorriso = require_tool("xorriso")
    out = tmp_path / "from-iso.wim"
    subprocess.run(
        [xorriso, "-osirrox", "on", "-indev", str(iso), "-extract", "/sources/boot.wim", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == boot_wim.read_bytes()  # the ISO carries the edited WIM
