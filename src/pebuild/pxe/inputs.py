"""Turn the `pebuild pxe` input (a source kit, `sample`, or a bare boot.wim) into per-arch WIMs and sources.

A bare boot.wim carries one architecture and its own boot files (Windows/Boot),
so it is used as-is; anything else goes through pebuild.source.open_source,
once per architecture, with a work directory that lives as long as the write
(an install ISO's boot.wim is extracted there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from pebuild.errors import UsageError
from pebuild.outputs import Transaction
from pebuild.progress import Progress
from pebuild.pxe.arches import arch_spec
from pebuild.pxe.tree import PxeRequest, PxeResult, pxe_plan, write_pxe_tree

WIM_MAGIC = b"MSWIM\x00\x00\x00"


def is_bare_wim(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == WIM_MAGIC
    except (IsADirectoryError, FileNotFoundError, NotADirectoryError, PermissionError):
        return False


def write_pxe_tree_from(
    source_or_wim: str | Path, req: PxeRequest, progress: Progress | None = None
) -> PxeResult:
    """Open `source_or_wim` for every arch of `req` and write the tree (req.boot_wim/source are filled in).

    DEST is checked and locked before any source is opened; every source is
    closed again, so nothing it extracted (`pebuild-src-*`) stays in $TMPDIR.
    """
    text = str(source_or_wim)
    path = Path(text)
    specs = [arch_spec(a) for a in req.arches]
    if text != "sample" and is_bare_wim(path):
        if len(specs) > 1:
            raise UsageError(
                f"{path.name} is a single boot.wim, which holds one architecture; give one --arch "
                "(or a source kit such as an ADK directory or 'sample' for several)"
            )
        return write_pxe_tree(dataclasses.replace(req, boot_wim=path, source=None), progress)
    from pebuild.source import open_source

    inputs = [p for p in ([] if text == "sample" else [path]) + [req.wimboot] if p is not None]
    with (
        Transaction(pxe_plan(req, inputs), req.outputs) as tx,
        contextlib.ExitStack() as opened,
        tempfile.TemporaryDirectory(prefix="pebuild-pxe-src-", dir=tx.path("pxe").parent) as work,
    ):
        wims: dict[str, Path] = {}
        sources: dict[str, Any] = {}
        for spec in specs:
            src = opened.enter_context(open_source(text, spec.arch))
            workdir = Path(work) / spec.arch
            workdir.mkdir()
            sources[spec.arch] = src
            wims[spec.arch] = Path(src.boot_wim_path(workdir))
        new = dataclasses.replace(req, boot_wim=wims, source=sources)
        result = write_pxe_tree(new, progress, into=tx.path("pxe"))
        tx.publish()
    return result
