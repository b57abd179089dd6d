"""El Torito ISO writer (BIOS + UEFI, Joliet, UDF) and the oscdimg command-line front end.

pycdlib stays inside this package: callers pass an `IsoRequest` and get an
`IsoResult` back (docs/design.md, docs/iso.md).
"""

from pebuild.iso.model import IsoRequest, IsoResult
from pebuild.iso.oscdimg import OscdimgCommand, parse_oscdimg_args
from pebuild.iso.writer import write_iso

__all__ = ["IsoRequest", "IsoResult", "OscdimgCommand", "parse_oscdimg_args", "write_iso"]
