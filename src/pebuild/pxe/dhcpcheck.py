"""Check the DHCP values of a PXE request before they reach dnsmasq.conf.

A value dnsmasq rejects (or, worse, reads differently) must fail at
`pebuild pxe` time as a UsageError naming the option, not later when the
service starts. The accepted forms are the subset of dnsmasq's own syntax
(man dnsmasq, `--dhcp-range`) that pebuild writes:

* full DHCP: `START,END[,NETMASK][,LEASE]`, START <= END in one subnet;
  LEASE is `infinite` or a number with an optional s/m/h/d/w suffix
  (dnsmasq's minimum is 2 minutes);
* proxy-DHCP: `SUBNET[,NETMASK]` (written as `SUBNET,proxy[,NETMASK]`).
"""

from __future__ import annotations

import ipaddress
import re

from pebuild.errors import UsageError

DHCP_MODES = ("proxy", "full")
_LEASE = re.compile(r"^(infinite|(\d+)([smhdw]?))$")
_LEASE_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/', no whitespace; ':' for aliases
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
MENU_TEXT_MAX = 100


def _ipv4(text: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise UsageError(f"{what} must be an IPv4 address, got {text!r}") from None


def _netmask(text: str, what: str) -> ipaddress.IPv4Address:
    mask = _ipv4(text, what)
    value = int(mask)
    inverted = ~value & 0xFFFFFFFF
    if value == 0 or inverted & (inverted + 1):
        raise UsageError(f"{what} {text!r} is not a netmask (e.g. 255.255.255.0)")
    return mask


def _lease(text: str) -> None:
    match = _LEASE.match(text.strip())
    if not match:
        raise UsageError(f"bad lease time {text!r} in --dhcp-range: expected e.g. 12h, 45m, 3600 or infinite")
    if match.group(2) is not None and int(match.group(2)) * _LEASE_SECONDS[match.group(3)] < 120:
        raise UsageError(f"lease time {text!r} in --dhcp-range is below dnsmasq's minimum of 2 minutes")


def check_dhcp_range(mode: str, value: str) -> None:
    """Refuse a dhcp-range dnsmasq would reject or read as something else (module docstring)."""
    parts = [p.strip() for p in value.split(",")]
    if mode == "proxy":
        if not 1 <= len(parts) <= 2:
            raise UsageError(
                f"proxy-DHCP needs the subnet's address as dhcp range (e.g. 192.168.1.0 or "
                f"192.168.1.0,255.255.255.0), got {value!r}"
            )
        try:
            ipaddress.IPv4Address(parts[0])
        except ValueError:
            raise UsageError(
                f"proxy-DHCP needs the subnet's address as dhcp range (e.g. 192.168.1.0), got {value!r}"
            ) from None
        if len(parts) == 2:
            _netmask(parts[1], "the netmask of --dhcp-range")
        return
    if not 2 <= len(parts) <= 4:
        raise UsageError(
            f"full DHCP needs --dhcp-range START,END[,NETMASK][,LEASE] (e.g. 10.0.0.100,10.0.0.199,12h), "
            f"got {value!r}"
        )
    start, end = _ipv4(parts[0], "the start of --dhcp-range"), _ipv4(parts[1], "the end of --dhcp-range")
    rest = parts[2:]
    mask = None
    if rest and "." in rest[0]:
        mask = _netmask(rest.pop(0), "the netmask of --dhcp-range")
    if rest:
        _lease(rest.pop(0))
    if rest:
        raise UsageError(f"unexpected {rest[0]!r} in --dhcp-range {value!r}")
    if int(start) > int(end):
        raise UsageError(f"--dhcp-range starts after it ends: {start} > {end}")
    net = ipaddress.IPv4Network(f"{start}/{mask or '255.255.255.0'}", strict=False)
    if mask is not None and end not in net:
        raise UsageError(f"--dhcp-range {start}..{end} is not inside one subnet of netmask {mask}")


def check_dhcp_options(
    mode: str,
    dhcp_range: str | None,
    interface: str | None,
    server: str | None,
    menu_text: str | None = None,
) -> None:
    """Refuse values that would break the config file (newlines, bad mode, bad address or range)."""
    if mode not in DHCP_MODES:
        raise UsageError(f"unknown DHCP mode {mode!r}: expected proxy or full")
    for name, value in (("dhcp range", dhcp_range), ("interface", interface), ("server address", server)):
        if value is not None and (not value.strip() or any(c in value for c in '\n\r"#')):
            raise UsageError(f"bad {name} {value!r} for dnsmasq.conf")
    if interface is not None and not _IFNAME.match(interface):
        raise UsageError(
            f"bad interface {interface!r}: a network interface name is 1-15 letters, digits or _.:-"
        )
    if server is not None:
        _ipv4(server, "server address")
    if dhcp_range is not None:
        check_dhcp_range(mode, dhcp_range)
    if menu_text is not None and (
        not menu_text.strip()
        or len(menu_text) > MENU_TEXT_MAX
        or any(not 0x20 <= ord(c) < 0x7F or c in '"\\' for c in menu_text)
    ):
        raise UsageError(
            f"bad boot menu text {menu_text!r}: 1-{MENU_TEXT_MAX} printable ASCII characters, no quotes or backslashes"
        )
