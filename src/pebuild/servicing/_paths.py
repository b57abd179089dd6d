"""Windows names ignore case; the Linux disk does not. One lookup for both worlds."""

from __future__ import annotations

from pathlib import Path


def find_case_insensitive(root: Path, rel: str) -> Path | None:
    """`rel` ('a/b/c' or 'a\\b\\c') under `root`, each component matched without case; None if absent.

    '..' is refused (None), so a name from an INF or image never leaves `root`.
    """
    cur = root
    for part in [p for p in rel.replace("\\", "/").split("/") if p and p != "."]:
        if part == "..":
            return None
        exact = cur / part
        if exact.exists():
            cur = exact
            continue
        if not cur.is_dir():
            return None
        match = next((c for c in sorted(cur.iterdir()) if c.name.lower() == part.lower()), None)
        if match is None:
            return None
        cur = match
    return cur
