"""End to end: `pebuild make` with a recipe using every servicing table, read back from the built
boot.wim with wimlib-imagex extract + hivexregedit (independent of pebuild)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from _helpers import REPO_ROOT, assert_one_line_error, require_tool

INF = Path(__file__).parent / "data" / "inf"


@pytest.fixture(scope="module")
def adk(tmp_path_factory: pytest.TempPathFactory, kit) -> Path:
    """An ADK-shaped amd64 kit (the builder's test kit) whose winpe.wim holds real hives."""
    wimlib = require_tool("wimlib-imagex")
    sys.path.insert(0, str(REPO_ROOT / "tests" / "source"))
    import pebuild_test_kits as kits

    root = tmp_path_factory.mktemp("kit")
    kits.make_adk(root / "adk", "amd64", root / "work")
    wim = root / "adk" / "Windows Preinstallation Environment" / "amd64" / "en-us" / "winpe.wim"
    hives = root / "hives"
    hives.mkdir()
    cmds = []
    for name, data in (
        ("SYSTEM", kit.make_system_hive()),
        ("SOFTWARE", kit.make_software_hive()),
        ("DEFAULT", kit.make_default_hive()),
    ):
        (hives / name).write_bytes(data)
        cmds.append(f"add '{hives / name}' '/Windows/System32/config/{name}'")
    subprocess.run(
        [wimlib, "update", str(wim), "1"],
        input="\n".join(cmds) + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return root / "adk"


def driver_package(dest: Path) -> Path:
    """The good multi-arch NIC fixture with real PE stand-ins as its .sys files (the builder checks them)."""
    from pebuild.sample.stubs import pe_standin

    pkg = dest / "rtnet"
    shutil.copytree(INF / "good_net_multiarch", pkg)
    (pkg / "x86" / "rtnet.sys").write_bytes(pe_standin("rtnet.sys", "x86"))
    (pkg / "amd64" / "RTNET.SYS").write_bytes(pe_standin("rtnet.sys", "amd64"))
    return pkg


RECIPE = """\
arch = "amd64"
[variables]
server = "wds01"
[startup]
startnet = ["echo deploying from {{ server }}"]
[pe_settings]
scratch_space = 512
target_path = "X:\\\\"
[registry]
import = ["tweaks.reg"]
[[registry.set]]
key = "HKLM\\\\SYSTEM\\\\CurrentControlSet\\\\Control\\\\Pebuild"
name = "Marker"
type = "sz"
value = "built by {{ server }}"
[drivers]
paths = ["drivers"]
[unattend.wds_client]
image_name = "Windows 7 ENTERPRISE"
wipe_disk = true
partitions = [{ size = 100, active = true }, { letter = "C" }]
install_partition = 2
"""


def extract(wim: Path, path: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)  # wimlib-imagex creates only the last level
    subprocess.run(
        [require_tool("wimlib-imagex"), "extract", str(wim), "1", path, f"--dest-dir={dest}", "--no-acls"],
        check=True,
        capture_output=True,
    )
    return dest / Path(path).name


def test_make_applies_servicing(run_pebuild, adk: Path, tmp_path: Path) -> None:
    hivex = require_tool("hivexregedit")
    recipe_dir = tmp_path / "recipe"
    driver_package(recipe_dir / "drivers")
    (recipe_dir / "tweaks.reg").write_text(
        'Windows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Console]\r\n"QuickEdit"=dword:00000001\r\n'
    )
    recipe = recipe_dir / "deploy.toml"
    recipe.write_text(RECIPE)
    media = tmp_path / "media"
    run_pebuild(
        "make",
        "amd64",
        "--recipe",
        str(recipe),
        "--source",
        str(adk),
        "-o",
        str(tmp_path / "out.iso"),
        "--media-dir",
        str(media),
        env={"SOURCE_DATE_EPOCH": "1700000000"},
        check=True,
    )
    boot_wim = media / "sources" / "boot.wim"
    out = tmp_path / "x"

    def export(hive: str, key: str) -> str:
        path = extract(boot_wim, f"/Windows/System32/config/{hive}", out / hive)
        return subprocess.run(
            [hivex, "--export", str(path), key], check=True, capture_output=True, text=True
        ).stdout

    assert '"WinPECacheThreshold"=dword:00000200' in export("SYSTEM", "\\ControlSet001\\Services\\FBWF")
    marker = export("SYSTEM", "\\ControlSet001\\Control\\Pebuild")
    assert '"Marker"=hex(1):' + ",".join(
        f"{b:02x}" for b in "built by wds01\0".encode("utf-16-le")
    ) in marker.replace("\\\n  ", "")
    assert '"InstRoot"=hex(1):58,00,3a,00,5c,00,00,00' in export(
        "SOFTWARE", "\\Microsoft\\Windows NT\\CurrentVersion\\WinPE"
    )
    assert '"QuickEdit"=dword:00000001' in export("DEFAULT", "\\Console")

    startnet = extract(boot_wim, "/Windows/System32/startnet.cmd", out / "s").read_bytes().decode()
    lines = [line for line in startnet.splitlines() if line.strip()]
    assert "drvload X:\\Drivers\\rtnet\\rtnet.inf" in lines
    assert "wpeutil InitializeNetwork" in lines
    assert "echo deploying from wds01" in lines
    assert lines.index("drvload X:\\Drivers\\rtnet\\rtnet.inf") < lines.index("wpeutil InitializeNetwork")
    # drivers load before the recipe's own startnet lines (which may need the network)
    assert lines.index("wpeutil InitializeNetwork") < lines.index("echo deploying from wds01")

    xml = extract(boot_wim, "/WDSClientUnattend.xml", out / "u").read_bytes()
    ns = {"u": "urn:schemas-microsoft-com:unattend"}
    assert (
        ET.fromstring(xml).findtext(".//u:InstallImage/u:ImageName", namespaces=ns) == "Windows 7 ENTERPRISE"
    )
    sys_file = extract(boot_wim, "/Drivers/rtnet/amd64/RTNET.SYS", out / "d")
    assert sys_file.read_bytes()[:2] == b"MZ"
    listing = subprocess.run(
        [require_tool("wimlib-imagex"), "dir", str(boot_wim), "1", "--path=/Drivers"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "x86" not in listing  # only the build arch's files are staged


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ('[drivers]\npaths = ["drivers"]\n', "rtnet.inf: driver is for x86, not amd64"),
        ('optional_components = ["WinPE-WMI"]\n', "Dism /Add-Package"),
        ("[pe_settings]\nscratch_space = 1000\n", "deploy.toml:2:"),
    ],
)
def test_make_refuses_bad_servicing(
    run_pebuild, adk: Path, tmp_path: Path, extra: str, fragment: str
) -> None:
    recipe_dir = tmp_path / "recipe"
    inf = driver_package(recipe_dir / "drivers") / "rtnet.inf"
    inf.write_text(inf.read_text().replace("Realtek, NTx86, NTamd64.6.1", "Realtek, NTx86"))  # x86 only
    recipe = recipe_dir / "deploy.toml"
    recipe.write_text(extra)
    proc = run_pebuild(
        "make", "amd64", "--recipe", str(recipe), "--source", str(adk), "-o", str(tmp_path / "o.iso")
    )
    assert_one_line_error(proc, 3)
    assert fragment in proc.stderr
    assert not (tmp_path / "o.iso").exists()


@pytest.mark.parametrize("arch", ["x86", "amd64"])
def test_shipped_deploy_recipe_on_the_sample_source(run_pebuild, tmp_path: Path, kit, arch: str) -> None:
    """recipes/deploy.toml built from the sample source: its real hives edited, the rest unchanged."""
    media = tmp_path / "media"
    cache = tmp_path / "cache"
    run_pebuild(
        "make",
        arch,
        "--recipe",
        str(REPO_ROOT / "recipes" / "deploy.toml"),
        "--source",
        "sample",
        "-o",
        str(tmp_path / "deploy.iso"),
        "--media-dir",
        str(media),
        env={"SOURCE_DATE_EPOCH": "1700000000", "XDG_CACHE_HOME": str(cache)},
        check=True,
    )
    (source_wim,) = cache.glob(f"pebuild/sample/*/{arch}/**/winpe.wim")
    boot_wim = media / "sources" / "boot.wim"
    for hive, changed_key in (
        ("SYSTEM", "[\\ControlSet001\\Services\\FBWF]"),
        ("SOFTWARE", "[\\Microsoft\\Windows NT\\CurrentVersion\\WinPE]"),
        ("DEFAULT", "[\\Console]"),
    ):
        before = kit.export_blocks(
            kit.hivex_export(extract(source_wim, f"/Windows/System32/config/{hive}", tmp_path / "src" / hive))
        )
        after = kit.export_blocks(
            kit.hivex_export(extract(boot_wim, f"/Windows/System32/config/{hive}", tmp_path / "out" / hive))
        )
        assert {k: v for k, v in after.items() if k != changed_key} == {
            k: v for k, v in before.items() if k != changed_key
        }, hive
        edited = {'"WinPECacheThreshold"', '"InstRoot"', '"QuickEdit"'}
        kept = {line for line in before.get(changed_key, []) if line.split("=")[0] not in edited}
        assert kept <= set(after[changed_key])  # the key's other values survive
        expected = {
            "SYSTEM": '"WinPECacheThreshold"=dword:00000080',
            "SOFTWARE": '"InstRoot"=hex(1):58,00,3a,00,5c,00,00,00',
            "DEFAULT": '"QuickEdit"=dword:00000001',
        }[hive]
        assert expected in after[changed_key]
    startnet = extract(boot_wim, "/Windows/System32/startnet.cmd", tmp_path / "s").read_text()
    assert "/unattend:X:\\WDSClientUnattend.xml" in startnet
    ns = {"u": "urn:schemas-microsoft-com:unattend"}
    client = ET.fromstring(extract(boot_wim, "/WDSClientUnattend.xml", tmp_path / "u").read_bytes())
    assert {c.get("processorArchitecture") for c in client.iter(f"{{{ns['u']}}}component")} == {arch}
    sysprep = extract(boot_wim, "/Deploy/sysprep.inf", tmp_path / "d").read_bytes()
    assert b"ComputerName=%MACHINENAME%\r\n" in sysprep
