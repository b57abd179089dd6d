"""pebuild: build Windows PE boot media on any machine.

The library is organised one module or package per format or stage:
recipe -> source -> wim (edits) -> bcd/hive/sdi/pe (boot files) -> media (tree)
-> iso / pxe / usb (outputs) -> manifest; qemu boots the result; cli is a thin
click layer on top. Imports stay lazy so `pebuild --help` starts fast.
"""

__version__ = "0.1.0"  # pyproject.toml reads it (dynamic version): the one place to bump
__all__ = ["__version__", "installed_version"]


def installed_version() -> str:
    """The version pip or pipx installed (package metadata), which is what users report.

    Equal to `__version__` for any install of this tree; a tree run without installing
    (PYTHONPATH=src) has no metadata and says so.
    """
    from importlib import metadata

    try:
        return metadata.version("pebuild")
    except metadata.PackageNotFoundError:
        return f"{__version__} (not installed)"
