"""Staging areas beside the outputs, the publish journal, and how a publish is done or undone.

A staging area is a directory `.pebuild-stage-<pid>-<token>` in an output's
own parent directory, so publishing is a rename on one file system:

    lock           flock'd by the owning process for the area's whole life
    out/NAME       the staged new output
    old/NAME       the previous output, moved aside during the publish
    journal.json   written (and fsynced) in every area of a command just before
                   the first rename: the ordered steps of the whole publish

The build's scratch directory `.pebuild-build-<pid>-<token>` uses the same lock
(and a `kept` file when `--keep` keeps it). An area whose lock is free belongs
to a dead process: with no journal nothing was published and it is removed;
with a journal the publish was cut short (SIGKILL, power loss) and is finished
(`roll_forward`: every step whose staged output is still there is done) or,
when a staged output is missing, undone (`roll_back`). Either way the outputs
are one complete set again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pebuild.errors import OutputError
from pebuild.fsutil import fsync_dir, write_bytes_atomic
from pebuild.outputs.lock import release_lock, try_lock

STAGE_PREFIX = ".pebuild-stage-"
BUILD_PREFIX = ".pebuild-build-"
LOCK = "lock"
JOURNAL = "journal.json"
KEPT = "kept"
JOURNAL_VERSION = 1
_OWNER = re.compile(r"^\.pebuild-(?:stage|build)-(\d+)-[0-9a-f]+$")


@dataclass(frozen=True)
class Step:
    """Publish one output: target -> old (if it exists), then staged -> target."""

    role: str
    target: str
    staged: str
    old: str


def owner_pid(name: str) -> int | None:
    m = _OWNER.match(name)
    return int(m.group(1)) if m else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Area:
    """A staging area or build directory this process created and holds locked."""

    def __init__(self, parent: Path, prefix: str) -> None:
        token = secrets.token_hex(4)
        self.path = parent / f"{prefix}{os.getpid()}-{token}"
        try:
            self.path.mkdir(mode=0o700)
        except OSError as exc:
            raise OutputError(f"cannot create a staging directory: {exc.strerror}", path=parent) from None
        # locked before it appears under its name: a scan never sees a free lock of a live area
        fd = os.open(self.path / f"{LOCK}.new", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(self.path / f"{LOCK}.new", self.path / LOCK)
        self._lock_fd: int | None = fd

    @property
    def out(self) -> Path:
        return self.path / "out"

    @property
    def old(self) -> Path:
        return self.path / "old"

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the lock file stays: a kept build dir is still an area
            self._lock_fd = None

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            release_lock(self._lock_fd, self.path / LOCK)
            self._lock_fd = None


def claim_dead(path: Path) -> int | None:
    """Lock a foreign area if its owner is gone: the lock fd, else None (alive, or not ours to judge).

    No lock file (an area being created, or one from an older pebuild): judged by
    the pid in its name; a name without one is from an older pebuild, and dead.
    """
    lock = path / LOCK
    try:
        if lock.exists():
            return try_lock(lock)
        pid = owner_pid(path.name)
        if pid is not None and pid_alive(pid):
            return None
        return try_lock(lock) if path.is_dir() else None
    except OutputError:  # removed by its owner meanwhile
        return None


def write_journal(areas: list[Path], steps: list[Step]) -> None:
    data = {"version": JOURNAL_VERSION, "areas": [str(a) for a in areas], "steps": [asdict(s) for s in steps]}
    blob = (json.dumps(data, indent=1) + "\n").encode()
    for area in areas:
        write_bytes_atomic(area / JOURNAL, blob, mode=0o600)


def read_journal(area: Path) -> tuple[list[Path], list[Step]] | None:
    try:
        data: dict[str, Any] = json.loads((area / JOURNAL).read_bytes())
        steps = [Step(**s) for s in data["steps"]]
        return [Path(a) for a in data["areas"]], steps
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError):
        raise OutputError("unreadable publish journal; see `pebuild clean`", path=area / JOURNAL) from None


def do_step(step: Step) -> None:
    os.makedirs(os.path.dirname(step.old), exist_ok=True)
    if os.path.lexists(step.target):
        os.rename(step.target, step.old)
    os.rename(step.staged, step.target)


def undo_steps(done: list[Step], failed: Step | None = None) -> bool:
    """Undo the steps this process did (in order), and the half of `failed`; True if all went back."""
    ok = True
    for step in ([failed] if failed else []) + list(reversed(done)):
        try:
            if step is not failed and os.path.lexists(step.target):
                os.rename(step.target, step.staged)
            if os.path.lexists(step.old) and not os.path.lexists(step.target):
                os.rename(step.old, step.target)
        except OSError:
            ok = False
    return ok


def _first_pending(steps: list[Step]) -> int:
    """Steps run in order, so the first one whose staged output is still there is where it stopped."""
    for i, step in enumerate(steps):
        if os.path.lexists(step.staged):
            return i
    return len(steps)


def roll_forward(steps: list[Step]) -> bool:
    """Finish an interrupted publish; False (nothing touched) if that cannot give a complete set."""
    k = _first_pending(steps)
    if any(not os.path.lexists(s.target) for s in steps[:k]):
        return False  # a new output that was published has vanished since
    for step in steps[k:]:
        if not os.path.lexists(step.staged):
            return False  # a staged output is gone
        if os.path.lexists(step.target) and os.path.lexists(step.old):
            return False  # something new took the place of a moved-aside output
    for step in steps[k:]:
        do_step(step)
    return True


def roll_back(steps: list[Step]) -> None:
    """Put back every previous output that was moved aside; never removes anything without a backup.

    Used only when `roll_forward` cannot complete the set: a step whose old output
    is kept goes back to it; an output that had no predecessor stays.
    """
    k = _first_pending(steps)
    for step in reversed(steps[: k + 1]):
        with contextlib.suppress(OSError):
            if os.path.lexists(step.old):
                if os.path.lexists(step.target) and not os.path.lexists(step.staged):
                    os.rename(step.target, step.staged)
                if not os.path.lexists(step.target):
                    os.rename(step.old, step.target)


def sync_parents(steps: list[Step]) -> None:
    for parent in sorted({os.path.dirname(s.target) for s in steps}):
        fsync_dir(Path(parent))
