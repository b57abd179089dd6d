"""The watch loop of one smoke run: serial patterns, QMP run state, timeout, screenshot."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from pebuild.errors import ToolError
from pebuild.qemu.model import DEFAULT_EXPECT, FAILURE_PATTERNS, SmokeRequest, SmokeResult, _Run
from pebuild.qemu.png import ppm_to_png
from pebuild.qemu.process import connect_qmp, qemu_process, read_serial, strip_ansi
from pebuild.qemu.qmp import Qmp, QmpError

POLL_SERIAL = 0.1
_sleep = time.sleep  # the watch loop's only wait (tests interrupt here)
POLL_STATUS = 0.5
#: seconds a matched line may take to reach its line end (an EMS `SAC>` prompt never does)
SETTLE = 3.0
_FAILURES = [(re.compile(p), why) for p, why in FAILURE_PATTERNS.items()]
#: QEMU messages that mean "your machine lacks something", not "your media is bad"
_ENVIRONMENT_ERRORS = [
    (
        re.compile(r"failed to find romfile \"?([\w.-]+)"),
        "QEMU could not find the NIC ROM {0}: install ipxe-qemu",
    ),
    (re.compile(r"Could not access KVM kernel module[^\n]*|failed to initialize kvm[^\n]*"), "{0}"),
]


class _Watch:
    def __init__(self, req: SmokeRequest, run: _Run, started: float) -> None:
        self.run = run
        self.started = started
        self.expect = req.expect or [DEFAULT_EXPECT]
        self.compiled = [(p, re.compile(p)) for p in self.expect]
        self.markers: dict[str, float] = {}
        self.lines: dict[str, str] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def scan(self) -> str | None:
        """Record newly matched patterns; return a fail-fast reason if the firmware gave up."""
        data = read_serial(self.run.serial_log)
        raw = data.decode("latin-1")
        clean = strip_ansi(data)  # OVMF mixes ANSI escapes in (pitfall 9)
        for pattern, rx in self.compiled:
            if pattern not in self.markers:
                line = _line_of(rx, (clean, raw))
                if line is not None:
                    self.markers[pattern] = self.elapsed()
                    self.lines[pattern] = line
        if self.done():
            return None
        for rx, why in _FAILURES:
            match = rx.search(clean)
            if match:
                return f"{why}: {match.group(0).strip()}"
        return None

    def done(self) -> bool:
        return len(self.markers) == len(self.expect)

    def lines_ended(self) -> bool:
        """Whether each matched line has its line end in the log (the stand-ins print whole facts
        lines; a verdict that compares them must not read one cut off by quitting QEMU)."""
        clean = strip_ansi(read_serial(self.run.serial_log))
        for _pattern, rx in self.compiled:
            match = rx.search(clean)
            if match is not None and not re.search(r"[\r\n]", clean[match.end() :]):
                return False
        return True

    def refresh_lines(self) -> None:
        """Re-read each matched line from the log as it is now: the first match may have seen a
        line QEMU had not finished writing (what the verdict names must be the whole line)."""
        data = read_serial(self.run.serial_log)
        texts = (strip_ansi(data), data.decode("latin-1"))
        for pattern, rx in self.compiled:
            line = _line_of(rx, texts) if pattern in self.markers else None
            if line is not None:
                self.lines[pattern] = line

    def missing(self) -> str:
        return ", ".join(f"'{p}'" for p in self.expect if p not in self.markers)

    def seabios_hint(self) -> str:
        try:
            log = (self.run.workdir / "seabios.log").read_text("latin-1")
        except OSError:
            return ""
        lines = [ln.strip() for ln in log.splitlines() if "Boot failed" in ln or "No bootable device" in ln]
        return f" (SeaBIOS: {lines[-1]})" if lines else ""


def _line_of(rx: re.Pattern[str], texts: tuple[str, str]) -> str | None:
    """The line `rx` matches in the ANSI-stripped log, else in the raw one; None if in neither."""
    for text in texts:
        match = rx.search(text)
        if match:
            return matched_line(text, match)
    return None


def matched_line(text: str, match: re.Match[str]) -> str:
    """The serial line a pattern matched in (what a human looks for), trimmed of control characters."""
    start = max(text.rfind("\n", 0, match.start()), text.rfind("\r", 0, match.start())) + 1
    ends = [i for i in (text.find("\n", match.end()), text.find("\r", match.end())) if i >= 0]
    line = text[start : min(ends) if ends else len(text)]
    line = "".join(ch for ch in line if ch.isprintable()).strip()
    return line[:200] or match.group(0)


def _stderr_reason(path: Path, returncode: int) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        text = ""
    for rx, template in _ENVIRONMENT_ERRORS:
        match = rx.search(text)
        if match:
            raise ToolError(template.format(match.group(1) if rx.groups else match.group(0)))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f"QEMU exited with code {returncode}" + (f": {lines[-1]}" if lines else "")


def _settle(qmp: Qmp, limit: float = 1.0) -> None:
    """Give a program that just printed its marker a moment to finish the screen line and power off."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            if qmp.status() != "running":
                return
        except QmpError:
            return
        time.sleep(0.05)


def _screenshot(qmp: Qmp | None, run: _Run, target: Path | None) -> Path | None:
    if qmp is None or target is None:
        return None
    ppm = run.workdir / "screen.ppm"
    try:
        qmp.execute("screendump", {"filename": str(ppm)})
        target.parent.mkdir(parents=True, exist_ok=True)
        ppm_to_png(ppm, target)
    except (QmpError, OSError):
        return None
    return target


def watch(req: SmokeRequest, run: _Run, cmd: list[str], timeout: float) -> SmokeResult:
    stderr_path = run.workdir / "qemu.err"
    started = time.monotonic()
    state = _Watch(req, run, started)
    reason: str | None = None
    with qemu_process(cmd, stderr_path) as proc:
        qmp = connect_qmp(run, proc)
        next_status = 0.0
        settle_until: float | None = None
        while True:
            reason = state.scan()
            if reason:
                break
            if state.done():
                settle_until = state.elapsed() + SETTLE if settle_until is None else settle_until
                if state.lines_ended() or proc.poll() is not None or state.elapsed() > settle_until:
                    break
                _sleep(POLL_SERIAL)
                continue
            if proc.poll() is not None:
                reason = state.scan() or (
                    None if state.done() else _stderr_reason(stderr_path, proc.returncode)
                )
                break
            if qmp is not None and state.elapsed() >= next_status:
                next_status = state.elapsed() + POLL_STATUS
                try:
                    status = qmp.status()
                except QmpError:
                    status = "unknown"
                if status in ("shutdown", "internal-error", "guest-panicked"):
                    reason = state.scan()
                    if state.done():
                        break
                    reason = (
                        reason
                        or {
                            "shutdown": f"guest powered off or found nothing to boot{state.seabios_hint()}",
                            "internal-error": "QEMU internal error (emulation failure; with --kvm on try --kvm off)",
                            "guest-panicked": "guest panicked",
                        }[status]
                    )
                    break
            if state.elapsed() > timeout:
                reason = f"timeout after {timeout:g} s{state.seabios_hint()}"
                break
            _sleep(POLL_SERIAL)
        seconds = state.elapsed()
        ok = state.done()
        if ok:
            state.refresh_lines()
            reason = "booted: " + ", ".join(
                f"{state.lines.get(p, p)!r} at {t:.1f} s" for p, t in state.markers.items()
            )
        else:
            reason = f"{reason}; not seen: {state.missing()}"
        if ok and req.screenshot and qmp is not None:
            _settle(qmp)
        target = req.screenshot.absolute() if req.screenshot else (None if ok else run.workdir / "screen.png")
        shot = _screenshot(qmp, run, target)
        if qmp is not None:
            try:
                qmp.execute("quit")
                proc.wait(timeout=5)
            except (QmpError, subprocess.TimeoutExpired):
                pass
            qmp.close()
    return SmokeResult(
        ok=ok,
        reason=reason,
        seconds=seconds,
        markers=dict(state.markers),
        serial_log=run.serial_log,
        screenshot=shot,
        command=cmd,
        lines=dict(state.lines),
    )
