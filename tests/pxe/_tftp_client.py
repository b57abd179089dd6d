"""A minimal RFC 1350 TFTP client with blksize (2348), tsize (2349) and windowsize (7440) options.

Used by the PXE tests and the benchmark to see exactly what the server
acknowledged (its OACK) and to fetch a file. Run as a script, it prints one
JSON line: {"oack": {...}, "size": N, "sha256": "...", "blocks": N, "seconds": S}.
It speaks only to the address it is given (the tests and benches use the
server end of a veth pair between network namespaces of their own) and gives
up after a bounded number of retries, so it can never loop forever.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import struct
import sys
import time

RRQ, DATA, ACK, ERROR, OACK = 1, 3, 4, 5, 6


def fetch(
    host: str,
    port: int,
    filename: str,
    options: dict[str, int],
    out: str | None = None,
    timeout: float = 1.0,
    retries: int = 5,
) -> dict[str, object]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    request = struct.pack("!H", RRQ) + filename.encode() + b"\0octet\0"
    for name, value in options.items():
        request += name.encode() + b"\0" + str(value).encode() + b"\0"
    digest = hashlib.sha256()
    sink = open(out, "wb") if out else None  # noqa: SIM115
    started = time.monotonic()
    oack: dict[str, str] = {}
    blksize, window = 512, 1
    expected, received, size = 1, 0, 0
    server = None
    last_packet = request
    last_dest: tuple[str, int] = (host, port)
    sock.sendto(request, last_dest)
    tries = 0
    try:
        while True:
            try:
                packet, addr = sock.recvfrom(65536 + 4)
            except TimeoutError:
                tries += 1
                if tries > retries:
                    raise RuntimeError(f"TFTP timeout waiting for block {expected}") from None
                sock.sendto(last_packet, last_dest)
                continue
            if server is None:
                server = addr
            elif addr != server:
                continue
            tries = 0
            opcode = struct.unpack("!H", packet[:2])[0]
            if opcode == ERROR:
                code = struct.unpack("!H", packet[2:4])[0]
                message = packet[4:].rstrip(b"\0").decode(errors="replace")
                raise RuntimeError(f"TFTP error {code}: {message}")
            if opcode == OACK:
                fields = packet[2:].split(b"\0")[:-1]
                oack = {
                    fields[i].decode().lower(): fields[i + 1].decode() for i in range(0, len(fields) - 1, 2)
                }
                blksize = int(oack.get("blksize", 512))
                window = int(oack.get("windowsize", 1))
                last_packet, last_dest = struct.pack("!HH", ACK, 0), server
                sock.sendto(last_packet, last_dest)
                continue
            if opcode != DATA:
                raise RuntimeError(f"unexpected TFTP opcode {opcode}")
            block = struct.unpack("!H", packet[2:4])[0]
            payload = packet[4:]
            if block != expected & 0xFFFF:
                # out of order or duplicate: re-acknowledge what we have (RFC 7440 section 4)
                last_packet, last_dest = struct.pack("!HH", ACK, (expected - 1) & 0xFFFF), server
                sock.sendto(last_packet, last_dest)
                continue
            digest.update(payload)
            if sink:
                sink.write(payload)
            size += len(payload)
            received += 1
            expected += 1
            last = len(payload) < blksize
            if last or received % window == 0:
                last_packet, last_dest = struct.pack("!HH", ACK, block), server
                sock.sendto(last_packet, last_dest)
            if last:
                break
    finally:
        sock.close()
        if sink:
            sink.close()
    return {
        "oack": oack,
        "size": size,
        "sha256": digest.hexdigest(),
        "blocks": received,
        "seconds": time.monotonic() - started,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("filename")
    parser.add_argument("--out")
    parser.add_argument("--option", action="append", default=[], help="name=value, e.g. blksize=1456")
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args(argv)
    options = {k: int(v) for k, v in (o.split("=", 1) for o in args.option)}
    print(json.dumps(fetch(args.host, args.port, args.filename, options, args.out, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
