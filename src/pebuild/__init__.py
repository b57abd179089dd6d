"""pebuild: build Windows PE boot media on any machine.

The library is organised one module or package per format or stage:
recipe -> source -> wim (edits) -> bcd/hive/sdi/pe (boot files) -> media (tree)
-> iso / pxe / usb (outputs) -> manifest; qemu boots the result; cli is a thin
click layer on top. Imports stay lazy so `pebuild --help` starts fast.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
