"""pebuild's WIM engine: libwim (wimlib) through ctypes, no root, no FUSE.

    from pebuild.wim import Wim, capture
    with Wim.open("boot.wim", write=True) as wim:
        wim.update(2, [AddCommand("startnet.cmd", "Windows/System32/startnet.cmd")])
        wim.overwrite()                      # append mode: header last, crash-safe

See docs/wim.md for the API, the mount design and crash safety.

The names below are loaded on first use (PEP 562 module `__getattr__`): a
caller that needs only `pebuild.wim.mount`'s state files (`pebuild mounts`,
`pebuild discard`) never loads ctypes and libwim.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    "AddCommand": "pebuild.wim.model",
    "CaptureConfig": "pebuild.wim.config",
    "Compression": "pebuild.wim.model",
    "DeleteCommand": "pebuild.wim.model",
    "ImageEntry": "pebuild.wim.model",
    "ImageInfo": "pebuild.wim.model",
    "RenameCommand": "pebuild.wim.model",
    "UpdateCommand": "pebuild.wim.model",
    "Wim": "pebuild.wim.image",
    "WimInfo": "pebuild.wim.model",
    "capture": "pebuild.wim.capture",
    "libwim_version": "pebuild.wim.image",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pebuild.wim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _WimPackage(types.ModuleType):
    """`pebuild.wim.capture` stays the function even after the submodule of that name is imported.

    The import system binds a loaded submodule as an attribute of its package;
    the eager `__init__` this replaces re-bound the function afterwards.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "capture" and isinstance(value, types.ModuleType):
            value = value.capture
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _WimPackage
