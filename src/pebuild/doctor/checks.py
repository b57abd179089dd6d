"""The one table `pebuild doctor` walks: what to probe, how, which Debian package, which verbs.

Add a row when pebuild starts using a system tool (and its Debian package to
.ci/debian-packages.txt): tests/doctor check that every listed package has a
row, that every verb named here exists, and that a core row's package is listed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One system dependency.

    `probe` names a function in pebuild.doctor.probes.PROBES (program, library, file,
    nic-rom, ovmf, ovmf-secboot, descriptor, python); `target` is what it looks for. `core`: `pebuild
    make` cannot run at all without it, so doctor exits non-zero when it is missing.
    `sbin`: pebuild itself also looks in /usr/sbin and /sbin (a non-root PATH lacks them).
    """

    name: str
    probe: str
    target: str
    package: str
    verbs: tuple[str, ...] = ()
    purpose: str = ""
    core: bool = False
    sbin: bool = False


_WIM_VERBS = (
    "make",
    "copype",
    "info",
    "capture",
    "extract",
    "export",
    "mount",
    "commit",
    "reg",
    "pe-settings",
)

CHECKS: tuple[Check, ...] = (
    # --- what `pebuild make` needs on every build
    Check(
        "python packages", "python", "pebuild", "", ("make",), "pebuild's own dependencies (pip)", core=True
    ),
    Check("libwim", "library", "wim", "libwim15", _WIM_VERBS, "the WIM engine (ctypes binding)", core=True),
    # --- what some verbs or options need
    Check(
        "mkntfs",
        "program",
        "mkntfs",
        "ntfs-3g",
        ("sdi", "sample-source", "make", "usb"),
        "boot.sdi's NTFS volume (make: only for sources without a boot.sdi, e.g. --source sample); "
        "usb --data-fs ntfs",
        sbin=True,
    ),
    Check(
        "mkfs.exfat",
        "program",
        "mkfs.exfat",
        "exfatprogs",
        ("usb", "make"),
        "usb --data-size with --data-fs exfat (the default), make --usb-data-size",
        sbin=True,
    ),
    Check(
        "qemu-system-x86_64",
        "program",
        "qemu-system-x86_64",
        "qemu-system-x86",
        ("smoke",),
        "x86/amd64 boots",
    ),
    Check(
        "SeaBIOS",
        "file",
        "/usr/share/seabios/bios-256k.bin|/usr/share/qemu/bios-256k.bin",
        "seabios",
        ("smoke",),
        "smoke --firmware bios (QEMU's default BIOS)",
    ),
    Check("OVMF x86_64", "ovmf", "amd64", "ovmf", ("smoke",), "smoke --firmware uefi"),
    Check("OVMF ia32", "ovmf", "x86", "ovmf-ia32", ("smoke",), "smoke --arch x86 --firmware uefi"),
    Check(
        "OVMF Secure Boot",
        "ovmf-secboot",
        "amd64",
        "ovmf",
        ("smoke",),
        "smoke --secure-boot (enrolled keys, SMM)",
    ),
    Check(
        "iPXE ROMs",
        "nic-rom",
        "efi-e1000.rom",
        "ipxe-qemu",
        ("smoke",),
        "the e1000 NIC's boot ROM (smoke --pxe)",
    ),
    Check(
        "dnsmasq",
        "program",
        "dnsmasq",
        "dnsmasq",
        ("pxe", "smoke"),
        "serves the TFTP tree and (proxy) DHCP of conf/dnsmasq.conf; smoke --pxe runs it in a netns",
        sbin=True,
    ),
    Check(
        "nginx",
        "program",
        "nginx",
        "nginx",
        ("pxe", "smoke"),
        "serves the tree over HTTP with conf/nginx.conf (wimboot, UEFI HTTP Boot; smoke --pxe)",
        sbin=True,
    ),
    Check(
        "ip",
        "program",
        "ip",
        "iproute2",
        ("smoke",),
        "the network namespaces smoke --pxe boots in (dnsmasq)",
        sbin=True,
    ),
    Check(
        "uftp",
        "program",
        "uftp",
        "uftp",
        (),
        "multicast hand-off of the install image to many PXE clients (docs/pxe.md, bench)",
    ),
    Check(
        "qemu-system-aarch64",
        "program",
        "qemu-system-aarch64",
        "qemu-system-arm",
        ("smoke",),
        "arm64 media boots (-machine virt)",
    ),
    Check(
        "AAVMF aarch64",
        "descriptor",
        "aarch64",
        "qemu-efi-aarch64",
        ("smoke",),
        "arm64 UEFI firmware for QEMU",
    ),
    Check(
        "aarch64 assembler",
        "program",
        "aarch64-linux-gnu-as",
        "binutils-aarch64-linux-gnu",
        (),
        "developers only: re-checks the arm64 EFI stand-in's bytes against efi_aa64.S (tests)",
    ),
    Check(
        "sbverify",
        "program",
        "sbverify",
        "sbsigntool",
        (),
        "independent Authenticode verifier (pebuild check verifies on its own)",
    ),
    Check(
        "osslsigncode",
        "program",
        "osslsigncode",
        "osslsigncode",
        (),
        "independent Authenticode verifier and nested signatures",
    ),
    # --- independent readers: how tests and users check what pebuild wrote
    Check("wimlib-imagex", "program", "wimlib-imagex", "wimtools", (), "independent WIM reader"),
    Check("hivexsh", "program", "hivexsh", "libhivex-bin", (), "independent registry hive reader"),
    Check("hivexregedit", "program", "hivexregedit", "libwin-hivex-perl", (), "hive export to .reg"),
    Check("xorriso", "program", "xorriso", "xorriso", (), "independent ISO 9660/El Torito reader"),
    Check(
        "isoinfo", "program", "isoinfo", "genisoimage", (), "ISO reader; genisoimage is a benchmark reference"
    ),
    Check("7z", "program", "7z", "p7zip-full", (), "independent ISO/UDF/FAT reader"),
    Check("udfinfo", "program", "udfinfo", "udftools", (), "independent UDF reader"),
    Check("mdir", "program", "mdir", "mtools", (), "independent FAT reader for USB images"),
    Check("fsck.vfat", "program", "fsck.vfat", "dosfstools", (), "FAT consistency check", sbin=True),
    Check("sfdisk", "program", "sfdisk", "fdisk", (), "partition table reader for USB images", sbin=True),
    Check("tftp", "program", "tftp", "tftp-hpa", (), "TFTP client to fetch a served PXE tree"),
    Check("atftp", "program", "atftp", "atftp", (), "second TFTP client (block size, tsize options)"),
    Check(
        "in.tftpd",
        "program",
        "in.tftpd",
        "tftpd-hpa",
        (),
        "TFTP server run with conf/tftpd-hpa.remap (tests)",
        sbin=True,
    ),
    Check("nasm", "program", "nasm", "nasm", (), "re-assembles the checked-in boot code to compare bytes"),
    Check("file", "program", "file", "file", (), "independent file-type check of PE headers (tests)"),
    Check("curl", "program", "curl", "curl", (), "HTTP client fetching a served PXE tree (tests, bench)"),
)
