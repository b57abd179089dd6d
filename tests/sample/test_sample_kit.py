"""The sample kit: ADK layout per arch, checked with independent readers (pefile, wimlib-imagex,
hivex, mtools), reproducibility, the cache lock, and the CLI verb."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pefile
import pytest

from _helpers import assert_one_line_error, require_tool
from pebuild.errors import OutputError
from pebuild.sample import build_sample_source, sample_source_path
from pebuild.sample.kit import STAMP

MACHINES = {"x86": 0x14C, "amd64": 0x8664, "arm64": 0xAA64, "ia64": 0x200}
EFI = {"x86": "ia32", "amd64": "x64", "arm64": "aa64", "ia64": "ia64"}
WPE = "Windows Preinstallation Environment"


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kits")
    return {arch: build_sample_source(root / arch, arch) for arch in MACHINES}


def _wim(kit: Path, arch: str) -> Path:
    return kit / WPE / arch / "en-us" / "winpe.wim"


@pytest.mark.parametrize("arch", sorted(MACHINES))
def test_kit_layout_matches_the_adk(kits: dict[str, Path], arch: str) -> None:
    kit = kits[arch]
    media = kit / WPE / arch / "Media"
    expected = [
        f"{WPE}/{arch}/en-us/winpe.wim",
        f"{WPE}/{arch}/Media/bootmgr.efi",
        f"{WPE}/{arch}/Media/EFI/Boot/boot{EFI[arch]}.efi",
        f"{WPE}/{arch}/Media/EFI/Microsoft/Boot/BCD",
        f"{WPE}/{arch}/Media/EFI/Microsoft/Boot/Fonts/wgl4_boot.ttf",
        f"{WPE}/{arch}/Media/Boot/Fonts/wgl4_boot.ttf",
        f"{WPE}/{arch}/Media/Boot/boot.sdi",
        f"{WPE}/{arch}/Media/en-us/bootmgr.efi.mui",
        f"Deployment Tools/{arch}/Oscdimg/efisys.bin",
        f"Deployment Tools/{arch}/Oscdimg/efisys_noprompt.bin",
        f"Deployment Tools/{arch}/DISM/imagex.exe",
        f"Deployment Tools/{arch}/DISM/msxml6.dll",
        f"Deployment Tools/{arch}/DISM/Servicing/pkgmgr.exe",
        "README.txt",
    ]
    bios_only = [
        f"Deployment Tools/{arch}/Oscdimg/etfsboot.com",
        f"{WPE}/{arch}/Media/bootmgr",
        f"{WPE}/{arch}/Media/Boot/BCD",
        f"{WPE}/{arch}/Media/Boot/bootfix.bin",
    ]
    for rel in expected:
        assert (kit / rel).is_file(), rel
    for rel in bios_only:
        assert (kit / rel).is_file() == (arch in ("x86", "amd64")), rel
    assert media.is_dir()
    info = json.loads((kit / STAMP).read_text())
    assert info["arch"] == arch
    assert (
        "not Microsoft" in (kit / "README.txt").read_text()
        or "NOT Microsoft" in (kit / "README.txt").read_text()
    )


@pytest.mark.parametrize("arch", sorted(MACHINES))
def test_every_pe_in_the_kit_has_the_arch_machine(kits: dict[str, Path], arch: str) -> None:
    kit = kits[arch]
    pes = [p for p in kit.rglob("*") if p.suffix.lower() in (".efi", ".exe", ".dll", ".mui")]
    assert len(pes) >= 9
    for path in pes:
        pe = pefile.PE(str(path), fast_load=True)
        assert pe.FILE_HEADER.Machine == MACHINES[arch], path
        if path.suffix.lower() == ".efi":
            assert pe.OPTIONAL_HEADER.Subsystem == 10, path
        if path.name in ("imagex.exe", "pkgmgr.exe", "dism.exe"):
            assert pe.OPTIONAL_HEADER.Subsystem == 3, path


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_efisys_images_hold_the_arch_boot_program(kits: dict[str, Path], arch: str, tmp_path: Path) -> None:
    require_tool("mdir")
    oscdimg = kits[arch] / "Deployment Tools" / arch / "Oscdimg"
    name = f"BOOT{EFI[arch].upper()}.EFI"
    out = {}
    for image in ("efisys.bin", "efisys_noprompt.bin"):
        assert (oscdimg / image).stat().st_size == 1_474_560
        target = tmp_path / image
        subprocess.run(
            ["mcopy", "-n", "-i", str(oscdimg / image), f"::/EFI/BOOT/{name}", str(target)], check=True
        )
        pe = pefile.PE(str(target))
        assert pe.FILE_HEADER.Machine == MACHINES[arch] and pe.OPTIONAL_HEADER.Subsystem == 10
        out[image] = target.read_bytes()
    assert out["efisys.bin"] != out["efisys_noprompt.bin"]


def test_winpe_wim_verifies_and_lists_the_winpe_tree(kits: dict[str, Path]) -> None:
    wimlib = require_tool("wimlib-imagex")
    wim = _wim(kits["amd64"], "amd64")
    subprocess.run([wimlib, "verify", str(wim)], check=True, capture_output=True)
    listing = set(
        subprocess.run(
            [wimlib, "dir", str(wim), "1"], check=True, capture_output=True, text=True
        ).stdout.split("\n")
    )
    for path in (
        "/Windows/System32/startnet.cmd",
        "/Windows/System32/config/SYSTEM",
        "/Windows/System32/config/SOFTWARE",
        "/Windows/System32/config/DEFAULT",
        "/Windows/Boot/PCAT/bootmgr",
        "/Windows/Boot/EFI/bootmgfw.efi",
        "/Windows/Boot/DVD/PCAT/BCD",
        "/Windows/Boot/DVD/PCAT/etfsboot.com",
        "/Windows/Boot/DVD/EFI/BCD",
        "/Windows/Boot/DVD/EFI/boot.sdi",
        "/Windows/Boot/DVD/PCAT/boot.sdi",
        "/Windows/Boot/DVD/EFI/en-US/efisys.bin",
        "/Windows/Boot/DVD/EFI/en-US/efisys_noprompt.bin",
        "/Windows/Boot/PXE/pxeboot.n12",
        "/Windows/Boot/PXE/pxeboot.com",
        "/Windows/Boot/PXE/bootmgr.exe",
        "/Windows/Boot/PXE/abortpxe.com",
        "/Windows/Boot/PXE/wdsnbp.com",
        "/Windows/Boot/Fonts/wgl4_boot.ttf",
        "/Windows/System32/boot/winload.exe",
        "/Windows/System32/boot/winload.efi",
    ):
        assert path in listing, path
    info = subprocess.run([wimlib, "info", str(wim)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Boot Index:\s+1$", info, re.M)
    assert "Microsoft Windows PE (amd64)" in info
    arm = set(
        subprocess.run(
            [wimlib, "dir", str(_wim(kits["arm64"], "arm64")), "1"], capture_output=True, text=True
        ).stdout.split("\n")
    )
    assert "/Windows/Boot/EFI/bootmgfw.efi" in arm and "/Windows/Boot/PXE/pxeboot.n12" not in arm


def _hivexget(hive: Path, key: str, value: str) -> str:
    proc = subprocess.run(["hivexget", str(hive), key, value], check=True, capture_output=True, text=True)
    return proc.stdout.strip()


def test_hives_in_the_wim_open_in_hivex(kits: dict[str, Path], tmp_path: Path) -> None:
    wimlib = require_tool("wimlib-imagex")
    require_tool("hivexregedit")
    subprocess.run(
        [
            wimlib,
            "extract",
            str(_wim(kits["amd64"], "amd64")),
            "1",
            "/Windows/System32/config",
            f"--dest-dir={tmp_path}",
        ],
        check=True,
        capture_output=True,
    )
    config = tmp_path / "config"
    for name in ("SYSTEM", "SOFTWARE", "DEFAULT"):
        export = subprocess.run(
            ["hivexregedit", "--export", str(config / name), "\\"], check=True, capture_output=True, text=True
        )
        assert export.stdout.startswith("Windows Registry Editor Version 5.00")
    assert _hivexget(config / "SYSTEM", "Select", "Current") == "1"
    assert _hivexget(config / "SYSTEM", "ControlSet001\\Services\\FBWF", "WinPECacheThreshold") == "32"
    assert (
        _hivexget(config / "SOFTWARE", "Microsoft\\Windows NT\\CurrentVersion\\WinPE", "InstRoot") == "X:\\"
    )
    keys = subprocess.run(
        ["hivexregedit", "--export", str(config / "SYSTEM"), "\\"], capture_output=True, text=True
    ).stdout
    assert "[\\ControlSet001\\Control\\MiniNT]" in keys


def test_bcd_stores_open_in_hivex(kits: dict[str, Path]) -> None:
    require_tool("hivexregedit")
    media = kits["amd64"] / WPE / "amd64" / "Media"
    for bcd in (media / "Boot" / "BCD", media / "EFI" / "Microsoft" / "Boot" / "BCD"):
        out = subprocess.run(
            ["hivexregedit", "--export", str(bcd), "\\"], check=True, capture_output=True, text=True
        ).stdout
        assert "[\\Objects\\{9dea862c-5cdd-4e70-acc1-f32b344d4795}]" in out  # {bootmgr}


def test_boot_sdi_has_the_microsoft_header_shape(kits: dict[str, Path]) -> None:
    sdi = (kits["arm64"] / WPE / "arm64" / "Media" / "Boot" / "boot.sdi").read_bytes()
    assert len(sdi) == 3_170_304 and sdi[:8] == b"$SDI0001"
    assert sum(sdi[:512]) % 256 == 0  # header checksum rule (formats.md 3.1)
    assert sdi[0x400:0x404] == b"PART"  # first TOC entry: the NTFS ramdisk partition


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(path.relative_to(root).as_posix().encode())
        if path.is_file():
            h.update(path.read_bytes())
        h.update(str(path.stat().st_mtime_ns).encode())
    return h.hexdigest()


def test_kit_is_reproducible(kits: dict[str, Path], tmp_path: Path) -> None:
    again = build_sample_source(tmp_path / "again", "amd64")
    assert _tree_digest(again) == _tree_digest(kits["amd64"])


def test_markers_never_appear_in_plain_text(kits: dict[str, Path]) -> None:
    for path in kits["amd64"].rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for name in ("etfsboot.com", "bootx64.efi", "bootmgfw.efi", "bootmgr"):
                assert f"PEBUILD-SAMPLE {name}".encode() not in data, path


def test_existing_non_empty_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "mine.txt").write_text("keep me\n")
    with pytest.raises(OutputError):
        build_sample_source(tmp_path / "dest", "amd64")
    assert (tmp_path / "dest" / "mine.txt").read_text() == "keep me\n"


def _flock_waiters(path: Path) -> set[int]:
    """PIDs blocked in flock() on `path`: the kernel's '->' lines of /proc/locks for its inode."""
    ino = path.stat().st_ino
    pids = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        waiting = len(fields) >= 7 and fields[1] == "->" and fields[2] == "FLOCK"
        if waiting and int(fields[6].rsplit(":", 1)[1]) == ino:
            pids.add(int(fields[5]))
    return pids


def test_cache_builds_once_under_a_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three builders race; while the test holds the cache lock all three wait in flock() and build nothing."""
    import fcntl
    import time

    from pebuild.sample.kit import cache_root

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = "from pebuild.sample import sample_source_path; print(sample_source_path('x86'))"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    root = cache_root()
    root.mkdir(parents=True)
    lock_path = root / ".x86.lock"
    procs: list[subprocess.Popen[str]] = []
    try:
        with open(lock_path, "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            procs = [
                subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
                for _ in range(3)
            ]
            deadline = time.monotonic() + 60
            while _flock_waiters(lock_path) != {p.pid for p in procs}:
                assert all(p.poll() is None for p in procs), "a builder finished without waiting for the lock"
                assert time.monotonic() < deadline, (
                    "builders not blocked on the lock",
                    _flock_waiters(lock_path),
                )
                time.sleep(0.05)
            assert sorted(p.name for p in root.iterdir()) == [".x86.lock"]  # nothing built meanwhile
        paths = {p.communicate(timeout=120)[0].strip() for p in procs}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs)
    assert len(paths) == 1
    path = Path(paths.pop())
    assert path.parent.parent == tmp_path / "cache" / "pebuild" / "sample"
    stamp = (path / STAMP).stat().st_ino
    assert sample_source_path("x86") == path and (path / STAMP).stat().st_ino == stamp  # not rebuilt
    leftovers = [
        p.name for p in path.parent.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")
    ]
    assert leftovers == []


def test_sample_source_cli(tmp_path: Path, run_pebuild) -> None:
    proc = run_pebuild("sample-source", str(tmp_path / "kit"), "--arch", "arm64", "--json", check=True)
    data = json.loads(proc.stdout)
    assert data["arch"] == "arm64" and Path(data["path"]) == tmp_path / "kit"
    assert (tmp_path / "kit" / WPE / "arm64" / "en-us" / "winpe.wim").is_file()
    run_pebuild("sample-source", str(tmp_path / "kit"), "--arch", "arm64", check=True)  # its own kit
    (tmp_path / "kit" / "notes.txt").write_text("mine")
    again = run_pebuild("sample-source", str(tmp_path / "kit"), "--arch", "arm64")
    assert_one_line_error(again, expected_code=OutputError.exit_code)
    assert "notes.txt" in again.stderr
    bad = run_pebuild("sample-source", str(tmp_path / "k2"), "--arch", "mips")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and not (tmp_path / "k2").exists()
