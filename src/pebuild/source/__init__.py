"""WinPE sources: one Protocol (`Source`) and a registry of kinds (base.py, kinds.py, isosource.py).

`open_source("sample" | path, arch)` tries every registered kind in priority
order; when none recognises the path the error lists what each looked for.
"""

from __future__ import annotations

from pathlib import Path

from pebuild.errors import SourceError
from pebuild.source.base import EFI_NAME, REGISTRY, Source, TreeSource, ci_lookup
from pebuild.source.isosource import IsoSource
from pebuild.source.kinds import (
    AdkSource,
    CopypeSource,
    InstallTreeSource,
    SampleSource,
    WaikSource,
    WimSource,
)

__all__ = [
    "EFI_NAME",
    "REGISTRY",
    "AdkSource",
    "CopypeSource",
    "InstallTreeSource",
    "IsoSource",
    "SampleSource",
    "Source",
    "TreeSource",
    "WaikSource",
    "WimSource",
    "ci_lookup",
    "open_source",
]


def open_source(spec: str | Path, arch: str) -> TreeSource:
    """Open a source for `arch`: 'sample', a kit/tree directory, an install .iso or a .wim."""
    if str(spec) == "sample":
        return SampleSource.build(arch)
    path = Path(spec)
    if not path.exists():
        raise SourceError("source not found", path=path)
    for cls in sorted(REGISTRY.values(), key=lambda c: c.priority):
        found = cls.detect(path, arch)
        if found is not None:
            return found
    looked = "; ".join(
        f"{c.kind}: {c.looks_like}" for c in sorted(REGISTRY.values(), key=lambda c: c.priority)
    )
    raise SourceError(f"not a WinPE source; looked for {looked}", path=path)
