"""Servicing on hives Windows wrote (../shared/fixtures/hives), read back with hivex.

SYSTEM is regipy's SYSTEM_B: dirty (sequence numbers 1622/1621), with the SYSTEM.LOG1/LOG2
its repository ships. docs/servicing.md ("Hives Windows left dirty") promises that every
target replays the logs in memory, edits, writes a clean hive and empties the logs. What the
file must hold is computed without pebuild: regipy's own replay of the same logs
(hive_check.regipy_replay), read with hivex, plus the edit. SOFTWARE is regipy's NTUSER.DAT
(the fixtures hold no SOFTWARE hive; any clean Windows-written hive shows the same thing).
A dirty SYSTEM without logs (regipy's SYSTEM_2) is refused and left as it was.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hive_check import check_structure, hivex_tree, hivex_values, reg_sz, regipy_replay

from _helpers import assert_one_line_error, hive_fixture, require_tool

CONFIG = "Windows/System32/config"
INF = Path(__file__).parent / "data" / "inf"
SYSTEM = "regipy-SYSTEM_B"
TCPIP = "ControlSet001\\Services\\Tcpip\\Parameters"  # Select\Current is 1 in SYSTEM_B
EPOCH = 1_700_000_000
STAMP = EPOCH * 10_000_000 + 116_444_736_000_000_000


def dword(n: int) -> tuple[int, bytes]:
    return 4, n.to_bytes(4, "little")


@pytest.fixture(scope="module")
def windows_hives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fixture hives with their logs, and regipy's replay of SYSTEM_B (hivex opens it)."""
    root = tmp_path_factory.mktemp("hives")
    system = hive_fixture(SYSTEM, root)
    software = hive_fixture("regipy-NTUSER.DAT", root, logs=False)
    logs = [root / f"{SYSTEM}.LOG1", root / f"{SYSTEM}.LOG2"]
    assert all(p.stat().st_size for p in logs)
    replayed = regipy_replay(system, logs, root / "SYSTEM.regipy")
    return {"system": system, "software": software, "log1": logs[0], "log2": logs[1], "replayed": replayed}


@pytest.fixture(scope="module")
def baseline(windows_hives: dict[str, Path]) -> dict[str, dict]:
    """hivex's view of the replayed SYSTEM and of SOFTWARE, before any edit."""
    require_tool("hivexregedit")
    return {
        "SYSTEM": hivex_tree(windows_hives["replayed"]),
        "SOFTWARE": hivex_tree(windows_hives["software"]),
    }


@pytest.fixture
def tree(windows_hives: dict[str, Path], tmp_path: Path) -> Path:
    """An extracted image tree whose SYSTEM (with SYSTEM.LOG1/.LOG2) and SOFTWARE Windows wrote."""
    config = tmp_path / "tree" / CONFIG
    config.mkdir(parents=True)
    shutil.copyfile(windows_hives["system"], config / "SYSTEM")
    shutil.copyfile(windows_hives["log1"], config / "SYSTEM.LOG1")
    shutil.copyfile(windows_hives["log2"], config / "SYSTEM.LOG2")
    shutil.copyfile(windows_hives["software"], config / "SOFTWARE")
    (tmp_path / "tree/Windows/System32/startnet.cmd").write_bytes(b"wpeinit\r\n")
    return tmp_path / "tree"


def _values(view: dict) -> dict[str, dict[str, tuple[int, bytes]]]:
    return {key: dict(item.values) for key, item in view.items()}


def _assert_clean_and_logs_emptied(config: Path) -> None:
    check_structure((config / "SYSTEM").read_bytes())  # equal sequence numbers, right checksum
    assert (config / "SYSTEM.LOG1").stat().st_size == 0 and (config / "SYSTEM.LOG2").stat().st_size == 0


def _assert_stamps(after: dict, before: dict, changed: set[str]) -> None:
    """Keys an edit touched carry the build clock; every other key keeps Windows' timestamp."""
    for key, item in after.items():
        if key in changed:
            assert item.mtime == STAMP, key
        else:
            assert item.mtime == before[key].mtime, key


def test_reg_edits_on_a_dirty_windows_system(run_pebuild, tree: Path, baseline, tmp_path: Path) -> None:
    """reg set (through CurrentControlSet), reg import of a UTF-16 .reg with non-ASCII names and
    reg delete of a subtree: hivex sees regipy's replay plus exactly these edits."""
    env = {"SOURCE_DATE_EPOCH": str(EPOCH)}
    tcpip = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"
    run_pebuild(
        "reg", "set", str(tree), tcpip, "DisableDHCPMediaSense", "--type", "dword", "--value", "1",
        check=True, env=env,
    )  # fmt: skip
    reg = tmp_path / "tweak.reg"
    text = (
        "Windows Registry Editor Version 5.00\r\n\r\n"
        "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\Pebuild\\Ünïcødé ключ]\r\n"
        '"Wert"="ü €"\r\n"\U00010438"=dword:00000002\r\n\r\n'
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Pebuild]\r\n@=hex(7):61,00,00,00,00,00\r\n"
    )
    reg.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    run_pebuild("reg", "import", str(tree), str(reg), check=True, env=env)
    gone = f"{TCPIP}\\Adapters"
    run_pebuild("reg", "delete", str(tree), f"HKLM\\SYSTEM\\{gone}", check=True, env=env)

    config = tree / CONFIG
    _assert_clean_and_logs_emptied(config)
    after = hivex_tree(config / "SYSTEM")
    want = _values(baseline["SYSTEM"])
    assert any(k.startswith(gone + "\\") for k in want)
    for key in [k for k in want if k == gone or k.startswith(gone + "\\")]:
        del want[key]
    want[TCPIP]["DisableDHCPMediaSense"] = dword(1)
    new = "ControlSet001\\Control\\Pebuild\\Ünïcødé ключ"
    want["ControlSet001\\Control\\Pebuild"] = {}
    want[new] = {"Wert": (1, reg_sz("ü €")), "\U00010438": dword(2)}
    assert _values(after) == want
    changed = {TCPIP, "ControlSet001\\Control", "ControlSet001\\Control\\Pebuild", new}
    _assert_stamps(after, baseline["SYSTEM"], changed)
    software = _values(hivex_tree(config / "SOFTWARE"))
    assert software.pop("Pebuild") == {"": (7, b"a\0\0\0\0\0")}
    assert software == _values(baseline["SOFTWARE"])


def test_pe_settings_on_windows_hives(run_pebuild, tree: Path, baseline) -> None:
    """DISM /Set-ScratchSpace and /Set-TargetPath land in the Windows-written hives, nothing else."""
    run_pebuild(
        "pe-settings", "set", str(tree), "--scratch-space", "512", "--target-path", "X:\\",
        check=True, env={"SOURCE_DATE_EPOCH": str(EPOCH)},
    )  # fmt: skip
    config = tree / CONFIG
    _assert_clean_and_logs_emptied(config)
    system, software = hivex_values(config / "SYSTEM"), hivex_values(config / "SOFTWARE")
    want = _values(baseline["SYSTEM"])
    fbwf = "ControlSet001\\Services\\FBWF"
    want.setdefault(fbwf, {})["WinPECacheThreshold"] = dword(512)
    assert system == want
    want = _values(baseline["SOFTWARE"])
    for path in ("Microsoft", "Microsoft\\Windows NT", "Microsoft\\Windows NT\\CurrentVersion"):
        want.setdefault(path, {})
    want["Microsoft\\Windows NT\\CurrentVersion\\WinPE"] = {"InstRoot": (1, reg_sz("X:\\"))}
    assert software == want
    shown = json.loads(run_pebuild("pe-settings", "show", str(tree), "--json", check=True).stdout)
    assert (shown["scratch_space"], shown["target_path"]) == (512, "X:\\")


RECIPE = """
[[registry.set]]
key = "HKLM\\\\SYSTEM\\\\CurrentControlSet\\\\Control\\\\MiniNT"
name = "Probe"
type = "multi_sz"
value = ["X:\\\\tools", "ключ"]

[[registry.delete]]
key = "HKLM\\\\SYSTEM\\\\ControlSet001\\\\Services\\\\Tcpip\\\\Parameters"
name = "Hostname"

[pe_settings]
scratch_space = 256
"""


def test_recipe_registry_on_a_wim_with_windows_hives(tree: Path, baseline, tmp_path: Path) -> None:
    """[registry] and [pe_settings] of a recipe applied to a WIM (captured by wimlib-imagex) whose
    SYSTEM is dirty with its logs: the updated WIM holds the clean hive and empty logs."""
    import tomllib

    from pebuild.servicing import SECTIONS, parse_recipe_sections, plan_image_edits
    from pebuild.wim import AddCommand, Wim

    wimlib = require_tool("wimlib-imagex")
    wim_path = tmp_path / "boot.wim"
    subprocess.run(
        [wimlib, "capture", str(tree), str(wim_path), "PE", "--boot"], check=True, capture_output=True
    )
    tables = {k: v for k, v in tomllib.loads(RECIPE).items() if k in SECTIONS}
    plan = parse_recipe_sections(tables, tmp_path / "recipe.toml", lambda _key: None)
    with Wim.open(wim_path, write=True) as wim:
        edits = plan_image_edits(plan, wim=wim, index=1, arch="amd64", workdir=tmp_path / "w", variables={})
        wim.update(
            1, [AddCommand(v if isinstance(v, bytes) else str(v), k) for k, v in sorted(edits.add.items())]
        )
        wim.overwrite()
    out = tmp_path / "out"
    subprocess.run(
        [wimlib, "extract", str(wim_path), "1", f"--dest-dir={out}", "--no-acls"],
        check=True,
        capture_output=True,
    )
    config = out / CONFIG
    _assert_clean_and_logs_emptied(config)
    want = _values(baseline["SYSTEM"])
    assert "Hostname" in want[TCPIP]
    del want[TCPIP]["Hostname"]
    want.setdefault("ControlSet001\\Control\\MiniNT", {})["Probe"] = (
        7,
        reg_sz("X:\\tools") + reg_sz("ключ") + b"\0\0",
    )
    want.setdefault("ControlSet001\\Services\\FBWF", {})["WinPECacheThreshold"] = dword(256)
    assert hivex_values(config / "SYSTEM") == want
    assert hivex_values(config / "SOFTWARE") == _values(baseline["SOFTWARE"])  # untouched


def test_offline_driver_on_a_dirty_windows_system(run_pebuild, tree: Path, baseline) -> None:
    """`driver add --offline` writes the service into the replayed SYSTEM (logs emptied) and
    `driver remove` takes it out again: hivex sees regipy's replay plus the service, then minus it."""
    nic = INF / "good_net_multiarch"
    run_pebuild(
        "driver", "add", str(tree), str(nic), "--offline", "--arch", "amd64",
        check=True, env={"SOURCE_DATE_EPOCH": str(EPOCH)},
    )  # fmt: skip
    config = tree / CONFIG
    _assert_clean_and_logs_emptied(config)
    system = hivex_values(config / "SYSTEM")
    service = system.pop("ControlSet001\\Services\\RTL8139")
    assert {"Type": dword(1), "Start": dword(3), "ErrorControl": dword(1)}.items() <= service.items()
    assert service["ImagePath"] == (2, reg_sz("\\SystemRoot\\System32\\drivers\\rtnet.sys"))
    assert system.pop("ControlSet001\\Services\\RTL8139\\Parameters")["MaxPacketSize"] == dword(0x5EA)
    assert system == _values(baseline["SYSTEM"])
    run_pebuild("driver", "remove", str(tree), "rtnet.inf", check=True)
    assert hivex_values(config / "SYSTEM") == _values(baseline["SYSTEM"])


def test_offline_driver_into_a_wim_with_a_dirty_windows_system(
    run_pebuild, tree: Path, baseline, tmp_path: Path
) -> None:
    """The same in a WIM (captured by wimlib-imagex): one update holds the clean SYSTEM and the
    emptied SYSTEM.LOG1/.LOG2 under their own names."""
    wimlib = require_tool("wimlib-imagex")
    wim = tmp_path / "boot.wim"
    subprocess.run([wimlib, "capture", str(tree), str(wim), "PE"], check=True, capture_output=True)
    run_pebuild(
        "driver", "add", str(wim), str(INF / "good_net_multiarch"), "--offline", "--arch", "amd64", check=True
    )
    out = tmp_path / "out"
    paths = [f"/{CONFIG}/SYSTEM", f"/{CONFIG}/SYSTEM.LOG1", f"/{CONFIG}/SYSTEM.LOG2"]
    subprocess.run(
        [wimlib, "extract", str(wim), "1", *paths, f"--dest-dir={out}", "--no-acls"],
        check=True,
        capture_output=True,
    )
    _assert_clean_and_logs_emptied(out)
    system = hivex_values(out / "SYSTEM")
    assert system.pop("ControlSet001\\Services\\RTL8139")["Start"] == dword(3)
    system.pop("ControlSet001\\Services\\RTL8139\\Parameters")
    assert system == _values(baseline["SYSTEM"])


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def test_dirty_system_without_logs_is_refused_and_untouched(run_pebuild, tmp_path: Path) -> None:
    """regipy's SYSTEM_2 is dirty and ships no logs: every writing command refuses it (exit 5, one
    line naming the hive), nothing in the tree changes; --allow-dirty reads it as it is."""
    require_tool("hivexregedit")
    config = tmp_path / "tree" / CONFIG
    hive_fixture("regipy-SYSTEM_2", config, logs=False).rename(config / "SYSTEM")
    hive_fixture("regipy-NTUSER.DAT", config, logs=False).rename(config / "SOFTWARE")
    tree, before = tmp_path / "tree", _digests(tmp_path / "tree")
    for args in (
        ["reg", "set", str(tree), "HKLM\\SYSTEM\\Select", "Probe", "--type", "dword", "--value", "1"],
        ["pe-settings", "set", str(tree), "--scratch-space", "64"],
        ["driver", "add", str(tree), str(INF / "good_net_multiarch"), "--offline", "--arch", "amd64"],
    ):
        proc = run_pebuild(*args)
        assert_one_line_error(proc, 5)
        assert "SYSTEM" in proc.stderr and "hive is dirty" in proc.stderr, proc.stderr
        assert "no transaction log" in proc.stderr, proc.stderr
        assert _digests(tree) == before, args
    shown = run_pebuild(
        "reg", "query", str(tree), "HKLM\\SYSTEM\\Select", "Current", "--allow-dirty", "--json"
    )
    assert shown.returncode == 0, shown.stderr
    current = hivex_values(config / "SYSTEM")["Select"]["Current"]  # hivex reads the primary file as it is
    assert str(int.from_bytes(current[1], "little")) in shown.stdout
    exported = tmp_path / "select.reg"
    run_pebuild(
        "reg", "export", str(tree), "HKLM\\SYSTEM\\Select", "-o", str(exported), "--allow-dirty", check=True
    )
    text = exported.read_bytes().decode("utf-16")
    assert f'"Current"=dword:{int.from_bytes(current[1], "little"):08x}' in text
    run_pebuild("pe-settings", "show", str(tree), "--allow-dirty", "--json", check=True)
    assert _digests(tree) == before  # reading as it is writes nothing
