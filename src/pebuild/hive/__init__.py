"""Registry hive (regf) reader and writer: open, navigate, edit and save hives.

Sources: formats.md §1 (S1 Suhanov's spec, S2 libregf, S3 hivex, S4 WRK, S5 Project Zero).
Used for BCD stores (`pebuild.bcd`) and for SYSTEM/SOFTWARE hives inside images.
Dirty hives are recovered from their transaction logs (log.py); nothing is written
before the whole image passed check.py. docs/hive.md has the details.

    hive = Hive.open("SYSTEM")
    key = hive.root.create("ControlSet001\\Control\\MiniNT")
    key.set_value("Enabled", RegType.DWORD, (1).to_bytes(4, "little"))
    save_hive(hive, "SYSTEM", mode="preserve")
"""

from pebuild.hive._structs import header_checksum
from pebuild.hive.check import CheckReport, check_image
from pebuild.hive.log import LogFile, Replay, find_logs
from pebuild.hive.model import Hive, Key, SaveMode, upper_name
from pebuild.hive.upcase import upcase
from pebuild.hive.value import RegType, Value, decode_data, encode_data
from pebuild.hive.writer import DEFAULT_SECURITY_DESCRIPTOR
from pebuild.hive.writer import save as save_hive
from pebuild.hive.writer import serialize as serialize_hive

__all__ = [
    "DEFAULT_SECURITY_DESCRIPTOR",
    "CheckReport",
    "Hive",
    "Key",
    "LogFile",
    "RegType",
    "Replay",
    "SaveMode",
    "Value",
    "check_image",
    "decode_data",
    "encode_data",
    "find_logs",
    "header_checksum",
    "save_hive",
    "serialize_hive",
    "upcase",
    "upper_name",
]
