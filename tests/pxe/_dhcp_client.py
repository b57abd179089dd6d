"""Send one DHCPDISCOVER as a PXE client of a given architecture (option 93) and print the offer.

Run inside the test's network namespace with the interface to send on; prints one
JSON line: {"file": BOOTP file field, "options": {code: hex}}. Bounded: one
request, a few seconds at most, never anything but the given interface.

Its parameter request list (option 55) is the one EDK2's PXE driver sends
(NetworkPkg/UefiPxeBcDxe/PxeBcDhcp4.c, PxeBcBuildDhcp4Options): it asks for
option 67 (so dnsmasq moves the boot file out of the BOOTP `file` field unless
dhcp-no-override is set) and never for option 252, like every PXE firmware; a
client that asked for 252 would hide a configuration whose 252 is not forced.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time

MAGIC = b"\x63\x82\x53\x63"
#: EDK2 PxeBcDhcp4.c's list: 1 2 3 4 5 6 12 13 15 17 18 22 23 28 40 41 42 43 50 51 54 58 59 60 66 67 128-135
FIRMWARE_REQUEST_LIST = [1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59,
                         60, 66, 67, *range(128, 136)]  # fmt: skip


def discover(
    interface: str, client_arch: int, ipxe: bool, timeout: float = 5.0, boot_server: str | None = None
) -> dict[str, object]:
    """DHCPDISCOVER by broadcast, or with `boot_server` the PXE boot-server DHCPREQUEST to its port 4011
    (what a client does after a proxy-DHCP offer without a boot file)."""
    xid = int.from_bytes(os.urandom(4), "big")
    mac = bytes([0x52, 0x54, 0x00, 0x12, 0x34, client_arch & 0xFF])
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                         bytes(4), bytes(4), bytes(4), bytes(4), mac.ljust(16, b"\0"), b"", b"")  # fmt: skip
    vendor = f"PXEClient:Arch:{client_arch:05d}:UNDI:003016".encode()
    opts = [(53, b"\x03" if boot_server else b"\x01"), (93, struct.pack("!H", client_arch)), (94, b"\x01\x03\x10"), (60, vendor),
            (97, b"\x00" + bytes(range(16))), (55, bytes(FIRMWARE_REQUEST_LIST))]  # fmt: skip
    if ipxe:
        opts += [(77, b"iPXE"), (175, b"\xb1\x05\x01\x80\x86\x10\x0e")]
    body = b"".join(bytes([code, len(data)]) + data for code, data in opts) + b"\xff"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    sock.bind(("0.0.0.0", 68))
    sock.settimeout(0.5)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sock.sendto(
                header + MAGIC + body, (boot_server, 4011) if boot_server else ("255.255.255.255", 67)
            )
            try:
                packet, _ = sock.recvfrom(4096)
            except TimeoutError:
                continue
            if len(packet) < 240 or packet[4:8] != xid.to_bytes(4, "big") or packet[236:240] != MAGIC:
                continue
            options: dict[str, str] = {}
            i = 240
            while i < len(packet) and packet[i] != 0xFF:
                if packet[i] == 0:
                    i += 1
                    continue
                code, length = packet[i], packet[i + 1]
                options[str(code)] = packet[i + 2 : i + 2 + length].hex()
                i += 2 + length
            return {
                "yiaddr": socket.inet_ntoa(packet[16:20]),
                "file": packet[108:236].rstrip(b"\0").decode(errors="replace"),
                "options": options,
            }
    finally:
        sock.close()
    raise SystemExit("no DHCP offer")


if __name__ == "__main__":
    flags = sys.argv[3:]
    server = flags[flags.index("--boot-server") + 1] if "--boot-server" in flags else None
    print(json.dumps(discover(sys.argv[1], int(sys.argv[2]), "ipxe" in flags, boot_server=server)))
