"""pebuild's WIM engine: libwim (wimlib) through ctypes, no root, no FUSE.

    from pebuild.wim import Wim, capture
    with Wim.open("boot.wim", write=True) as wim:
        wim.update(2, [AddCommand("startnet.cmd", "Windows/System32/startnet.cmd")])
        wim.overwrite()                      # append mode: header last, crash-safe

See docs/wim.md for the API, the mount design and crash safety.
"""

from __future__ import annotations

from pebuild.wim.capture import capture
from pebuild.wim.config import CaptureConfig
from pebuild.wim.image import Wim, libwim_version
from pebuild.wim.model import (
    AddCommand,
    Compression,
    DeleteCommand,
    ImageEntry,
    ImageInfo,
    RenameCommand,
    UpdateCommand,
    WimInfo,
)

__all__ = [
    "AddCommand",
    "CaptureConfig",
    "Compression",
    "DeleteCommand",
    "ImageEntry",
    "ImageInfo",
    "RenameCommand",
    "UpdateCommand",
    "Wim",
    "WimInfo",
    "capture",
    "libwim_version",
]
