"""BCD device elements: binary codec and bcdedit-like text (formats.md §2.8; B1, B3, O1–O4).

An element is a 16-byte options GUID followed by a device descriptor
`{u32 DeviceType, u32 Flags, u32 Size, u32 Reserved, union}`. Decoded kinds:
boot (type 5), partition (type 6, MBR and GPT), ramdisk and file (block-I/O
class 0 with local type 3 / 5, and a file-path descriptor holding a nested
parent device), locate (type 8, its tail kept verbatim). `decode` only returns
a structured device when encoding it again gives the identical bytes; anything
else is a `RawDevice`, so every element round-trips byte for byte.
"""

from __future__ import annotations

import re
import struct
import uuid
from dataclasses import dataclass
from typing import Literal

from pebuild.errors import UsageError

ZERO_GUID = uuid.UUID(int=0)
DEVICE_BLOCK_IO, DEVICE_BOOT, DEVICE_PARTITION, DEVICE_LOCATE = 0, 5, 6, 8
LOCAL_RAMDISK, LOCAL_FILE = 3, 5
_HEAD = struct.Struct("<IIII")


@dataclass(frozen=True, slots=True)
class BootDevice:
    """`boot`: the device the boot manager was loaded from (CD, USB, TFTP server)."""

    options: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class PartitionDevice:
    """`partition=`: MBR (disk signature + byte offset) or GPT (disk GUID + partition GUID)."""

    style: Literal["mbr", "gpt"]
    disk: int | uuid.UUID  # MBR signature or GPT disk GUID
    partition: int | uuid.UUID  # MBR start offset in bytes or GPT partition GUID
    options: uuid.UUID | None = None
    device_type: int = DEVICE_PARTITION


@dataclass(frozen=True, slots=True)
class RamdiskDevice:
    """`ramdisk=[parent]\\path,{options}`: a WIM loaded into RAM; options name the SDI."""

    path: str
    parent: Device
    options: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class FileDevice:
    """`file=[parent]\\path`: a file on another device (local type 5, as nested in VHD elements)."""

    path: str
    parent: Device
    options: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class VhdDevice:
    """`vhd=[parent]\\file.vhd,partition=...`: a partition inside a virtual disk file, as
    bcdedit writes for native VHD boot (fixture installed-bios-vhd-regf15): a type-6
    descriptor whose partition area carries 6 at +0x20, followed by a nested file descriptor."""

    file: FileDevice
    style: Literal["mbr", "gpt"]
    disk: int | uuid.UUID
    partition: int | uuid.UUID
    options: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class LocateDevice:
    """`locate`: the boot manager searches for the device holding `element`'s path. The
    descriptor tail after the element id is kept verbatim (its layout is not documented)."""

    element: int
    locate_type: int = 0
    tail: bytes = b""
    options: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class RawDevice:
    """Any other descriptor, kept as the exact element bytes."""

    data: bytes


Device = BootDevice | PartitionDevice | RamdiskDevice | FileDevice | VhdDevice | LocateDevice | RawDevice


# ------------------------------------------------------------------ encoding
def encode(device: Device) -> bytes:
    """Element bytes: options GUID + descriptor."""
    if isinstance(device, RawDevice):
        return device.data
    return (device.options or ZERO_GUID).bytes_le + _descriptor(device)


def _descriptor(device: Device) -> bytes:
    """A device descriptor without the options GUID (also the nested parent form)."""
    if isinstance(device, BootDevice):
        return _HEAD.pack(DEVICE_BOOT, 0, 0x48, 0) + bytes(0x38)
    if isinstance(device, PartitionDevice):
        body = _partition_area(device.style, device.disk, device.partition) + bytes(0x10)
        return _HEAD.pack(device.device_type, 0, 0x48, 0) + body
    if isinstance(device, VhdDevice):
        area = bytearray(_partition_area(device.style, device.disk, device.partition))
        struct.pack_into("<I", area, 0x10, 6)
        nested = _descriptor(device.file)
        return _HEAD.pack(DEVICE_PARTITION, 0, 16 + len(area) + len(nested), 0) + bytes(area) + nested
    if isinstance(device, RamdiskDevice | FileDevice):
        parent = _descriptor(device.parent)
        path16 = (device.path + "\x00").encode("utf-16-le")
        file_path = struct.pack("<III", 1, 12 + len(parent) + len(path16), 5) + parent + path16
        # flags = 1 on every observed ramdisk element (O1, O2, O4), 0 on the observed file
        # descriptor (nested in the VHD element); their meaning is undocumented
        if isinstance(device, RamdiskDevice):
            local, flags = struct.pack("<IQQI", LOCAL_RAMDISK, 0, 0, 0), 1
        else:
            local, flags = struct.pack("<I", LOCAL_FILE), 0
        return _HEAD.pack(DEVICE_BLOCK_IO, flags, 16 + len(local) + len(file_path), 0) + local + file_path
    if isinstance(device, LocateDevice):
        body = struct.pack("<II", device.locate_type, device.element) + device.tail
        if len(body) < 0x38:
            body = body.ljust(0x38, b"\0")
        return _HEAD.pack(DEVICE_LOCATE, 0, 16 + len(body), 0) + body
    raise UsageError(f"a {type(device).__name__} cannot be nested as a parent device")


def _partition_area(style: str, disk: int | uuid.UUID, partition: int | uuid.UUID) -> bytes:
    """The 0x28-byte partition identification after a descriptor head (formats.md §2.8, B3)."""
    area = bytearray(0x28)
    if style == "mbr":
        assert isinstance(partition, int) and isinstance(disk, int)
        struct.pack_into("<Q", area, 0, partition)
        struct.pack_into("<I", area, 0x14, 1)
        struct.pack_into("<I", area, 0x18, disk)
    else:
        assert isinstance(partition, uuid.UUID) and isinstance(disk, uuid.UUID)
        area[0:16] = partition.bytes_le
        area[0x18:0x28] = disk.bytes_le
    return bytes(area)


def _read_partition_area(body: bytes) -> tuple[str, int | uuid.UUID, int | uuid.UUID] | None:
    style = struct.unpack_from("<I", body, 0x14)[0]
    if style == 1:
        return "mbr", struct.unpack_from("<I", body, 0x18)[0], struct.unpack_from("<Q", body, 0)[0]
    if style == 0:
        return "gpt", uuid.UUID(bytes_le=body[0x18:0x28]), uuid.UUID(bytes_le=body[0:16])
    return None


# ------------------------------------------------------------------ decoding
def decode(data: bytes) -> Device:
    """Structured device if the bytes are exactly what `encode` would write, else RawDevice."""
    data = bytes(data)
    if len(data) < 16 + 16:
        return RawDevice(data)
    options_guid = uuid.UUID(bytes_le=data[:16])
    options = None if options_guid == ZERO_GUID else options_guid
    device = _decode_descriptor(data[16:], options)
    if device is None or encode(device) != data:
        return RawDevice(data)
    return device


def _decode_descriptor(desc: bytes, options: uuid.UUID | None) -> Device | None:
    if len(desc) < 16:
        return None
    dtype, _flags, size, _res = _HEAD.unpack_from(desc)
    if size != len(desc):
        return None
    if dtype == DEVICE_BOOT:
        return BootDevice(options)
    if dtype in (DEVICE_PARTITION, 2) and size == 0x48:
        area = _read_partition_area(desc[16:])
        return PartitionDevice(area[0], area[1], area[2], options, dtype) if area else None  # type: ignore[arg-type]
    if dtype == DEVICE_PARTITION and size > 0x38 + 16 and struct.unpack_from("<I", desc, 0x20)[0] == 6:
        area = _read_partition_area(desc[16:0x38])
        nested = _decode_descriptor(desc[0x38:], None)
        if area is None or not isinstance(nested, FileDevice):
            return None
        return VhdDevice(nested, area[0], area[1], area[2], options)  # type: ignore[arg-type]
    if dtype == DEVICE_BLOCK_IO and size >= 20:
        local = struct.unpack_from("<I", desc, 16)[0]
        fp_at = {LOCAL_RAMDISK: 16 + 24, LOCAL_FILE: 16 + 4}.get(local)
        if fp_at is None or len(desc) < fp_at + 12:
            return None
        _ver, _fp_len, _ptype = struct.unpack_from("<III", desc, fp_at)
        nested = desc[fp_at + 12 :]
        if len(nested) < 16:
            return None
        parent_size = _HEAD.unpack_from(nested)[2]
        if parent_size < 16 or parent_size > len(nested):
            return None
        parent = _decode_descriptor(nested[:parent_size], None)
        raw_path = nested[parent_size:]
        if parent is None or len(raw_path) < 2 or len(raw_path) % 2:
            return None
        path = raw_path.decode("utf-16-le", "replace")
        if not path.endswith("\x00") or "\x00" in path[:-1]:
            return None
        cls = RamdiskDevice if local == LOCAL_RAMDISK else FileDevice
        return cls(path[:-1], parent, options)
    if dtype == DEVICE_LOCATE and size >= 24:
        locate_type, element = struct.unpack_from("<II", desc, 16)
        return LocateDevice(element, locate_type, desc[24:], options)
    return None


# ------------------------------------------------------------------ text
def to_text(device: Device) -> str:
    """bcdedit-style text: boot, partition=..., ramdisk=[boot]\\sources\\boot.wim,{guid}, hex:..."""
    if isinstance(device, RawDevice):
        return "hex:" + device.data.hex()
    if isinstance(device, BootDevice):
        text = "boot"
    elif isinstance(device, PartitionDevice):
        text = "partition=" + _partition_spec(device)
    elif isinstance(device, RamdiskDevice | FileDevice):
        kind = "ramdisk" if isinstance(device, RamdiskDevice) else "file"
        text = f"{kind}=[{_parent_text(device.parent)}]{device.path}"
    elif isinstance(device, VhdDevice):
        inner = PartitionDevice(device.style, device.disk, device.partition)
        text = f"vhd=[{_parent_text(device.file.parent)}]{device.file.path},{_partition_text(inner)}"
    else:
        text = f"locate=custom:{device.element:08x}"
        if device.locate_type:
            text += f",type={device.locate_type}"
        if device.tail.rstrip(b"\0"):
            text += f",tail={device.tail.hex()}"
    if device.options is not None:
        text += "," + "{" + str(device.options) + "}"
    return text


def _partition_text(device: PartitionDevice) -> str:
    return "partition=" + _partition_spec(device)


def _partition_spec(device: PartitionDevice) -> str:
    prefix = "" if device.device_type == DEVICE_PARTITION else f"type{device.device_type}:"
    if device.style == "mbr":
        return f"{prefix}mbr:{device.disk:08x}:{device.partition}"
    return f"{prefix}gpt:{{{device.disk}}}:{{{device.partition}}}"


def _parent_text(parent: Device) -> str:
    if isinstance(parent, BootDevice):
        return "boot"
    if isinstance(parent, PartitionDevice):
        return "partition=" + _partition_spec(parent)
    return "locate" if isinstance(parent, LocateDevice) else "hex:" + encode(parent).hex()


_GUID_RE = r"\{[0-9a-fA-F-]{36}\}"


def parse_text(text: str, resolve_guid=None) -> Device:  # type: ignore[no-untyped-def]
    """Parse the text forms `to_text` writes; `resolve_guid` maps '{alias}' to a UUID."""
    text = text.lstrip()
    resolve = resolve_guid or (lambda s: uuid.UUID(s))
    try:
        if text.lower().startswith("hex:"):
            return RawDevice(bytes.fromhex(text[4:].strip()))
        options = None
        match = re.search(r",\s*(\{[^}]+\})$", text)
        if match and not text.lower().startswith("locate"):
            options = resolve(match.group(1))
            text = text[: match.start()]
        lower = text.lower()
        if lower.rstrip() == "boot":
            return BootDevice(options)
        if lower.startswith("partition="):
            return _parse_partition(text[len("partition=") :], options)
        if lower.startswith("vhd="):
            file_text, _, inner = text[len("vhd=") :].rpartition(",partition=")
            if not file_text:
                raise ValueError("expected vhd=[parent]\\file.vhd,partition=...")
            file = parse_text("file=" + file_text)
            partition = _parse_partition(inner, None)
            assert isinstance(file, FileDevice)
            return VhdDevice(file, partition.style, partition.disk, partition.partition, options)
        for kind, cls in (("ramdisk=", RamdiskDevice), ("file=", FileDevice)):
            if lower.startswith(kind):
                rest = text[len(kind) :]
                if not rest.startswith("["):
                    raise ValueError("expected [parent] before the path")
                end = rest.index("]")
                parent = _parse_parent(rest[1:end])
                path = rest[end + 1 :]
                if not path.startswith("\\"):
                    raise ValueError("the path must start with a backslash")
                return cls(path, parent, options)
        if lower.startswith("locate"):
            return _parse_locate(text)
    except (ValueError, IndexError) as exc:
        raise UsageError(f"bad device {text!r}: {exc}") from None
    raise UsageError(
        f"bad device {text!r}: expected boot, partition=mbr:SIG:OFFSET, partition=gpt:{{DISK}}:{{PART}}, "
        "ramdisk=[boot]\\path,{options}, file=[boot]\\path, vhd=[parent]\\x.vhd,partition=..., "
        "locate=custom:ELEMENT or hex:..."
    )


def _parse_parent(text: str) -> Device:
    lower = text.lower()
    if lower == "boot":
        return BootDevice()
    if lower.startswith("partition="):
        return _parse_partition(text[len("partition=") :], None)
    if lower.startswith("hex:"):
        decoded = _decode_descriptor(bytes.fromhex(text[4:]), None)
        if decoded is None:
            raise ValueError("undecodable parent descriptor")
        return decoded
    raise ValueError(f"unsupported parent device [{text}] (use [boot] or [partition=...])")


def _parse_partition(spec: str, options: uuid.UUID | None) -> PartitionDevice:
    device_type = DEVICE_PARTITION
    match = re.match(r"type(\d+):", spec)
    if match:
        device_type = int(match.group(1))
        spec = spec[match.end() :]
    style, _, rest = spec.partition(":")
    if style.lower() == "mbr":
        signature, _, offset = rest.partition(":")
        return PartitionDevice("mbr", int(signature, 16), int(offset, 0), options, device_type)
    if style.lower() == "gpt":
        match = re.fullmatch(r"(" + _GUID_RE + r"):(" + _GUID_RE + r")", rest)
        if not match:
            raise ValueError("expected gpt:{disk-guid}:{partition-guid}")
        return PartitionDevice(
            "gpt", uuid.UUID(match.group(1)), uuid.UUID(match.group(2)), options, device_type
        )
    raise ValueError("expected mbr:SIGNATURE:OFFSET or gpt:{DISK}:{PARTITION}")


def _parse_locate(text: str) -> LocateDevice:
    element, locate_type, tail, options = 0, 0, b"", None
    _head, _, args = text.partition("=")
    for part in [p.strip() for p in args.split(",") if p.strip()]:
        key, _, value = part.partition(":") if part.startswith("custom") else part.partition("=")
        if key == "custom":
            element = int(value, 16)
        elif key == "type":
            locate_type = int(value, 0)
        elif key == "tail":
            tail = bytes.fromhex(value)
        elif part.startswith("{"):
            options = uuid.UUID(part)
        else:
            raise ValueError(f"unknown locate option {part!r}")
    return LocateDevice(element, locate_type, tail, options)
