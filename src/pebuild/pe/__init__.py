"""PE/COFF files: header inspection (pefile), Authenticode signatures and digests, boot SVN.

inspect_pe(path)            -> PeInfo (arch, subsystem, version, signature state)
check_arch(data, "amd64")   -> PeInfo | None, error naming both arches on a mismatch
read_authenticode(path)     -> Authenticode (every signature incl. nested, signer chains,
                               digest match, the Authenticode SHA-256 dbx lists)
boot_security_version(path) -> (major, minor) from BOOTMGRSECURITYVERSIONNUMBER
sign_pe(data, signer)       -> bytes (Authenticode signing, for the sample's test keys)
"""

from __future__ import annotations

from pebuild.pe.authenticode import (
    Authenticode,
    CertInfo,
    Signature,
    authenticode_digest,
    read_authenticode,
)
from pebuild.pe.inspect import (
    MACHINE_ARCH,
    SUBSYSTEMS,
    SVN_RESOURCE,
    PeInfo,
    boot_security_version,
    check_arch,
    inspect_pe,
    is_pe,
)

__all__ = [
    "MACHINE_ARCH",
    "SUBSYSTEMS",
    "SVN_RESOURCE",
    "Authenticode",
    "CertInfo",
    "PeInfo",
    "Signature",
    "authenticode_digest",
    "boot_security_version",
    "check_arch",
    "inspect_pe",
    "is_pe",
    "read_authenticode",
]
