"""`pebuild driver add|list|remove` on a mount directory, a WIM, a media tree and a copype tree.

Results are read back with wimlib-imagex (WIM contents) and hivexregedit (the SYSTEM hive of an
--offline install); refusals are one line with the reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, require_tool

INF = Path(__file__).parent / "data" / "inf"


@pytest.fixture(scope="module")
def copype_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pebuild.make import CopypeRequest, copype

    root = tmp_path_factory.mktemp("drv")
    copype(CopypeRequest("amd64", root / "pe", source="sample"))
    return root / "pe"


@pytest.fixture
def pe(copype_tree: Path, tmp_path: Path) -> Path:
    shutil.copytree(copype_tree, tmp_path / "pe")
    return tmp_path / "pe"


@pytest.fixture
def nic(tmp_path: Path) -> Path:
    shutil.copytree(INF / "good_net_multiarch", tmp_path / "nic" / "realtek")
    return tmp_path / "nic"


def wim_text(wim: Path, path: str) -> str:
    return subprocess.run(
        [require_tool("wimlib-imagex"), "extract", str(wim), "1", path, "--to-stdout"],
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8", "replace")


def wim_extract(wim: Path, path: str, dest: Path) -> Path:
    """`path` of image 1 extracted into `dest` by wimlib-imagex; the extracted file."""
    subprocess.run(
        [require_tool("wimlib-imagex"), "extract", str(wim), "1", path, f"--dest-dir={dest}"],
        check=True,
        capture_output=True,
    )
    return dest / path.rsplit("/", 1)[-1]


def wim_dir(wim: Path, path: str) -> list[str]:
    out = subprocess.run(
        [require_tool("wimlib-imagex"), "dir", str(wim), "1", f"--path={path}"],
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


def test_add_list_remove_on_a_mount_directory(run_pebuild, pe: Path, nic: Path) -> None:
    mnt = pe / "mount"
    run_pebuild("mount", str(pe / "media/sources/boot.wim"), str(mnt), check=True)
    proc = run_pebuild("driver", "add", str(mnt), str(nic))  # the INF is one level down
    assert_one_line_error(proc, 2)
    assert "--recurse searches sub-folders" in proc.stderr
    proc = run_pebuild("driver", "add", str(mnt), str(nic), "--recurse", check=True)
    assert proc.stdout == "rtnet.inf (Net, amd64): X:\\Drivers\\rtnet, drvload at boot\n"
    startnet = (mnt / "Windows/System32/startnet.cmd").read_bytes()
    assert startnet == b"wpeinit\r\ndrvload X:\\Drivers\\rtnet\\rtnet.inf\r\nwpeutil InitializeNetwork\r\n"
    staged = sorted(
        p.relative_to(mnt / "Drivers/rtnet").as_posix() for p in (mnt / "Drivers/rtnet").rglob("*.*")
    )
    assert staged == ["amd64/RTNET.SYS", "rtnet.inf", "rtnet64.cat"]  # the amd64 files only
    again = run_pebuild("driver", "add", str(mnt), str(nic / "realtek" / "rtnet.inf"), check=True)
    assert again.stdout == "rtnet: already in the image, unchanged\n"
    listed = json.loads(run_pebuild("driver", "list", str(mnt), "--json", check=True).stdout)
    assert [(d["name"], d["mode"], d["class_name"], d["loaded"]) for d in listed["drivers"]] == [
        ("rtnet", "staged", "Net", True)
    ]
    assert listed["drivers"][0]["version"] == "06/21/2006,6.1.7600.16385" and listed["arch"] == "amd64"
    run_pebuild("driver", "remove", str(mnt), "rtnet", check=True)
    assert not (mnt / "Drivers/rtnet").exists()
    assert b"drvload" not in (mnt / "Windows/System32/startnet.cmd").read_bytes()


def test_add_to_a_wim_media_tree_and_copype_tree(run_pebuild, pe: Path, nic: Path, tmp_path: Path) -> None:
    wim = pe / "media/sources/boot.wim"
    for target in (pe, pe / "media"):
        run_pebuild("driver", "add", str(target), str(nic / "realtek"), check=True)
    # the second add found the package already staged by the first (same WIM)
    assert "drvload X:\\Drivers\\rtnet\\rtnet.inf" in wim_text(wim, "/Windows/System32/startnet.cmd")
    assert wim_text(wim, "/Windows/System32/startnet.cmd").count("drvload") == 1
    assert "RTNET.SYS" in wim_dir(wim, "/Drivers/rtnet/amd64")[-1]
    subprocess.run([require_tool("wimlib-imagex"), "verify", str(wim)], check=True, capture_output=True)
    copy = tmp_path / "b.wim"
    shutil.copy(wim, copy)
    proc = run_pebuild("driver", "add", str(copy), str(nic / "realtek"), "--index", "2")
    assert_one_line_error(proc, 2)
    proc = run_pebuild("driver", "add", str(copy), str(nic / "realtek"), "--arch", "i386")
    assert_one_line_error(proc, 2)
    assert "is an amd64 image (by its system programs), not x86" in proc.stderr


def test_offline_install_is_what_dism_leaves(run_pebuild, pe: Path, nic: Path, kit) -> None:
    wim = pe / "media/sources/boot.wim"
    proc = run_pebuild("driver", "add", str(wim), str(nic / "realtek"), "--offline", "--json", check=True)
    (entry,) = json.loads(proc.stdout)["drivers"]
    assert (entry["name"], entry["mode"]) == ("oem0.inf", "offline")
    assert any("HKR entries: written by PnP" in n for n in entry["notes"])
    assert wim_dir(wim, "/Windows/System32/drivers") == [
        "/Windows/System32/drivers",
        "/Windows/System32/drivers/rtnet.sys",
    ]
    (store,) = [p for p in wim_dir(wim, "/Windows/System32/DriverStore/FileRepository") if p.count("/") == 5]
    assert store.split("/")[-1].startswith("rtnet.inf_amd64_")
    assert wim_text(wim, "/Windows/INF/oem0.inf") == (nic / "realtek/rtnet.inf").read_text()
    out = pe / "x"
    wim_extract(wim, "/Windows/System32/config/SYSTEM", out)
    service = kit.export_blocks(kit.hivex_export(out / "SYSTEM", "\\ControlSet001\\Services\\RTL8139"))
    values = service["[\\ControlSet001\\Services\\RTL8139]"]
    assert {'"Type"=dword:00000001', '"Start"=dword:00000003', '"ErrorControl"=dword:00000001'} <= set(values)
    image_path = "\\SystemRoot\\System32\\drivers\\rtnet.sys\0".encode("utf-16-le")
    assert '"ImagePath"=hex(2):' + ",".join(f"{b:02x}" for b in image_path) in values
    assert '"MaxPacketSize"=dword:000005ea' in service["[\\ControlSet001\\Services\\RTL8139\\Parameters]"]
    listed = json.loads(run_pebuild("driver", "list", str(wim), "--json", check=True).stdout)["drivers"]
    assert [(d["name"], d["inf"]) for d in listed] == [("oem0.inf", "rtnet.inf")]
    run_pebuild("driver", "remove", str(wim), "rtnet.inf", check=True)
    assert (
        wim_dir(wim, "/Windows/INF/oem0.inf") == []
        and wim_dir(wim, "/Windows/System32/drivers/rtnet.sys") == []
    )
    wim_extract(wim, "/Windows/System32/config/SYSTEM", out)
    assert "RTL8139" not in kit.hivex_export(out / "SYSTEM", "\\ControlSet001\\Services")


COMPLEX = [
    ("[ClassInstall32]\nAddReg=x\n", "[classinstall32] installs a class installer"),
    (
        "[RTL8139.ndi.NTamd64.CoInstallers]\nCopyFiles=RTL8139.CopyFiles\n",
        "(coinstallers) needs Windows' device setup",
    ),
    ("[RTL8139.ndi.NTamd64]\nInclude=netvwifibus.inf\n", "Include is not done offline"),
    ("[DestinationDirs]\nRTL8139.CopyFiles = 11\n", "copies outside %12% (System32\\drivers)"),
    (
        "[RTL8139.ndi.NTamd64.Services]\nAddService = RTL8139, 2, RTL8139.Service, RTL8139.EventLog\n",
        "event log section",
    ),
    ("[RTL8139.Service.reg]\nHKCU, Software\\x, y, 0, 1\n", "HKCU entries are not written offline"),
]


@pytest.mark.parametrize(("extra", "reason"), COMPLEX)
def test_what_cannot_be_installed_offline_says_why(
    run_pebuild, pe: Path, tmp_path: Path, extra: str, reason: str
) -> None:
    pkg = tmp_path / "complex"
    shutil.copytree(INF / "good_net_multiarch", pkg)
    inf = pkg / "rtnet.inf"
    text = inf.read_text()
    header = extra.split("\n", 1)[0]
    if header in text:  # replace that section's body
        start = text.index(header)
        end = text.find("\n[", start + 1)
        text = text[:start] + extra + text[end + 1 :]
    else:
        text += "\n" + extra
    inf.write_text(text)
    wim = pe / "media/sources/boot.wim"
    before = wim.read_bytes()
    proc = run_pebuild("driver", "add", str(wim), str(inf), "--offline")
    assert_one_line_error(proc, 3)
    assert "cannot be installed offline" in proc.stderr and reason in proc.stderr, proc.stderr
    assert "stage it instead (no --offline)" in proc.stderr
    assert wim.read_bytes() == before  # nothing written
    run_pebuild("driver", "add", str(wim), str(inf), check=True)  # staging takes it


def test_bad_targets_and_packages_are_one_line(run_pebuild, pe: Path, tmp_path: Path) -> None:
    for args, fragment in (
        ([str(tmp_path / "nowhere"), str(INF)], "target not found"),
        ([str(tmp_path), str(INF)], "neither an image"),
        ([str(pe), str(INF / "bad_not_pe")], "amd64/rtnet.sys is not a PE file"),
        ([str(pe), str(INF / "bad_wrong_arch/amd64only.inf"), "--arch", "x86"], "not x86"),
        ([str(pe), str(INF / "good_storage_amd64"), "--index", "1"], "1"),
    ):
        proc = run_pebuild("driver", "add", *args)
        if fragment == "1":
            assert proc.returncode == 0, proc.stderr  # --index on a copype tree's WIM is fine
            continue
        assert proc.returncode != 0 and fragment in proc.stderr, (args, proc.stderr)
        assert_one_line_error(proc)
    proc = run_pebuild("driver", "remove", str(pe), "nothere")
    assert_one_line_error(proc, 2)
    assert "no driver 'nothere'" in proc.stderr and "nvstor (nvstor.inf)" in proc.stderr


def test_a_readonly_mount_is_refused(run_pebuild, pe: Path, nic: Path) -> None:
    run_pebuild("mount", str(pe / "media/sources/boot.wim"), str(pe / "mount"), "--readonly", check=True)
    proc = run_pebuild("driver", "add", str(pe / "mount"), str(nic / "realtek"))
    assert_one_line_error(proc, 7)
    assert "mounted read-only" in proc.stderr
