"""Real QEMU boots through pebuild.qemu.smoke: each asserts the marker of the exact program that must run.

Media: the sample stubs, an ISO from pebuild.iso (efisys.bin from pebuild.fat), a
PXE tree laid out as design.md says. Markers carry a per-run random suffix so a
stale log or cached image cannot pass.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, load_module, require_tool
from pebuild.qemu import SmokeRequest, find_ovmf, smoke
from pebuild.qemu import watch as watch_module
from pebuild.sample.stubs import bios_program, efi_program

pytestmark = pytest.mark.smoke
decode_png = load_module(Path(__file__).with_name("pngspec_reader.py")).decode_png
RUN = os.urandom(4).hex()
M_ETFS = f"PEBUILD-SAMPLE etfsboot.com {RUN}"
M_BOOTX64 = f"PEBUILD-SAMPLE bootx64.efi {RUN}"
M_N12 = f"PEBUILD-SAMPLE pxeboot.n12 {RUN}"
M_BOOTMGFW = f"PEBUILD-SAMPLE bootmgfw.efi {RUN}"


@pytest.fixture(scope="module")
def qemu() -> str:
    return require_tool("qemu-system-x86_64")


@pytest.fixture(scope="module")
def ovmf(qemu: str) -> None:
    find_ovmf("amd64")  # a ToolError is a failure, not a skip: a pebuild bug could raise it


@pytest.fixture(scope="module")
def dual_iso(tmp_path_factory: pytest.TempPathFactory, qemu: str) -> Path:
    """A BIOS + UEFI El Torito ISO like Windows media, written by pebuild.iso."""
    from pebuild.fat import efisys_image
    from pebuild.iso import IsoRequest, write_iso

    root = tmp_path_factory.mktemp("iso")
    media = root / "media"
    (media / "boot").mkdir(parents=True)
    (media / "boot" / "readme.txt").write_text("sample\n")
    fwfiles = root / "fwfiles"
    fwfiles.mkdir()
    (fwfiles / "etfsboot.com").write_bytes(bios_program(M_ETFS, size=4096))
    (fwfiles / "efisys.bin").write_bytes(efisys_image({"EFI/BOOT/BOOTX64.EFI": efi_program(M_BOOTX64)}))
    out = root / "dual.iso"
    write_iso(IsoRequest(media, out, bios_boot=fwfiles / "etfsboot.com", uefi_boot=fwfiles / "efisys.bin"))
    return out


@pytest.fixture(scope="module")
def pxe_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tftp")
    (root / "Boot" / "x64").mkdir(parents=True)
    (root / "Boot" / "x64" / "pxeboot.n12").write_bytes(bios_program(M_N12, size=25358))
    (root / "Boot" / "x64" / "bootmgfw.efi").write_bytes(efi_program(M_BOOTMGFW))
    return root


def test_bios_iso_runs_etfsboot_and_screenshot_shows_it(dual_iso: Path, tmp_path: Path) -> None:
    shot = tmp_path / "bios.png"
    log = tmp_path / "serial.log"
    result = smoke(
        SmokeRequest(dual_iso, "bios", expect=[f"{M_ETFS} dl=E0"], screenshot=shot, serial_log=log)
    )
    assert result.ok, result.reason
    assert result.screenshot == shot.absolute()
    assert f"{M_ETFS} dl=E0".encode() in log.read_bytes()  # E0: SeaBIOS's first CD drive
    width, height, rgb = decode_png(shot.read_bytes())
    assert (width, height) == (720, 400)  # VGA text mode 80x25 with 9x16 glyphs
    assert rgb != rgb[:3] * (width * height)  # not a single colour


def test_uefi_iso_runs_bootx64_from_efisys(dual_iso: Path, ovmf: None, tmp_path: Path) -> None:
    result = smoke(
        SmokeRequest(dual_iso, "uefi", expect=[f"{M_BOOTX64} fw=EDK II"], serial_log=tmp_path / "s")
    )
    assert result.ok, result.reason
    assert M_ETFS.encode() not in (tmp_path / "s").read_bytes()


@pytest.mark.slow
def test_bios_pxe_runs_pxeboot_n12(pxe_tree: Path, qemu: str) -> None:
    result = smoke(SmokeRequest(pxe_tree, "bios", pxe=True, expect=[f"{M_N12} dl="]))
    assert result.ok, result.reason
    assert result.serial_log is None  # a passing run keeps nothing unless asked


@pytest.mark.slow
def test_uefi_pxe_runs_bootmgfw(pxe_tree: Path, ovmf: None) -> None:
    result = smoke(SmokeRequest(pxe_tree, "uefi", pxe=True, expect=[M_BOOTMGFW]))
    assert result.ok, result.reason


def test_raw_disk_boots_and_is_not_modified(tmp_path: Path, qemu: str) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bios_program(f"PEBUILD-SAMPLE mbr {RUN}", size=1 << 20))
    before = hashlib.sha256(disk.read_bytes()).hexdigest()
    result = smoke(SmokeRequest(str(disk), "bios"))  # type: ignore[arg-type]  # str paths work; default expectation
    assert result.ok, result.reason
    assert hashlib.sha256(disk.read_bytes()).hexdigest() == before


def test_iso_without_boot_entry_fails_with_a_verdict_not_a_timeout(tmp_path: Path, qemu: str) -> None:
    from pebuild.iso import IsoRequest, write_iso

    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "file.txt").write_text("no boot record\n")
    iso = tmp_path / "plain.iso"
    write_iso(IsoRequest(tmp_path / "media", iso))
    result = smoke(SmokeRequest(iso, "bios", expect=[M_ETFS], timeout=60))
    assert not result.ok
    assert "timeout" not in result.reason and "nothing to boot" in result.reason
    assert result.screenshot is not None and result.screenshot.is_file()  # failure keeps the screen
    assert result.serial_log is not None and result.serial_log.is_file()
    assert str(result.serial_log) in result.reason  # the verdict says where to look
    shutil.rmtree(result.serial_log.parent)


def test_uefi_blank_disk_fails_fast_on_firmware_give_up(tmp_path: Path, ovmf: None) -> None:
    disk = tmp_path / "blank.img"
    disk.write_bytes(bytes(1 << 20))
    result = smoke(SmokeRequest(disk, "uefi", expect=[M_BOOTX64], timeout=120, serial_log=tmp_path / "s.log"))
    assert not result.ok
    assert "firmware could not boot the media" in result.reason and "timeout" not in result.reason


def _qemu_pids_for(marker_path: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"pebuild-smoke" in cmdline and str(marker_path).encode() in cmdline:
                pids.append(int(entry.name))
    return pids


def _hang_disk(path: Path) -> Path:
    # jmp $ at 0000:7C00: boots, prints nothing, never stops
    path.write_bytes(b"\xeb\xfe".ljust(510, b"\0") + b"\x55\xaa")
    return path


def test_timeout_kills_qemu(tmp_path: Path, qemu: str) -> None:
    disk = _hang_disk(tmp_path / "hang.img")
    result = smoke(SmokeRequest(disk, "bios", expect=[M_ETFS], timeout=1.5, serial_log=tmp_path / "s.log"))
    assert not result.ok and result.reason.startswith("timeout after 1.5 s")
    assert _qemu_pids_for(disk) == []


def test_ctrl_c_kills_qemu(tmp_path: Path, qemu: str, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = _hang_disk(tmp_path / "hang.img")
    seen: list[list[int]] = []

    def interrupt(seconds: float) -> None:
        pids = _qemu_pids_for(disk)
        if not pids:  # QEMU not exec'd yet: keep polling
            time.sleep(seconds)
            return
        seen.append(pids)
        raise KeyboardInterrupt

    monkeypatch.setattr(watch_module, "_sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        smoke(SmokeRequest(disk, "bios", expect=[M_ETFS], timeout=30))
    assert seen, "QEMU was running when Ctrl-C came"
    assert _qemu_pids_for(disk) == []


def test_cli_json_and_failure_exit(dual_iso: Path, tmp_path: Path, run_pebuild) -> None:
    import json

    proc = run_pebuild("smoke", str(dual_iso), "--firmware", "bios", "--expect", M_ETFS, "--json", check=True)
    data = json.loads(proc.stdout)
    assert data["ok"] is True and M_ETFS in data["markers"] and data["markers"][M_ETFS] > 0
    disk = _hang_disk(tmp_path / "hang.img")
    log = tmp_path / "fail" / "serial.log"
    proc = run_pebuild(
        "smoke", str(disk), "--expect", "never-printed", "--timeout", "1", "--serial-log", str(log)
    )
    assert_one_line_error(proc, expected_code=1)
    assert "timeout after 1 s" in proc.stderr and str(log) in proc.stderr
    assert log.is_file() and (tmp_path / "fail" / "serial-screen.png").is_file()
    proc = run_pebuild("smoke", str(tmp_path / "missing.iso"))
    assert_one_line_error(proc, expected_code=2)


def test_an_error_inside_the_watch_loop_kills_qemu(
    tmp_path: Path, qemu: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = _hang_disk(tmp_path / "hang.img")
    seen: list[list[int]] = []

    def broken(seconds: float) -> None:
        pids = _qemu_pids_for(disk)
        if not pids:
            time.sleep(seconds)
            return
        seen.append(pids)
        raise RuntimeError("bug in the watch loop")

    monkeypatch.setattr(watch_module, "_sleep", broken)
    with pytest.raises(RuntimeError):
        smoke(SmokeRequest(disk, "bios", expect=[M_ETFS], timeout=30))
    assert seen and _qemu_pids_for(disk) == []


def _dev_kvm_answers() -> bool:
    """/dev/kvm opens read-write and answers KVM_GET_API_VERSION with 12 (the stable API), by ioctl."""
    import fcntl

    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, 0xAE00) == 12  # _IO(KVMIO=0xAE, 0x00)
    except OSError:
        return False
    finally:
        os.close(fd)


def _accel_args(command: list[str]) -> list[str]:
    """Every accelerator QEMU is told about: -accel X, -enable-kvm, -machine ...,accel=X."""
    found = [command[i + 1] for i, arg in enumerate(command[:-1]) if arg == "-accel"]
    found += ["kvm" for arg in command if arg == "-enable-kvm"]
    for i, arg in enumerate(command[:-1]):
        if arg in ("-machine", "-M"):
            found += [opt[6:] for opt in command[i + 1].split(",") if opt.startswith("accel=")]
    return found


def test_kvm_auto_never_turns_a_good_boot_bad(dual_iso: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # auto probes KVM with a sample program and keeps TCG when KVM cannot boot it (nested VMs)
    from pebuild.qemu import kvm

    # a fresh probe, with as long to answer as the forced boot below has: a loaded machine must not
    # turn a slow probe into a wrong answer here
    monkeypatch.setattr(kvm, "_probe_cache", {})
    monkeypatch.setattr(kvm, "PROBE_TIMEOUT", 60.0)
    result = smoke(SmokeRequest(dual_iso, "bios", expect=[M_ETFS], kvm="auto"))
    assert result.ok, result.reason
    assert _accel_args(result.command) == [result.accel], result.command  # what QEMU really ran with
    if not _dev_kvm_answers():
        assert result.accel == "tcg"
        return
    # KVM is there: auto must pick it exactly when a forced-KVM boot of the same media works
    forced = smoke(SmokeRequest(dual_iso, "bios", expect=[M_ETFS], kvm="on", timeout=60))
    assert _accel_args(forced.command) == ["kvm"], forced.command
    assert result.accel == ("kvm" if forced.ok else "tcg"), (result.accel, forced.reason)
