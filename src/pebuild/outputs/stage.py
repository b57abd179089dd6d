"""All outputs of one command or none: stage beside each target, publish together at the end.

    plan = plan_outputs([Output("iso", iso), Output("pxe", pxe_dir, TREE), Output("manifest", m)])
    with Transaction(plan, OutputOptions(force=False, wait=True)) as tx:   # lock, clean, ownership
        write_iso(..., into=tx.path("iso"))      # staged; the target is untouched
        ...
        tx.publish()                              # the only moment targets change

Entering locks the outputs (pebuild.outputs.lock), removes debris a dead run
left beside them and finishes its publish if it was cut short
(pebuild.outputs.clean), refuses trees pebuild may not replace
(pebuild.outputs.owner) and creates one staging area per output directory.
Until `publish()` nothing outside the staging areas changes, so any error or
interrupt leaves every target exactly as it was and the areas are removed on
the way out. `publish()` marks the trees, gives everything ordinary modes,
fsyncs, writes the journal and then renames, in plan order (the manifest
last), with SIGINT/SIGTERM held back: a few renames, finished once started,
and then reported as a success. If a rename fails the done ones are undone; if
the process dies in between, the next pebuild writing there completes it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pebuild import interrupts
from pebuild.errors import OutputError
from pebuild.fsutil import dir_mode, file_mode, fsync_tree, normalize_modes, start_writeback
from pebuild.outputs.area import (
    BUILD_PREFIX,
    KEPT,
    STAGE_PREFIX,
    Area,
    Step,
    do_step,
    sync_parents,
    undo_steps,
    write_journal,
)
from pebuild.outputs.clean import clean_directory
from pebuild.outputs.lock import OutputLocks, lock_outputs
from pebuild.outputs.owner import check_replaceable, write_marker
from pebuild.outputs.plan import TREE, Output, OutputPlan, check_kind


@dataclass(frozen=True)
class OutputOptions:
    """How a command treats existing outputs and other pebuild runs writing them."""

    force: bool = False  # replace trees pebuild did not write, or that hold other files; replace links
    wait: bool = True  # wait for another pebuild writing the same outputs (False: StateError, exit 7)
    on_wait: Callable[[str], None] | None = None  # told once when waiting starts (the CLI prints it)


class Transaction:
    """Stage every output of `plan` beside its target; `publish()` swaps them all in (see module)."""

    def __init__(self, plan: OutputPlan, options: OutputOptions | None = None) -> None:
        self.plan = plan
        self.options = options or OutputOptions()
        self.locks = OutputLocks()
        self.areas: dict[Path, Area] = {}
        self.published = False
        self._known: dict[str, Mapping[str, Mapping[str, Any]]] = {}
        self._keep_areas = False

    def __enter__(self) -> Transaction:
        opts = self.options
        self.locks = lock_outputs([o.path for o in self.plan.outputs], wait=opts.wait, on_wait=opts.on_wait)
        try:
            for parent in self.plan.parents:
                clean_directory(parent, self.locks)
            for out in self.plan.outputs:
                check_kind(out)  # again: it may have changed while this command waited for the lock
                check_replaceable(out, force=opts.force)
            for parent in self.plan.parents:
                area = self.areas[parent] = Area(parent, STAGE_PREFIX)
                area.out.mkdir()
            for out in self.plan.outputs:
                if out.kind == TREE:
                    self.path(out.role).mkdir(mode=dir_mode())
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        with interrupts.deferred():
            for area in self.areas.values():
                if self._keep_areas:
                    area.unlock()  # it holds the only copy of a previous output: the next run restores it
                else:
                    area.remove()
            self.areas.clear()
            self.locks.release()
            if self.published:
                interrupts.consume()

    def path(self, role: str) -> Path:
        """Where to write the output `role` now: a file path to create, or an empty directory."""
        out = self.plan.get(role)
        return self.areas[out.parent].out / out.name

    def written(self, role: str) -> None:
        """The output `role` is complete: start its writeback now, so the publish's fsync waits less."""
        start_writeback(self.path(role))

    def known_files(self, role: str, entries: list[dict[str, Any]]) -> None:
        """Hashes the caller already has (manifest entries) for the tree `role`'s marker."""
        self._known[role] = {e["path"]: e for e in entries}

    def publish(self) -> None:
        """Mark, normalise and fsync the staged outputs, then rename them all into place, in order."""
        steps = [self._prepare(out) for out in self.plan.outputs]
        with interrupts.deferred():
            write_journal([a.path for a in self.areas.values()], steps)
            done: list[Step] = []
            try:
                for step in steps:
                    do_step(step)
                    done.append(step)
            except OSError as exc:
                failed = steps[len(done)]
                self._keep_areas = not undo_steps(done, failed)
                sync_parents(steps)
                kept = f"; the previous outputs are kept in {failed.old}" if self._keep_areas else ""
                raise OutputError(
                    f"cannot publish: {exc.strerror or exc}{kept}", path=failed.target
                ) from None
            sync_parents(steps)
            self.published = True
            interrupts.mark_landed()

    def _prepare(self, out: Output) -> Step:
        staged = self.path(out.role)
        if not os.path.lexists(staged):
            raise OutputError(f"internal: the {out.role} output was never written", path=staged)
        check_replaceable(out, force=self.options.force)  # nothing appeared in it during the build
        if out.kind == TREE:
            write_marker(staged, out.role, self._known.get(out.role))
            normalize_modes(staged)
            fsync_tree(staged)
        else:
            os.chmod(staged, file_mode())
            fd = os.open(staged, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        area = self.areas[out.parent]
        return Step(out.role, str(out.path), str(staged), str(area.old / out.name))


@contextlib.contextmanager
def build_directory(root: Path, *, keep: bool = False) -> Iterator[Path]:
    """A locked scratch directory `.pebuild-build-<pid>-<token>` in `root`, removed on every exit path.

    `keep` leaves it (marked `kept`, so later runs do not clean it; `pebuild clean` does).
    """
    clean_directory(root)
    area = Area(root, BUILD_PREFIX)
    try:
        yield area.path
    finally:
        with interrupts.deferred():
            if keep:
                with contextlib.suppress(OSError):
                    (area.path / KEPT).write_text("kept with --keep; `pebuild clean` removes it\n")
                area.unlock()
            else:
                area.remove()
