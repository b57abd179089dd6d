"""A minimal QMP client (QEMU Machine Protocol, JSON lines over a unix socket).

Used for what the serial console cannot tell: the run state (`query-status`:
`shutdown`, `internal-error`, `guest-panicked`), the screendump, and `quit`.
Events arriving between replies are kept in `events`.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any


class QmpError(Exception):
    """QMP unavailable or answered with an error (internal to pebuild.qemu)."""


class Qmp:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    def connect(self, deadline: float) -> None:
        """Connect and negotiate capabilities; retry until `deadline` (monotonic) while QEMU starts."""
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(str(self.path))
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"cannot connect to QMP socket {self.path}") from None
                time.sleep(0.05)
        self.sock = sock
        greeting = self._read_message()
        if "QMP" not in greeting:
            raise QmpError(f"unexpected QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def _read_message(self) -> dict[str, Any]:
        assert self.sock is not None
        while b"\n" not in self._buffer:
            try:
                data = self.sock.recv(65536)
            except OSError as exc:
                raise QmpError(f"QMP read failed: {exc}") from None
            if not data:
                raise QmpError("QMP connection closed")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        if self.sock is None:
            raise QmpError("QMP not connected")
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError as exc:
            raise QmpError(f"QMP write failed: {exc}") from None
        while True:
            reply = self._read_message()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QmpError(f"{command}: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return")

    def status(self) -> str:
        return str(self.execute("query-status").get("status", "unknown"))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
