"""Secure Boot 2023: who signed each EFI boot program, and on which firmware it still starts.

    load_dbx(path=None)                 -> Dbx (Microsoft's data in package data, or a newer file)
    evaluate(efi_bytes, location, dbx)  -> EfiVerdict (signer CA, digest, revocation, SVN,
                                           boots[profile] for 2011-only, 2011+2023, 2023-enforced)
    check_media(CheckRequest)           -> CheckResult (every EFI boot path of an ISO, USB image,
                                           media or PXE tree, WIM or kit)

Facts and sources: docs/secureboot.md; data provenance: data/PROVENANCE.txt.
"""

from __future__ import annotations

from pebuild.secureboot.dbx import Dbx, load_dbx
from pebuild.secureboot.verdict import PROFILES, EfiVerdict, Profile, evaluate

__all__ = ["PROFILES", "Dbx", "EfiVerdict", "Profile", "evaluate", "load_dbx"]
