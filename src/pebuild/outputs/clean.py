"""Debris beside outputs: removed by the next command that writes there, or by `pebuild clean DIR`.

What a command leaves only when it dies without cleaning up (SIGKILL, a crash,
a power loss), each recognised by pebuild's own names and proven dead first:

* `.pebuild-stage-<pid>-<token>/` staging areas: lock free. One holding a
  publish journal is finished or undone first (pebuild.outputs.area), under the
  locks of the outputs it names, so the outputs are one complete set again;
* `.pebuild-build-<pid>-<token>/` build directories: lock free (one kept with
  `--keep` is left to the user, except by `pebuild clean`);
* `.NAME.<pid>-<random>.tmp` temporary files and `.NAME.old-<pid>` trees of
  fsutil's atomic writers: that pid is gone;
* `.NAME.pebuild-lock` output locks nobody holds.

Nothing else is touched, whatever its name.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.errors import OutputError
from pebuild.outputs.area import (
    BUILD_PREFIX,
    KEPT,
    STAGE_PREFIX,
    claim_dead,
    pid_alive,
    read_journal,
    roll_back,
    roll_forward,
    sync_parents,
)
from pebuild.outputs.lock import LOCK_SUFFIX, OutputLocks, release_lock, try_lock

_TMP = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp$")
_OLD = re.compile(r"^\..+\.old-(\d+)$")


@dataclass
class CleanReport:
    """What one pass removed, finished or left alone."""

    removed: list[Path] = field(default_factory=list)  # debris deleted
    finished: list[Path] = field(default_factory=list)  # outputs of an interrupted publish, now published
    undone: list[Path] = field(default_factory=list)  # outputs of an interrupted publish, restored
    busy: list[Path] = field(default_factory=list)  # belongs to a running pebuild: left alone

    def to_json(self) -> dict[str, Any]:
        return {k: [str(p) for p in getattr(self, k)] for k in ("removed", "finished", "undone", "busy")}


def clean_directory(directory: Path, locks: OutputLocks | None = None, *, kept: bool = False) -> CleanReport:
    """Remove pebuild's debris directly in `directory` (see the module docstring).

    `locks`: the calling command's output locks, extended while it recovers a
    journal. `kept`: also remove build directories kept with `--keep`.
    """
    report = CleanReport()
    try:
        names = sorted(e.name for e in os.scandir(directory))
    except FileNotFoundError:
        return report
    except OSError as exc:
        raise OutputError(f"cannot list directory: {exc.strerror}", path=directory) from None
    for name in names:
        path = directory / name
        if path.is_symlink():
            continue
        if name.startswith(STAGE_PREFIX) and path.is_dir():
            _clean_area(path, locks, report)
        elif name.startswith(BUILD_PREFIX) and path.is_dir():
            _clean_build_dir(path, kept, report)
        elif (m := _TMP.match(name) or _OLD.match(name)) and not pid_alive(int(m.group(1))):
            _remove(path, report)
        elif name.endswith(LOCK_SUFFIX) and name.startswith(".") and path.is_file():
            _clean_lock(path)
    return report


def _remove(path: Path, report: CleanReport) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    report.removed.append(path)


def _clean_lock(path: Path) -> None:
    try:
        fd = try_lock(path)
    except OutputError:
        return
    if fd is not None:
        release_lock(fd, path)


def _clean_build_dir(path: Path, kept: bool, report: CleanReport) -> None:
    if (path / KEPT).exists() and not kept:
        return
    fd = claim_dead(path)
    if fd is None:
        report.busy.append(path)
        return
    try:
        _remove(path, report)
    finally:
        os.close(fd)


def _clean_area(path: Path, locks: OutputLocks | None, report: CleanReport) -> None:
    fd = claim_dead(path)
    if fd is None:
        report.busy.append(path)
        return
    try:
        journal = read_journal(path)
        if journal is not None and not _recover(path, journal, locks, report):
            report.busy.append(path)
            return
        _remove(path, report)
    finally:
        os.close(fd)


def _recover(
    here: Path, journal: tuple[list[Path], list[Any]], locks: OutputLocks | None, report: CleanReport
) -> bool:
    """Finish (or undo) a dead command's publish under its outputs' locks; False if one is busy."""
    areas, steps = journal
    targets = [Path(s.target) for s in steps]
    own = locks if locks is not None else OutputLocks()
    if not own.extend(targets):
        return False
    try:
        if roll_forward(steps):
            report.finished.extend(targets)
        else:
            roll_back(steps)
            report.undone.extend(targets)
        sync_parents(steps)
        for area in areas:  # the command's areas in other directories go too (this one: the caller)
            other = claim_dead(area) if area != here and area.is_dir() else None
            if other is not None:
                shutil.rmtree(area, ignore_errors=True)
                os.close(other)
                report.removed.append(area)
    finally:
        if locks is None:
            own.release()
    return True
