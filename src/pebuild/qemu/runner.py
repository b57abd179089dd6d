"""Boot media under QEMU and decide from the serial console whether it booted.

One QEMU per run, in its own process group, killed on every way out
(verdict, timeout, error, Ctrl-C). The serial log is polled every 0.1 s for
the expected patterns and for firmware give-up lines (fail fast, qemu.md
pitfall 5); QMP is polled for the run state, takes the screendump and quits.
TCG by default: nested KVM here breaks OVMF and BIOS PXE (qemu.md §4).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from pebuild.errors import ToolError, UsageError
from pebuild.qemu.aarch64 import virt_args
from pebuild.qemu.detect import resolve_media
from pebuild.qemu.firmware import find_nic_rom, find_ovmf, find_qemu, find_secure_boot_ovmf
from pebuild.qemu.kvm import choose_accel
from pebuild.qemu.model import DEFAULT_TIMEOUTS, SmokeRequest, SmokeResult, _Run
from pebuild.qemu.process import read_serial, smm_machine_args, strip_ansi
from pebuild.qemu.watch import watch

_SIZE = re.compile(r"^\d+[MG]?$")


def _opt(path: Path | str) -> str:
    """A path inside a QEMU -option value: commas are doubled."""
    return str(path).replace(",", ",,")


def media_kind(req: SmokeRequest) -> str:
    """'pxe' (TFTP root directory), 'iso' (ISO 9660 signature at 0x8001) or 'disk' (raw image)."""
    if req.pxe:
        if not req.media.is_dir():
            raise UsageError(f"--pxe needs a TFTP root directory, not {req.media}")
        return "pxe"
    if not req.media.is_file():
        raise UsageError(f"media not found or not a file: {req.media}")
    with open(req.media, "rb") as fh:
        fh.seek(0x8001)
        return "iso" if fh.read(5) == b"CD001" else "disk"


def pxe_bootfile(req: SmokeRequest) -> str:
    """The NBP slirp's DHCP names: design.md's layout unless `bootfile` overrides."""
    if req.bootfile:
        name = req.bootfile.replace("\\", "/").lstrip("/")
        if not (req.media / name).is_file():
            raise UsageError(f"PXE boot file {name} not found under {req.media}")
        return name
    folder = {"x86": "x86", "arm64": "arm64"}.get(req.arch or "amd64", "x64")
    names = ["pxeboot.n12", "pxeboot.com"] if req.firmware == "bios" else ["bootmgfw.efi"]
    for name in names:
        if (req.media / "Boot" / folder / name).is_file():
            return f"Boot/{folder}/{name}"
    raise UsageError(
        f"no PXE boot file in {req.media}: expected Boot/{folder}/{' or '.join(names)} (or --bootfile)"
    )


def build_command(req: SmokeRequest, run: _Run, accel: str) -> list[str]:
    kind = media_kind(req)
    if req.arch is None or req.firmware is None:
        req = resolve_media(req, kind)[0]
    cmd = [str(find_qemu(req.arch or "amd64")), "-accel", accel, "-name", "pebuild-smoke"]
    cmd += ["-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none"]
    cmd += ["-m", req.memory, "-no-reboot", "-no-shutdown"]
    cmd += ["-serial", f"file:{_opt(run.serial_log)}"]
    cmd += ["-qmp", f"unix:{_opt(run.qmp_socket)},server=on,wait=off"]
    if req.arch == "arm64":
        bootfile = pxe_bootfile(req) if kind == "pxe" and run.netdev is None else None
        return cmd + virt_args(req, run, kind, bootfile)
    cmd += ["-vga", "std"]
    if req.firmware == "uefi":
        ovmf = find_secure_boot_ovmf(req.vars) if req.secure_boot else find_ovmf(req.arch or "amd64")
        vars_copy = run.workdir / "vars.fd"
        shutil.copyfile(ovmf.vars_template, vars_copy)  # OVMF writes Boot#### entries (pitfall 3)
        cmd += smm_machine_args(ovmf.requires_smm)
        cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={_opt(ovmf.code)}"]
        cmd += ["-drive", f"if=pflash,format=raw,unit=1,file={_opt(vars_copy)}"]
    else:
        cmd += ["-machine", "pc"]
        # SeaBIOS's own log ("Booting from DVD/CD...") for a human reading a failure
        cmd += ["-chardev", f"file,id=dbg,path={_opt(run.workdir / 'seabios.log')}"]
        cmd += ["-device", "isa-debugcon,iobase=0x402,chardev=dbg"]
    if kind == "iso":
        cmd += ["-drive", f"file={_opt(req.media)},media=cdrom,format=raw,readonly=on,if=ide"]
        cmd += ["-boot", "order=d,reboot-timeout=0"]
    elif kind == "disk":
        # snapshot=on: writes go to a temp overlay, the image is never modified
        cmd += ["-drive", f"file={_opt(req.media)},format=raw,if=ide,snapshot=on"]
        cmd += ["-boot", "order=c,reboot-timeout=0"]
    else:
        if run.netdev is not None:
            cmd += ["-netdev", run.netdev]  # dnsmasq hands out the boot file (netboot.py)
        else:
            bootfile = pxe_bootfile(req)
            cmd += [
                "-netdev",
                f"user,id=n0,restrict=on,tftp={_opt(req.media.resolve())},bootfile={_opt(bootfile)}",
            ]
        if req.http_boot:
            # OVMF's PXE off (fw_cfg knobs of OvmfPkg), so BdsDxe tries its HTTPv4 boot option first
            cmd += ["-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n"]
            cmd += ["-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n"]
        if req.firmware == "bios" or req.uefi_ipxe:
            find_nic_rom("efi-e1000.rom")
            cmd += ["-device", "e1000,netdev=n0"]
        else:
            cmd += ["-device", "virtio-net-pci,netdev=n0,romfile="]  # OVMF's own PXE (qemu.md §3)
        cmd += ["-boot", "order=n,reboot-timeout=0"]
    return cmd


def _use_dnsmasq(req: SmokeRequest, warnings: list[str]) -> bool:
    """Real server (netboot.py) unless asked for slirp or not allowed; slirp then only with a warning."""
    if req.pxe_server == "slirp":
        return False
    if not (Path(req.media) / "conf" / "dnsmasq.conf").is_file():
        if req.pxe_server == "dnsmasq":
            raise UsageError(f"{req.media} has no conf/dnsmasq.conf: not a tree written by pebuild pxe")
        warnings.append(f"{req.media} has no conf/dnsmasq.conf: booting through QEMU's built-in TFTP")
        return False
    from pebuild.qemu.netboot import available

    why = available()
    if why is None:
        return True
    if req.pxe_server == "dnsmasq":
        raise ToolError(f"cannot run dnsmasq for the PXE boot: {why}")
    warnings.append(
        f"{why}: booting through QEMU's built-in TFTP instead, which cannot serve the backslash paths "
        "Microsoft's loaders request (this proves nothing about the tree's dnsmasq.conf)"
    )
    return False


def validate(req: SmokeRequest) -> None:
    if req.firmware not in ("bios", "uefi", None):
        raise UsageError(f"firmware must be bios or uefi, not {req.firmware!r}")
    if req.arch not in ("amd64", "x86", "arm64", None):
        raise UsageError(
            f"smoke boots amd64, x86 and arm64 media, not {req.arch!r} (QEMU has no IA-64 system emulator)"
        )
    if req.arch == "arm64" and req.firmware == "bios":
        raise UsageError("arm64 media boot by UEFI only: use --firmware uefi (or leave it out)")
    if req.pxe_server not in ("auto", "dnsmasq", "slirp") or req.dhcp_mode not in ("full", "proxy"):
        raise UsageError("PXE server must be auto, dnsmasq or slirp and DHCP mode full or proxy")
    if (req.uefi_ipxe or req.http_boot) and req.firmware not in ("uefi", None):
        raise UsageError("--uefi-ipxe and --http-boot are UEFI boots (--firmware uefi)")
    if req.kvm not in ("off", "on", "auto"):
        raise UsageError(f"kvm must be off, on or auto, not {req.kvm!r}")
    if req.timeout is not None and req.timeout <= 0:
        raise UsageError("timeout must be positive")
    if not _SIZE.match(req.memory):
        raise UsageError(f"memory must look like 512M or 2G, not {req.memory!r}")
    for pattern in req.expect:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"bad --expect regex {pattern!r}: {exc}") from None
    if req.secure_boot and (req.firmware not in ("uefi", None) or req.arch not in ("amd64", None)):
        raise UsageError("--secure-boot needs --firmware uefi and --arch amd64 (OVMF_CODE_4M.secboot.fd)")
    if req.screenshot is not None and req.screenshot.suffix.lower() != ".png":
        raise UsageError(f"screenshot must be a .png file: {req.screenshot}")


def smoke(req: SmokeRequest) -> SmokeResult:
    """Boot `req.media` and return the verdict. Environment problems raise ToolError/UsageError."""
    req = replace(
        req,
        media=Path(req.media),
        expect=[req.expect] if isinstance(req.expect, str) else list(req.expect),
        serial_log=None if req.serial_log is None else Path(req.serial_log),
        screenshot=None if req.screenshot is None else Path(req.screenshot),
        vars=None if req.vars is None else Path(req.vars),
    )
    if req.secure_boot and req.firmware is None:  # Secure Boot is a UEFI boot, even of dual media
        req = replace(req, firmware="uefi")
    validate(req)
    req, profile = resolve_media(req, media_kind(req))
    validate(req)
    if req.arch == "arm64":  # no KVM for an AArch64 guest on this host: TCG, or say why not
        if req.kvm == "on":
            raise UsageError("--kvm on: an arm64 guest runs under TCG on this host (use --kvm off)")
        req = replace(req, kvm="off")
    accel = choose_accel(req.kvm, req.firmware or "bios", req.arch or "amd64")
    warnings: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="pbs-", dir="/tmp"))
    try:
        keep = req.serial_log is not None
        serial_log = req.serial_log.absolute() if keep else workdir / "serial.log"  # type: ignore[union-attr]
        serial_log.parent.mkdir(parents=True, exist_ok=True)
        serial_log.write_bytes(b"")
        run = _Run(workdir, serial_log, keep)
        timeout = req.timeout or DEFAULT_TIMEOUTS[(req.firmware or "bios", req.pxe)]
        if req.pxe and _use_dnsmasq(req, warnings):
            from pebuild.qemu.pxeboot import finish, pxe_session

            with pxe_session(req, run) as session:
                cmd = session.prefix + build_command(session.request, run, accel)
                result = watch(session.request, run, cmd, timeout)
            result = finish(session, run, result)
        else:
            from pebuild.qemu.standin import apply

            cmd = build_command(req, run, accel)
            result = watch(req, run, cmd, timeout)
            serial = strip_ansi(read_serial(serial_log))
            result = apply(result, serial, req.media, media_kind(req), req.firmware or "bios")
        result.accel = accel
        result.arch, result.firmware, result.media = req.arch, req.firmware, profile
        result.warnings = warnings + result.warnings
        if not result.ok:
            # a failed boot keeps its serial log and screen for the human who reads the verdict
            kept_dir = serial_log.parent if keep else Path(tempfile.mkdtemp(prefix="pebuild-smoke-"))
            if not keep:
                shutil.copyfile(serial_log, kept_dir / "serial.log")
                result.serial_log = kept_dir / "serial.log"
            if result.screenshot is not None and result.screenshot.parent == workdir:
                kept_shot = kept_dir / f"{serial_log.stem}-screen.png" if keep else kept_dir / "screen.png"
                shutil.move(result.screenshot, kept_shot)
                result.screenshot = kept_shot
            kept = ", ".join(str(p) for p in (result.serial_log, result.screenshot) if p is not None)
            result.reason += f" (kept {kept})"
        elif not keep:
            result.serial_log = None
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
