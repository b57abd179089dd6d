"""QEMU as a process: start it in its own session, read its serial log, reach QMP, kill the group.

Shared by the smoke runner, its watch loop and the KVM probe (below all three).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from pebuild.errors import ToolError
from pebuild.qemu.model import _Run
from pebuild.qemu.qmp import Qmp, QmpError

_ANSI = re.compile(rb"\x1b\[[0-9;=?]*[A-Za-z]")


def smm_machine_args(requires_smm: bool) -> list[str]:
    """q35, plus SMM and secure pflash for OVMF builds that need them (Debian's IA32 OVMF)."""
    if not requires_smm:
        return ["-machine", "q35"]
    return ["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"]


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
