"""Pick the accelerator: TCG unless KVM is asked for, or `auto` and a quick probe boots.

/dev/kvm can exist and still be useless for firmware: in nested setups OVMF
dies with "KVM internal error" and SeaBIOS crawls (qemu.md §4). So `auto`
boots a tiny sample program (BIOS disk or an EFI app on a vvfat ESP) under
KVM with a short deadline and keeps KVM only if its marker comes back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pebuild.errors import ToolError

PROBE_TIMEOUT = 15.0
_probe_cache: dict[tuple[str, str], bool] = {}


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def choose_accel(kvm: str, firmware: str, arch: str) -> str:
    if kvm == "off":
        return "tcg"
    if kvm == "on":
        if not kvm_usable():
            raise ToolError("--kvm on, but /dev/kvm is missing or not accessible (use --kvm off or auto)")
        return "kvm"
    if not kvm_usable():
        return "tcg"
    key = (firmware, arch)
    if key not in _probe_cache:
        _probe_cache[key] = probe_kvm(firmware, arch)
    return "kvm" if _probe_cache[key] else "tcg"


def probe_kvm(firmware: str, arch: str = "amd64") -> bool:
    """Boot a marker program under KVM; True only if it prints and powers off in time."""
    from pebuild.qemu.firmware import find_ovmf, find_qemu
    from pebuild.qemu.process import kill_process_group, smm_machine_args
    from pebuild.sample.stubs import bios_program, efi_program

    marker = f"PEBUILD-KVM-PROBE {os.urandom(4).hex()}"
    with tempfile.TemporaryDirectory(prefix="pbk-", dir="/tmp") as tmp:
        work = Path(tmp)
        serial = work / "serial"
        cmd = [str(find_qemu()), "-accel", "kvm", "-nodefaults", "-no-user-config", "-display", "none"]
        cmd += ["-m", "256M", "-no-reboot", "-serial", f"file:{serial}"]
        if firmware == "uefi":
            ovmf = find_ovmf(arch)
            shutil.copyfile(ovmf.vars_template, work / "vars.fd")
            boot = work / "esp" / "EFI" / "BOOT"
            boot.mkdir(parents=True)
            name = "BOOTIA32.EFI" if arch == "x86" else "BOOTX64.EFI"
            (boot / name).write_bytes(efi_program(marker, arch))
            cmd += smm_machine_args(ovmf.requires_smm)
            cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={ovmf.code}"]
            cmd += ["-drive", f"if=pflash,format=raw,unit=1,file={work / 'vars.fd'}"]
            cmd += ["-drive", f"file=fat:rw:{work / 'esp'},format=raw,if=ide"]
        else:
            (work / "disk.img").write_bytes(bios_program(marker, size=65536))
            cmd += ["-drive", f"file={work / 'disk.img'},format=raw,if=ide"]
        err_path = work / "stderr"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        try:
            return _wait_for_marker(proc, serial, err_path, marker.encode())
        finally:
            kill_process_group(proc, grace=1.0)


def _wait_for_marker(proc: subprocess.Popen[bytes], serial: Path, err_path: Path, marker: bytes) -> bool:
    """True once the marker is on the serial port; False at once on a KVM internal error or exit."""
    deadline = time.monotonic() + PROBE_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if marker in serial.read_bytes():
                return True
        with contextlib.suppress(OSError):
            if b"internal error" in err_path.read_bytes():
                return False  # nested KVM emulation failure (qemu.md section 4)
        if proc.poll() is not None:
            with contextlib.suppress(OSError):
                return marker in serial.read_bytes()
            return False
        time.sleep(0.1)
    return False
