"""Device elements: the encoder reproduces every Windows-written blob; codec properties."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import BCD_FIXTURES
from pebuild.bcd import devices
from pebuild.bcd.devices import (
    BootDevice,
    FileDevice,
    LocateDevice,
    PartitionDevice,
    RamdiskDevice,
    RawDevice,
    VhdDevice,
)
from pebuild.errors import UsageError
from pebuild.hive import Hive

FIXTURES = sorted(BCD_FIXTURES.glob("*.bcd")) if BCD_FIXTURES.is_dir() else []
needs_fixtures = pytest.mark.skipif(not FIXTURES, reason=f"shared BCD fixtures not found at {BCD_FIXTURES}")
SETUP_OPTIONS = uuid.UUID("7619dcc8-fafe-11d9-b411-000476eba25f")
RAMDISK_OPTIONS = uuid.UUID("ae5534e0-a924-466c-b836-758539a3ee3a")


def _element(fixture: str, obj: str, element: str) -> bytes:
    hive = Hive.open(BCD_FIXTURES / fixture)
    return hive.root.open(f"Objects\\{obj}\\Elements\\{element}").get_value("Element").data


def _device_blobs() -> list[tuple[str, bytes]]:
    blobs = []
    for fixture in FIXTURES:
        objects = Hive.open(fixture).root.subkey("Objects")
        for obj in objects.subkeys:
            for element in obj.subkey("Elements").subkeys if obj.subkey("Elements") else []:
                if element.name[1] == "1":  # format nibble 1 = device
                    blobs.append(
                        (f"{fixture.stem}/{obj.name}/{element.name}", element.get_value("Element").data)
                    )
    return blobs


@needs_fixtures
def test_every_fixture_device_round_trips_byte_for_byte() -> None:
    blobs = _device_blobs()
    assert len(blobs) >= 20
    kinds = set()
    for where, blob in blobs:
        device = devices.decode(blob)
        kinds.add(type(device).__name__)
        assert devices.encode(device) == blob, where
        assert devices.encode(devices.parse_text(devices.to_text(device))) == blob, where
    assert {"BootDevice", "PartitionDevice", "RamdiskDevice", "LocateDevice", "VhdDevice"} <= kinds


@needs_fixtures
@pytest.mark.parametrize(
    ("device", "fixture", "obj", "element"),
    [
        (BootDevice(), "win10-setup-pcat.bcd", "{7619dcc8-fafe-11d9-b411-000476eba25f}", "31000003"),
        (
            RamdiskDevice("\\sources\\boot.wim", BootDevice(), SETUP_OPTIONS),
            "win10-setup-pcat.bcd",
            "{7619dcc9-fafe-11d9-b411-000476eba25f}",
            "11000001",
        ),
        (
            PartitionDevice("mbr", 0x43DA9AB1, 0x1F500000),
            "ntloader-template.bcd",
            "{19260817-6666-8888-abcd-000000000002}",
            "11000001",
        ),
        (
            PartitionDevice(
                "gpt",
                uuid.UUID("c9c18ffe-b248-4138-b5e6-a0bcefd1d306"),
                uuid.UUID("ac8138ee-02ec-4439-b6ce-1df950028b13"),
            ),
            "installed-bios-vhd-regf15.bcd",
            "{9dea862c-5cdd-4e70-acc1-f32b344d4795}",
            "11000001",
        ),
        (
            RamdiskDevice(
                "\\" + "0" * 249 + ".wim", PartitionDevice("mbr", 0x43DA9AB1, 0x1F500000), RAMDISK_OPTIONS
            ),
            "ntloader-template.bcd",
            "{19260817-6666-8888-abcd-000000000000}",
            "11000001",
        ),
        (
            VhdDevice(
                FileDevice(
                    "\\1809.402.vhd",
                    PartitionDevice(
                        "gpt",
                        uuid.UUID("c9c18ffe-b248-4138-b5e6-a0bcefd1d306"),
                        uuid.UUID("e9c8d6b2-eb70-4c67-8af5-5a7aa93e6ae7"),
                    ),
                ),
                "mbr",
                0xA3F1D6DF,
                0x100000,
            ),
            "installed-bios-vhd-regf15.bcd",
            "{fa9684f6-5c99-11e9-9efd-b596fe2f5680}",
            "11000001",
        ),
    ],
    ids=["boot", "ramdisk-boot-parent", "partition-mbr", "partition-gpt", "ramdisk-partition-parent", "vhd"],
)
def test_encoder_builds_windows_blobs_from_scratch(device, fixture: str, obj: str, element: str) -> None:  # type: ignore[no-untyped-def]
    assert devices.encode(device) == _element(fixture, obj, element)


def test_text_forms() -> None:
    ramdisk = devices.parse_text(
        "ramdisk=[boot]\\sources\\boot.wim,{ramdiskoptions}", lambda s: RAMDISK_OPTIONS
    )
    assert ramdisk == RamdiskDevice("\\sources\\boot.wim", BootDevice(), RAMDISK_OPTIONS)
    assert devices.parse_text("boot") == BootDevice()
    assert devices.parse_text("partition=mbr:43da9ab1:1048576") == PartitionDevice("mbr", 0x43DA9AB1, 1048576)
    assert devices.parse_text("file=[boot]\\x.vhd") == FileDevice("\\x.vhd", BootDevice())
    vhd = devices.parse_text("vhd=[boot]\\x.vhd,partition=mbr:a3f1d6df:1048576")
    assert vhd == VhdDevice(FileDevice("\\x.vhd", BootDevice()), "mbr", 0xA3F1D6DF, 1048576)
    assert devices.parse_text("hex:00ff") == RawDevice(b"\x00\xff")
    for bad in ("ramdisk=\\x", "partition=zip:1:2", "floppy", "ramdisk=[cdrom]\\x"):
        with pytest.raises(UsageError):
            devices.parse_text(bad)


GUIDS = st.uuids()
PATHS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-\\ ", min_size=0, max_size=40).map(
    lambda s: "\\" + s
)
PARTITIONS = st.one_of(
    st.builds(PartitionDevice, st.just("mbr"), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)),
    st.builds(PartitionDevice, st.just("gpt"), GUIDS, GUIDS),
)
PARENTS = st.one_of(st.just(BootDevice()), PARTITIONS)
OPTIONS = st.none() | GUIDS
DEVICES = st.one_of(
    st.builds(BootDevice, OPTIONS),
    st.builds(lambda p, o: PartitionDevice(p.style, p.disk, p.partition, o), PARTITIONS, OPTIONS),
    st.builds(RamdiskDevice, PATHS, PARENTS, OPTIONS),
    st.builds(FileDevice, PATHS, PARENTS, OPTIONS),
    st.builds(
        lambda f, p, o: VhdDevice(f, p.style, p.disk, p.partition, o),
        st.builds(FileDevice, PATHS, PARENTS),
        PARTITIONS,
        OPTIONS,
    ),
    st.builds(
        LocateDevice, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.just(bytes(48)), OPTIONS
    ),
)


@settings(max_examples=300)
@given(DEVICES)
def test_structured_devices_round_trip(device) -> None:  # type: ignore[no-untyped-def]
    blob = devices.encode(device)
    assert devices.decode(blob) == device
    assert devices.encode(devices.parse_text(devices.to_text(device))) == blob


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_round_trip(blob: bytes) -> None:
    assert devices.encode(devices.decode(blob)) == blob


@settings(max_examples=200)
@given(DEVICES, st.integers(0, 200), st.integers(0, 255))
def test_corrupted_blobs_still_round_trip(device, position: int, byte: int) -> None:  # type: ignore[no-untyped-def]
    blob = bytearray(devices.encode(device))
    blob[position % len(blob)] = byte
    assert devices.encode(devices.decode(bytes(blob))) == bytes(blob)
