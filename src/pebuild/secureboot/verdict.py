"""Would this EFI program start under Secure Boot? One verdict per file and firmware profile.

The rules are EDK2's DxeImageVerificationLib (what OVMF and most PC firmware
run): refused when the image's Authenticode SHA-256 is in dbx, or when any of
its signatures chains to a dbx certificate; allowed when a signature whose
digest matches chains to a db certificate; refused otherwise. Windows boot
managers then refuse themselves when their SVN (BOOTMGRSECURITYVERSIONNUMBER)
is below the dbx minimum (KB5025885). Certificate expiry is never a reason:
firmware does not check it (the 2011 CAs expired in 2026 and still boot).

The three profiles (docs/secureboot.md):
* 2011-only      db: PCA 2011 + UEFI CA 2011; dbx: revoked image hashes.
* 2011+2023      db: + Windows UEFI CA 2023, UEFI CA 2023, Option ROM CA 2023; dbx: hashes.
* 2023-enforced  same db, dbx also revokes the certificates listed (PCA 2011) and sets SVN minimums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.pe.authenticode import Authenticode, CertInfo, Signature, read_authenticode
from pebuild.secureboot.cas import CA_BY_ID, UNKNOWN, UNSIGNED, Identified, identify, microsoft_certificate
from pebuild.secureboot.dbx import Dbx


@dataclass(frozen=True)
class Profile:
    id: str
    title: str
    db: frozenset[str]
    revoke_certificates: bool
    svn: bool


_DB_2011 = frozenset({"windows-pca-2011", "uefi-ca-2011"})
_DB_2023 = _DB_2011 | {"windows-uefi-ca-2023", "uefi-ca-2023", "option-rom-uefi-ca-2023"}
PROFILES: dict[str, Profile] = {
    p.id: p
    for p in (
        Profile("2011-only", "2011 db only", _DB_2011, False, False),
        Profile("2011+2023", "2011 + 2023 db", _DB_2023, False, False),
        Profile("2023-enforced", "2023 db, PCA 2011 in dbx", _DB_2023, True, True),
    )
}
#: component names whose SVN the dbx may set (pebuild.secureboot.dbx.SVN_APPS)
SVN_COMPONENTS = ("bootmgfw", "cdboot", "wdsmgfw")


def component_of(name: str, original_filename: str | None = None) -> str:
    """bootmgfw | cdboot | wdsmgfw | other: what a file is, by its own name, else where it sits."""
    for text in (original_filename or "", name):
        low = text.lower().rsplit("/", 1)[-1]
        if "cdboot" in low:
            return "cdboot"
        if "wdsmgfw" in low:
            return "wdsmgfw"
        if "bootmgfw" in low or low.startswith("bootmgr"):
            return "bootmgfw"
    return "other"


@dataclass(frozen=True)
class SignerView:
    signature: Signature
    identified: Identified


@dataclass
class EfiVerdict:
    """The Secure Boot verdict of one EFI program found on media (pebuild check, manifests)."""

    location: str  # e.g. "iso:efi/boot/bootx64.efi", "iso:El Torito efisys:EFI/BOOT/BOOTX64.EFI"
    component: str
    authenticode_sha256: str
    signers: list[SignerView]
    ca: Identified
    digest_ok: bool
    revoked_hash: str | None  # why, when the hash is in dbx
    revoked_certificate: str | None
    svn: tuple[int, int] | None
    svn_minimum: tuple[int, int] | None
    boots: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    on_boot_path: bool = True
    machine_arch: str | None = None

    @property
    def svn_text(self) -> str | None:
        return None if self.svn is None else f"{self.svn[0]}.{self.svn[1]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "component": self.component,
            "arch": self.machine_arch,
            "on_boot_path": self.on_boot_path,
            "signer_ca": self.ca.ca_id,
            "signer_ca_label": self.ca.label,
            "test_keys": self.ca.test_keys,
            "authenticode_sha256": self.authenticode_sha256,
            "digest_ok": self.digest_ok,
            "revoked_by_hash": self.revoked_hash,
            "revoked_by_certificate": self.revoked_certificate,
            "svn": self.svn_text,
            "svn_minimum": None
            if self.svn_minimum is None
            else f"{self.svn_minimum[0]}.{self.svn_minimum[1]}",
            "boots": dict(self.boots),
            "reasons": dict(self.reasons),
            "signatures": [
                {**s.signature.to_json(), "ca": s.identified.ca_id, "test_keys": s.identified.test_keys}
                for s in self.signers
            ],
        }


def _revoked_by_certificate(views: list[SignerView], dbx: Dbx) -> str | None:
    """A dbx certificate in (or issuing) any signature's chain: EDK2 IsForbiddenByDbx."""
    revoked_anchors = [CertInfo.from_der(der) for der in dbx.revoked_der]
    for view in views:
        sig = view.signature
        for cert in sig.chain:
            if cert.sha1 in dbx.revoked_sha1:
                return f"{cert.common_name} is in dbx"
        for anchor in revoked_anchors:
            if sig.chains_to(anchor):
                return f"signed under {anchor.common_name}, which is in dbx"
        ca_id = view.identified.ca_id
        if ca_id in CA_BY_ID and microsoft_certificate(ca_id).sha1 in dbx.revoked_sha1:
            return f"signed under {CA_BY_ID[ca_id].name}, which is in dbx"
    return None


def evaluate(
    data: bytes | Path | Authenticode,
    location: str,
    dbx: Dbx,
    *,
    test_keys: bool = False,
    svn: tuple[int, int] | None = None,
    component: str | None = None,
) -> EfiVerdict:
    """The verdict for one EFI program (bytes, a file, or its parsed Authenticode)."""
    auth = data if isinstance(data, Authenticode) else read_authenticode(data, name=location)
    views = [SignerView(s, identify(s, test_keys)) for s in auth.signatures]
    valid = [v for v in views if v.signature.valid]
    primary = (valid or views or [None])[0]
    ca = primary.identified if primary is not None else Identified(UNSIGNED)
    comp = component or component_of(location)
    hit = dbx.images.get(auth.sha256)
    verdict = EfiVerdict(
        location=location,
        component=comp,
        authenticode_sha256=auth.sha256,
        signers=views,
        ca=ca,
        digest_ok=bool(valid),
        revoked_hash=None if hit is None else f"{hit.filename or 'image'} hash in dbx {hit.added}".strip(),
        revoked_certificate=_revoked_by_certificate(views, dbx),
        svn=svn,
        svn_minimum=dbx.svn_minimum(comp) if comp in SVN_COMPONENTS else None,
    )
    for profile in PROFILES.values():
        reason = _refusal(verdict, valid, profile)
        verdict.boots[profile.id] = reason is None
        verdict.reasons[profile.id] = reason or "boots"
    return verdict


def _refusal(v: EfiVerdict, valid: list[SignerView], profile: Profile) -> str | None:
    if not v.signers:
        return "unsigned"
    if v.revoked_hash:
        return f"revoked: {v.revoked_hash}"
    if profile.revoke_certificates and v.revoked_certificate:
        return f"revoked: {v.revoked_certificate}"
    if not valid:
        return v.signers[0].signature.problem or "no valid signature"
    trusted = [s for s in valid if s.identified.ca_id in profile.db]
    if not trusted:
        ca = valid[0].identified
        if ca.ca_id == UNKNOWN:
            return f"signer not in db ({ca.note})" if ca.note else "signer not in db"
        return f"{ca.label} is not in this db"
    if profile.svn and v.svn is not None and v.svn_minimum is not None and v.svn < v.svn_minimum:
        return f"SVN {v.svn_text} below the dbx minimum {v.svn_minimum[0]}.{v.svn_minimum[1]}"
    return None
