"""The QEMU machine for arm64 media: `qemu-system-aarch64 -machine virt` with AAVMF.

The virt board has no IDE, VGA or BIOS: UEFI firmware (AAVMF, Debian's qemu-efi-aarch64,
edk2's ArmVirtQemu) in two 64 MB pflash banks, a CD on virtio-scsi, a disk and a NIC on
virtio-pci, and `ramfb` as the screen QMP's screendump reads. Boot order is the
device's `bootindex` (AAVMF reads QEMU's fw_cfg boot order; `-boot order=` is x86 only).
TCG emulates a Cortex-A57: ARM64 WinPE and the sample's EFI stand-in need nothing newer.
"""

from __future__ import annotations

import shutil

from pebuild.qemu.firmware import find_ovmf
from pebuild.qemu.model import SmokeRequest, _Run


def _opt(path: object) -> str:
    return str(path).replace(",", ",,")


def virt_args(req: SmokeRequest, run: _Run, kind: str, bootfile: str | None) -> list[str]:
    """Machine, firmware and boot device arguments after the common QEMU head."""
    firmware = find_ovmf("arm64")
    vars_copy = run.workdir / "vars.fd"
    shutil.copyfile(firmware.vars_template, vars_copy)  # the firmware writes Boot#### entries
    cmd = ["-machine", "virt", "-cpu", "cortex-a57", "-device", "ramfb"]
    cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={_opt(firmware.code)}"]
    cmd += ["-drive", f"if=pflash,format=raw,unit=1,file={_opt(vars_copy)}"]
    if kind == "iso":
        cmd += ["-device", "virtio-scsi-pci,id=scsi0"]
        cmd += ["-drive", f"file={_opt(req.media)},media=cdrom,if=none,id=cd0,format=raw,readonly=on"]
        cmd += ["-device", "scsi-cd,drive=cd0,bus=scsi0.0,bootindex=0"]
    elif kind == "disk":
        # snapshot=on: writes go to a temp overlay, the image is never modified
        cmd += ["-drive", f"file={_opt(req.media)},format=raw,if=none,id=hd0,snapshot=on"]
        cmd += ["-device", "virtio-blk-pci,drive=hd0,bootindex=0"]
    else:
        netdev = run.netdev  # dnsmasq in its namespace (netboot.py), else QEMU's own TFTP
        if netdev is None:
            assert bootfile is not None
            netdev = f"user,id=n0,restrict=on,tftp={_opt(req.media.resolve())},bootfile={_opt(bootfile)}"
        cmd += ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,romfile=,bootindex=0"]
    return cmd
