"""Turning pebuild's update commands into one `wimlib_update_command` array.

Kept apart from `Wim` so the marshalling (strings that must outlive the
call, bytes staged as files, parents created with the build time) reads on
its own; `Wim.update` runs the array as ONE wimlib_update_image() call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pebuild.errors import UsageError
from pebuild.fsutil import normalize_image_path
from pebuild.wim import _libwim as L
from pebuild.wim.config import CaptureConfig
from pebuild.wim.model import AddCommand, DeleteCommand, RenameCommand, UpdateCommand


def wim_path(path: str) -> bytes:
    """An image path as wimlib takes it: '/a/b' (accepts '\\' and a leading slash)."""
    return L.encode("/" + normalize_image_path(path))


def plan_with_parents(
    cmds: list[UpdateCommand], exists: Callable[[str], bool], make_dir: Callable[[], Path]
) -> list[UpdateCommand]:
    """Insert explicit adds for missing parent directories (libwim would stamp them `now`).

    `exists(path)` asks the image; `make_dir()` returns an empty local directory
    carrying the build time.
    """
    known: dict[str, bool] = {"": True}

    def present(p: str) -> bool:
        key = p.casefold()
        if key not in known:
            known[key] = exists(p)
        return known[key]

    plan: list[UpdateCommand] = []
    for cmd in cmds:
        if isinstance(cmd, AddCommand):
            parts = normalize_image_path(cmd.target).split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if not present(parent):
                    plan.append(AddCommand(make_dir(), parent))
                    known[parent.casefold()] = True
            known[normalize_image_path(cmd.target).casefold()] = True
        elif isinstance(cmd, RenameCommand):
            known.pop(normalize_image_path(cmd.target).casefold(), None)
            known.pop(normalize_image_path(cmd.source).casefold(), None)
        elif isinstance(cmd, DeleteCommand):
            known = {
                k: v
                for k, v in known.items()
                if not (k + "/").startswith(normalize_image_path(cmd.path).casefold() + "/")
            }
            known[""] = True
        plan.append(cmd)
    return plan


def command_array(
    plan: list[UpdateCommand], keep: list[bytes], tmpdir: Callable[[], Path], stamp: Callable[[], int]
) -> Any:
    """The ctypes array for wimlib_update_image(); `keep` owns its strings until the call returns.

    Bytes sources are staged as files in `tmpdir()` with the build time `stamp()`;
    both are asked for only then, so a plan of plain file adds and deletes (a
    commit) creates no temporary directory.
    """

    def s(text: str | bytes | os.PathLike[str]) -> bytes:
        b = text if isinstance(text, bytes) else L.encode(text)
        keep.append(b)
        return b

    arr = (L.wimlib_update_command * len(plan))()
    for slot, cmd in zip(arr, plan, strict=True):
        if isinstance(cmd, AddCommand):
            source = cmd.source
            if isinstance(source, bytes):
                staging = tmpdir()
                tmp = staging / f"blob-{len(list(staging.iterdir()))}"
                tmp.write_bytes(source)
                os.utime(tmp, (stamp(), stamp()))
                source = tmp
            if not os.path.lexists(source):
                raise UsageError("no such file to add", path=os.fspath(source))
            slot.op = L.WIMLIB_UPDATE_OP_ADD
            slot.add.fs_source_path = s(source)
            slot.add.wim_target_path = s(wim_path(cmd.target))
            if isinstance(cmd.config, CaptureConfig):
                cfg = tmpdir() / f"config-{len(keep)}.ini"
                cfg.write_text(cmd.config.to_ini(libwim_only=True), encoding="utf-8")
                slot.add.config_file = s(cfg)
            slot.add.add_flags = L.WIMLIB_ADD_FLAG_NO_REPLACE if cmd.no_replace else 0
        elif isinstance(cmd, DeleteCommand):
            slot.op = L.WIMLIB_UPDATE_OP_DELETE
            slot.delete_.wim_path = s(wim_path(cmd.path))
            slot.delete_.delete_flags = (L.WIMLIB_DELETE_FLAG_RECURSIVE if cmd.recursive else 0) | (
                L.WIMLIB_DELETE_FLAG_FORCE if cmd.force else 0
            )
        elif isinstance(cmd, RenameCommand):
            slot.op = L.WIMLIB_UPDATE_OP_RENAME
            slot.rename.wim_source_path = s(wim_path(cmd.source))
            slot.rename.wim_target_path = s(wim_path(cmd.target))
        else:
            raise UsageError(f"not an update command: {cmd!r}")
    return arr
