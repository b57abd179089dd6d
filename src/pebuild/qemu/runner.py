"""Boot media under QEMU and decide from the serial console whether it booted.

One QEMU per run, in its own process group, killed on every way out
(verdict, timeout, error, Ctrl-C). The serial log is polled every 0.1 s for
the expected patterns and for firmware give-up lines (fail fast, qemu.md
pitfall 5); QMP is polled for the run state, takes the screendump and quits.
TCG by default: nested KVM here breaks OVMF and BIOS PXE (qemu.md §4).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from pebuild.errors import BootError, ToolError, UsageError
from pebuild.qemu.firmware import find_nic_rom, find_ovmf, find_qemu
from pebuild.qemu.qmp import Qmp, QmpError

#: what counts as "booted" when no --expect is given: a sample program's marker, the token
#: recipes/smoke.toml's startnet.cmd line writes to COM1 (`PEBUILD-SMOKE ok amd64`), or EMS/SAC's prompt
SMOKE_TOKEN = "PEBUILD-SMOKE"
DEFAULT_EXPECT = rf"PEBUILD-SAMPLE \S+|{SMOKE_TOKEN} \S+|SAC>"

#: serial lines after which the firmware will not boot this media (qemu.md pitfall 5)
FAILURE_PATTERNS = {
    r"BdsDxe: failed to (?:load|start) Boot\d+[^\r\n]*": "firmware could not boot the media",
    r"PXE-E\d\d[^\r\n]*": "PXE error",
    r"UEFI Interactive Shell": "firmware gave up and started the UEFI Shell",
    r"Access Denied": "Secure Boot refused the boot program",
}
#: seconds per boot kind under TCG: ~10x the times measured on a loaded 2-core VM (qemu.md §4)
DEFAULT_TIMEOUTS = {("bios", False): 60, ("uefi", False): 180, ("bios", True): 120, ("uefi", True): 180}
_ANSI = re.compile(rb"\x1b\[[0-9;=?]*[A-Za-z]")
_SIZE = re.compile(r"^\d+[MG]?$")


@dataclass
class SmokeRequest:
    media: Path
    firmware: str = "bios"  # bios | uefi
    pxe: bool = False
    arch: str = "amd64"  # amd64 | x86
    expect: list[str] = field(default_factory=list)
    timeout: float | None = None
    serial_log: Path | None = None
    screenshot: Path | None = None
    memory: str = "512M"
    kvm: str = "off"  # off | on | auto
    bootfile: str | None = None  # PXE: path under the TFTP root


@dataclass
class SmokeResult:
    ok: bool
    reason: str
    seconds: float
    markers: dict[str, float]  # expected regex -> seconds from QEMU start to its first match
    serial_log: Path | None
    screenshot: Path | None
    command: list[str]
    accel: str = "tcg"

    def check(self) -> SmokeResult:
        """Raise BootError carrying the one-line verdict unless the boot passed."""
        if not self.ok:
            raise BootError(self.reason)
        return self

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "markers": {k: round(v, 3) for k, v in self.markers.items()},
            "serial_log": None if self.serial_log is None else str(self.serial_log),
            "screenshot": None if self.screenshot is None else str(self.screenshot),
            "accel": self.accel,
            "command": self.command,
        }


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
    folder = "x86" if req.arch == "x86" else "x64"
    names = ["pxeboot.n12", "pxeboot.com"] if req.firmware == "bios" else ["bootmgfw.efi"]
    for name in names:
        if (req.media / "Boot" / folder / name).is_file():
            return f"Boot/{folder}/{name}"
    raise UsageError(
        f"no PXE boot file in {req.media}: expected Boot/{folder}/{' or '.join(names)} (or --bootfile)"
    )


@dataclass
class _Run:
    """Everything one QEMU run needs on disk; `workdir` is short (AF_UNIX limit, pitfall 8)."""

    workdir: Path
    serial_log: Path
    keep_log: bool

    @property
    def qmp_socket(self) -> Path:
        return self.workdir / "qmp"


def build_command(req: SmokeRequest, run: _Run, accel: str) -> list[str]:
    kind = media_kind(req)
    cmd = [str(find_qemu()), "-accel", accel, "-name", "pebuild-smoke"]
    cmd += ["-nodefaults", "-no-user-config", "-display", "none", "-vga", "std", "-monitor", "none"]
    cmd += ["-m", req.memory, "-no-reboot", "-no-shutdown"]
    cmd += ["-serial", f"file:{_opt(run.serial_log)}"]
    cmd += ["-qmp", f"unix:{_opt(run.qmp_socket)},server=on,wait=off"]
    if req.firmware == "uefi":
        ovmf = find_ovmf(req.arch)
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
        bootfile = pxe_bootfile(req)
        cmd += [
            "-netdev",
            f"user,id=n0,restrict=on,tftp={_opt(req.media.resolve())},bootfile={_opt(bootfile)}",
        ]
        if req.firmware == "bios":
            find_nic_rom("efi-e1000.rom")
            cmd += ["-device", "e1000,netdev=n0"]
        else:
            cmd += ["-device", "virtio-net-pci,netdev=n0,romfile="]  # OVMF's own PXE (qemu.md §3)
        cmd += ["-boot", "order=n,reboot-timeout=0"]
    return cmd


def smm_machine_args(requires_smm: bool) -> list[str]:
    """q35, plus SMM and secure pflash for OVMF builds that need them (Debian's IA32 OVMF)."""
    if not requires_smm:
        return ["-machine", "q35"]
    return ["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"]


def validate(req: SmokeRequest) -> None:
    if req.firmware not in ("bios", "uefi"):
        raise UsageError(f"firmware must be bios or uefi, not {req.firmware!r}")
    if req.arch not in ("amd64", "x86"):
        raise UsageError(f"smoke boots amd64 or x86 media only, not {req.arch!r}")
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
    )
    validate(req)
    media_kind(req)
    from pebuild.qemu.kvm import choose_accel

    accel = choose_accel(req.kvm, req.firmware, req.arch)
    workdir = Path(tempfile.mkdtemp(prefix="pbs-", dir="/tmp"))
    try:
        keep = req.serial_log is not None
        serial_log = req.serial_log.absolute() if keep else workdir / "serial.log"  # type: ignore[union-attr]
        serial_log.parent.mkdir(parents=True, exist_ok=True)
        serial_log.write_bytes(b"")
        run = _Run(workdir, serial_log, keep)
        cmd = build_command(req, run, accel)
        timeout = req.timeout or DEFAULT_TIMEOUTS[(req.firmware, req.pxe)]
        from pebuild.qemu.watch import watch

        result = watch(req, run, cmd, timeout)
        result.accel = accel
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


def read_serial(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def strip_ansi(data: bytes) -> str:
    return _ANSI.sub(b"", data).decode("latin-1")


@contextlib.contextmanager
def qemu_process(cmd: list[str], stderr_path: Path):
    """Start QEMU in its own session; on leaving, quit it and kill its whole process group."""
    with open(stderr_path, "wb") as err:
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True
            )
        except OSError as exc:
            raise ToolError(f"cannot start {cmd[0]}: {exc.strerror}") from None
    try:
        yield proc
    finally:
        try:
            kill_process_group(proc)
        except BaseException:
            # a second Ctrl-C during the polite shutdown: no more waiting
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise


def kill_process_group(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # children of QEMU (none expected) go with the group
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def connect_qmp(run: _Run, proc: subprocess.Popen[bytes]) -> Qmp | None:
    qmp = Qmp(run.qmp_socket)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            return None
        try:
            qmp.connect(min(deadline, time.monotonic() + 0.5))
            return qmp
        except QmpError:
            if time.monotonic() > deadline:
                return None
