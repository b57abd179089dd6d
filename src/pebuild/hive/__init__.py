"""Registry hive (regf) reader and writer: open, navigate, edit and save hives.

Sources: formats.md §1 (S1 Suhanov's spec, S2 libregf, S3 hivex, S4 WRK, S5 Project Zero).
Used for BCD stores (`pebuild.bcd`) and for SYSTEM/SOFTWARE hives inside images.

    hive = Hive.open("SYSTEM")
    key = hive.root.create("ControlSet001\\Control\\MiniNT")
    key.set_value("Enabled", RegType.DWORD, (1).to_bytes(4, "little"))
    save_hive(hive, "SYSTEM", mode="preserve")
"""

from pebuild.hive._structs import header_checksum
from pebuild.hive.model import Hive, Key, RegType, SaveMode, Value, decode_data, encode_data, upper_name
from pebuild.hive.writer import DEFAULT_SECURITY_DESCRIPTOR
from pebuild.hive.writer import save as save_hive
from pebuild.hive.writer import serialize as serialize_hive

__all__ = [
    "DEFAULT_SECURITY_DESCRIPTOR",
    "Hive",
    "Key",
    "RegType",
    "SaveMode",
    "Value",
    "decode_data",
    "encode_data",
    "header_checksum",
    "save_hive",
    "serialize_hive",
    "upper_name",
]
