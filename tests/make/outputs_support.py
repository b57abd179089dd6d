"""Helpers for the output-set tests: one `pebuild make` with every output, and checks that a set is whole.

A set is whole when the manifest names every output with the sha256 and size
the files on disk have (ISO, USB image, every media and PXE file), the trees'
ownership markers list exactly those files, and nothing of pebuild's lies
beside them (staging areas, build directories, temporary files, `.old-*`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from _helpers import PEBUILD_CMD, REPO_ROOT
from pebuild.fsutil import sha256_file

DRIVER = REPO_ROOT / "tests" / "interrupt_driver.py"
CAPTURE = REPO_ROOT / "recipes" / "capture.toml"
MARKER = ".pebuild-tree.json"


def make_args(out: Path, *extra: str) -> list[str]:
    return [
        "make", "amd64", "--recipe", str(CAPTURE), "--source", "sample",
        "-o", str(out / "a.iso"), "--media-dir", str(out / "media"), "--pxe", str(out / "pxe"),
        "--usb", str(out / "u.img"), "--manifest", str(out / "m.json"), *extra,
    ]  # fmt: skip


def env_for(base: Path, epoch: int, tmpdir: Path | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "SOURCE_DATE_EPOCH": str(epoch),
        "XDG_CACHE_HOME": str(base / "cache"),
        "XDG_STATE_HOME": str(base / "state"),
        "TMPDIR": str(tmpdir or base / "tmp"),
    }


def run_make(out: Path, base: Path, epoch: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEBUILD_CMD, *make_args(out, *extra)],
        capture_output=True,
        text=True,
        env=env_for(base, epoch),
        timeout=300,
    )


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() != MARKER
    }


def debris(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != MARKER)


def whole_set(out: Path) -> int:
    """Assert the outputs in `out` are one complete set (module docstring); return its build time."""
    manifest = json.loads((out / "m.json").read_text())
    outputs = manifest["outputs"]
    for name, key in (("a.iso", "iso"), ("u.img", "usb")):
        assert outputs[key]["sha256"] == sha256_file(out / name), name
        assert outputs[key]["size"] == (out / name).stat().st_size, name
    for key in ("media", "pxe"):
        listed = {e["path"]: e["sha256"] for e in outputs[key]}
        assert listed == _tree(out / key), key
        marker = json.loads((out / key / MARKER).read_text())
        assert {f["path"]: f["sha256"] for f in marker["files"]} == listed, key
    assert debris(out) == [], debris(out)
    return int(manifest["build_time"])


class Driven:
    """`pebuild ARGS` under tests/interrupt_driver.py in its own process group."""

    def __init__(self, args: list[str], env: dict[str, str], *driver_args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), *driver_args, "--", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.events: list[str] = []

    def until_paused(self) -> bool:
        """Read events until the pause; False if the command ended first."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(line)
            if line.startswith("@paused"):
                return True
        return False

    def signal(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def resume(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()
            raise
        self.events.extend(out.splitlines(keepends=True))
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, "".join(self.events), err)


def event_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("@event ")]
