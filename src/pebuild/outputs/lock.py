"""One build per output at a time: an flock on `.NAME.pebuild-lock` beside each output.

Two `pebuild make` runs into the same outputs both exited 0 and left ISO/PXE/USB
from one and media/manifest from the other. Now every command that writes an
output holds an exclusive flock(2) on a lock file beside it for its whole run;
the locks of one command are taken in path order (no deadlock between commands
sharing some outputs). A second command waits, told once through `on_wait`,
or, with `wait=False` (`--no-wait`), fails with StateError (exit 7) naming the
holder's pid, which the holder writes into the file.

The kernel drops an flock when its holder dies, even by SIGKILL, so a lock is
never stale. The holder unlinks the file before it lets go; whoever opened the
old file checks after locking that the path still names the same inode and
retries otherwise (the usual lock-file-with-unlink protocol), so no lock files
pile up and `pebuild clean` may remove free ones.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.errors import OutputError, StateError

LOCK_SUFFIX = ".pebuild-lock"

#: lock paths this process holds (a second flock from the same process would wait for itself)
_HELD: set[Path] = set()


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}{LOCK_SUFFIX}"


def holder_pid(path: Path) -> int | None:
    """The pid written into a lock file by its holder, if readable."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot create the output lock: {exc.strerror}", path=path) from None


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def try_lock(path: Path) -> int | None:
    """Take the lock without waiting: the fd, or None when another process holds it."""
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise OutputError(f"cannot lock: {exc.strerror}", path=path) from None
        if _same_file(fd, path):
            return fd
        os.close(fd)  # unlinked by its last holder between our open and our lock: take the new one


def _lock(path: Path, target: Path, wait: bool, on_wait: Callable[[str], None] | None) -> int:
    told = False
    while True:
        fd = try_lock(path)
        if fd is not None:
            return fd
        pid = holder_pid(path)
        who = f"another pebuild (pid {pid})" if pid else "another pebuild"
        if not wait:
            raise StateError(
                f"{who} is writing this output; wait for it, or run again without --no-wait", path=target
            )
        if on_wait is not None and not told:
            on_wait(f"waiting for {who} writing {target} to finish (--no-wait fails instead)")
            told = True
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # interruptible: Ctrl-C raises KeyboardInterrupt here
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)


def _mark_held(fd: int, path: Path) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD.add(path)


def release_lock(fd: int, path: Path) -> None:
    """Unlink while still holding (no one can take a lock on a path about to vanish), then let go."""
    _HELD.discard(path)
    with contextlib.suppress(OSError):
        if _same_file(fd, path):
            os.unlink(path)
    os.close(fd)


@dataclass
class OutputLocks:
    """The locks one command holds; `extend` takes more without waiting (journal recovery)."""

    held: dict[Path, int] = field(default_factory=dict)  # lock path -> fd

    def holds(self, target: Path) -> bool:
        return lock_path(target) in self.held or lock_path(target) in _HELD

    def extend(self, targets: Iterable[Path]) -> bool:
        """Lock `targets` too if all are free now; False (nothing taken) if one is busy."""
        taken: dict[Path, int] = {}
        for target in sorted(set(targets)):
            path = lock_path(target)
            if path in self.held or path in _HELD:
                continue
            fd = try_lock(path)
            if fd is None:
                for p, f in taken.items():
                    release_lock(f, p)
                return False
            _mark_held(fd, path)
            taken[path] = fd
        self.held.update(taken)
        return True

    def release(self) -> None:
        for path, fd in sorted(self.held.items(), reverse=True):
            release_lock(fd, path)
        self.held.clear()


def lock_outputs(
    targets: Iterable[Path], *, wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> OutputLocks:
    """Lock every target (sorted); on any failure the ones taken are released."""
    locks = OutputLocks()
    try:
        for target in sorted(set(targets)):
            path = lock_path(target)
            if path in _HELD:
                raise StateError("this process is already writing this output", path=target)
            fd = _lock(path, target, wait, on_wait)
            _mark_held(fd, path)
            locks.held[path] = fd
    except BaseException:
        locks.release()
        raise
    return locks
