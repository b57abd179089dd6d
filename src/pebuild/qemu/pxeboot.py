"""The smoke runner's side of a PXE boot through dnsmasq: session setup, default expectations, verdict.

The runner builds the QEMU command and watches it as for any boot; this module starts the server
side (netboot.py) around it, points QEMU's NIC at the namespace's tap, and afterwards adds to the
verdict what the server saw (every TFTP transfer and HTTP request) and whether the stand-in boot
manager loaded the BCD made for its firmware, with the ramdisk that BCD names.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pebuild.qemu import standin
from pebuild.qemu.model import DEFAULT_EXPECT, SmokeRequest, SmokeResult, _Run
from pebuild.qemu.netboot import Netboot, netboot
from pebuild.qemu.process import read_serial, strip_ansi

_TAIL = r"bcd=\S+ sha256=[0-9a-f]{16} sdi=\S+ wim=\S+[\r\n]"
#: what a PXE boot of the sample's stand-ins prints when the boot manager got its BCD and ramdisk
STANDIN_EXPECT = {
    "bios": rf"PEBUILD-SAMPLE bootmgr\.exe {_TAIL}",
    "uefi": rf"PEBUILD-SAMPLE bootmgfw\.efi pxe file=\S+ {_TAIL}",
}


@dataclass
class PxeSession:
    request: SmokeRequest  # with the default expectation filled in
    server: Netboot

    @property
    def prefix(self) -> list[str]:
        return self.server.qemu_prefix


def default_expect(req: SmokeRequest) -> list[str]:
    if req.expect:
        return list(req.expect)
    if req.http_boot or req.uefi_ipxe:
        return [DEFAULT_EXPECT]  # wimboot / HTTP Boot: the stand-in is not started by firmware PXE
    return [STANDIN_EXPECT[req.firmware]]


@contextlib.contextmanager
def pxe_session(req: SmokeRequest, run: _Run) -> Iterator[PxeSession]:
    """Server side up, `run.netdev` set; torn down (namespaces, links, processes) on leaving."""
    serverdir = run.workdir / "server"
    serverdir.mkdir()
    with netboot(Path(req.media), req.dhcp_mode, serverdir) as server:
        run.netdev = server.netdev
        yield PxeSession(replace(req, expect=default_expect(req)), server)


def finish(session: PxeSession, run: _Run, result: SmokeResult) -> SmokeResult:
    """Add the server's transfers and the stand-in's BCD check to the verdict; keep the logs."""
    req = session.request
    report = session.server.collect()
    serial = strip_ansi(read_serial(run.serial_log))
    result = standin.apply(result, serial, Path(req.media), "pxe", req.firmware)
    result.reason += f"; {report.summary()}"
    result.netboot = report.to_json()
    result.netboot["logs"] = _keep_logs(report.logs, req, result.ok)
    return result


def _keep_logs(logs: dict[str, str], req: SmokeRequest, ok: bool) -> dict[str, str]:
    """Beside --serial-log when given; in a pebuild-smoke-* directory when the boot failed."""
    if req.serial_log is not None:
        target_dir, stem = Path(req.serial_log).absolute().parent, Path(req.serial_log).stem + "-"
    elif not ok:
        target_dir, stem = Path(tempfile.mkdtemp(prefix="pebuild-smoke-netboot-")), ""
    else:
        return {}
    kept = {}
    for name, path in logs.items():
        if Path(path).is_file():
            target = target_dir / f"{stem}{name}.log"
            shutil.copyfile(path, target)
            kept[name] = str(target)
    return kept
