"""The build manifest: what went in and what came out, as stable JSON (mkosi/osbuild model).

Every output file with size and sha256, every PE file's arch/version/signature
state, the Secure Boot verdict of every EFI file, the WIM image info, the BCD stores as JSON, the recipe hash and the tool
versions. Keys are sorted and nothing depends on the wall clock, so two builds
with the same SOURCE_DATE_EPOCH give byte-identical manifests.
`manifest_version` is bumped on any incompatible change.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from pebuild.fsutil import sha256_file, write_bytes_atomic

#: 2: pe_files[...].signed (certificate table present) became .signature (none|valid|invalid,
#: verified), and the secure_boot section was added (issue 14)
MANIFEST_VERSION = 2


def file_entries(root: Path, prefix: str = "") -> list[dict[str, Any]]:
    """path (relative, '/'), size, sha256 of every file under root, sorted by path."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = p.relative_to(root).as_posix()
            out.append({"path": f"{prefix}{rel}", "size": p.stat().st_size, "sha256": sha256_file(p)})
    return out


def tool_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in ("pebuild", "pycdlib", "pefile", "construct", "jinja2"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    try:
        from pebuild.wim import libwim_version

        versions["libwim"] = libwim_version()
    except Exception:  # pragma: no cover - manifest stays writable without libwim
        versions["libwim"] = "unknown"
    return versions


def render(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    write_bytes_atomic(path, render(manifest))
