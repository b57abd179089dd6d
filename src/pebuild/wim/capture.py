"""`capture`: a directory into a new WIM (atomic, pinned) or as a new image of an existing one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pebuild.errors import UsageError
from pebuild.progress import Progress
from pebuild.wim import _libwim as L
from pebuild.wim.config import CaptureConfig
from pebuild.wim.image import Wim
from pebuild.wim.model import Compression
from pebuild.wim.writer import _pins, _write_pinned

if TYPE_CHECKING:
    import uuid


def capture(
    src_dir: str | os.PathLike[str],
    wim_path: str | os.PathLike[str],
    name: str,
    description: str | None = None,
    config: CaptureConfig | None = None,
    compression: Compression | str = Compression.LZX,
    boot: bool = False,
    check: bool = False,
    append: bool = False,
    progress: Progress | None = None,
    *,
    guid: bytes | uuid.UUID | None = None,
    timestamp: int | None = None,
    threads: int = 0,
) -> int:
    """Capture a directory into a new WIM (atomic) or as a new image of an existing one (append).

    Returns the new image's index. guid + timestamp (or SOURCE_DATE_EPOCH)
    make a new WIM byte-identical for an identical tree (same names, content
    and file times — note that reading a file can move its atime).
    """
    target = Path(wim_path)
    if append:
        if not target.is_file():
            raise UsageError("--append needs an existing WIM", path=target)
        with Wim.open(target, write=True) as wim:
            index = wim.add_image(src_dir, name, config=config, boot=boot, progress=progress)
            if description is not None:
                wim.set_image_property(index, "DESCRIPTION", description)
            if boot:
                wim.set_boot_index(index)
            wim.overwrite(check=check, progress=progress, timestamp=timestamp, threads=threads)
            return index
    with Wim.create(compression) as wim:
        index = wim.add_image(src_dir, name, config=config, boot=boot, progress=progress)
        if description is not None:
            wim.set_image_property(index, "DESCRIPTION", description)
        if boot:
            wim.set_boot_index(index)
        pin_guid, pin_time = _pins(guid, timestamp, target)
        _write_pinned(wim, target, L.WIMLIB_ALL_IMAGES, check, pin_guid, pin_time, progress, threads)
        return index
