"""Which trees pebuild may replace: the `.pebuild-tree.json` marker and the ownership rule.

Every tree pebuild publishes (media, PXE, copype, sample kit) carries
`.pebuild-tree.json` at its root: the tool, its version, the tree's kind, and
every directory and file it wrote with size, mtime and SHA-256. An existing
directory is replaced only when

* it is empty (nothing to lose), or
* its marker is pebuild's, of the same kind, and the tree holds nothing else:
  no file or directory the marker does not list, no symlink or special file,
  and no listed file changed (size differs, or mtime differs and so does the
  SHA-256: an edited dnsmasq.conf is the user's now; a big file recorded
  without a hash counts as changed when its mtime moved).

Otherwise the command refuses, naming the path and what it found, unless
`--force`. A link where an output goes is replaced only with `--force`. Files
pebuild wrote but the user deleted do not matter. The marker is not part of the
media: the ISO and USB writers skip it, and the manifest does not list it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild import __version__
from pebuild.errors import OutputError
from pebuild.fsutil import file_mode, sha256_file, write_bytes_atomic
from pebuild.outputs.plan import TREE, Output

MARKER = ".pebuild-tree.json"
MARKER_VERSION = 1
#: files the caller has no hash for are hashed up to this size; bigger ones (a 400 MB boot.wim
#: in a standalone `pebuild pxe`) are recorded by size and mtime only, and then any other mtime
#: counts as a change
HASH_LIMIT = 64 << 20
#: findings shown in a refusal; the walk stops soon after (a refused /srv may be huge)
SHOWN = 4


def tree_listing(root: Path) -> tuple[list[str], list[str]]:
    """(directories, files) under root as sorted 'a/b' paths, the marker left out; links count as files."""
    dirs: list[str] = []
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                files.append(prefix + name)
            else:
                dirs.append(prefix + name)
        files.extend(prefix + name for name in filenames if prefix or name != MARKER)
    return sorted(dirs), sorted(files)


def write_marker(root: Path, kind: str, known: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Write root/.pebuild-tree.json listing the tree as it is now.

    `known` maps a path to its manifest entry (size, sha256) so files the build
    already hashed are not read again. The root keeps its (pinned) mtime.
    """
    root_stat = os.stat(root)
    dirs, rels = tree_listing(root)
    files = []
    for rel in rels:
        st = os.lstat(root / rel)
        entry = (known or {}).get(rel)
        digest = entry.get("sha256") if entry and entry.get("size") == st.st_size else None
        if digest is None and st.st_size <= HASH_LIMIT:
            digest = sha256_file(root / rel)
        files.append({"path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest})
    marker = {
        "tool": "pebuild",
        "marker_version": MARKER_VERSION,
        "version": __version__,
        "kind": kind,
        "dirs": dirs,
        "files": files,
    }
    data = (json.dumps(marker, indent=1, sort_keys=True) + "\n").encode()
    write_bytes_atomic(root / MARKER, data, mode=file_mode())
    os.utime(root / MARKER, ns=(root_stat.st_mtime_ns, root_stat.st_mtime_ns))
    os.utime(root, ns=(root_stat.st_atime_ns, root_stat.st_mtime_ns))


def read_marker(root: Path) -> dict[str, Any] | None:
    """The marker of a tree pebuild wrote, or None (absent, unreadable, not pebuild's)."""
    try:
        data = json.loads((root / MARKER).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != "pebuild":
        return None
    if not isinstance(data.get("files"), list) or not isinstance(data.get("dirs"), list):
        return None
    return data


@dataclass
class Findings:
    """What in an existing tree pebuild did not write (only the first few are collected)."""

    items: list[str] = field(default_factory=list)
    more: bool = False

    def add(self, text: str) -> bool:
        """Record one finding; False once enough are collected to stop walking."""
        if len(self.items) >= SHOWN:
            self.more = True
            return False
        self.items.append(text)
        return True

    def __str__(self) -> str:
        return ", ".join(self.items) + (" and more" if self.more else "")


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of everything under root, directories before their contents."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(root / rel_dir if rel_dir else root) as it:
            entries = sorted(it, key=lambda e: e.name)
        for de in entries:
            rel = f"{rel_dir}/{de.name}" if rel_dir else de.name
            st = de.stat(follow_symlinks=False)
            yield rel, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(rel)


def foreign_content(root: Path, marker: Mapping[str, Any] | None) -> Findings:
    """Everything under root that the marker does not account for (all of it without a marker)."""
    files = {f["path"]: f for f in (marker or {}).get("files", []) if isinstance(f, dict) and "path" in f}
    dirs = set((marker or {}).get("dirs", []))
    found = Findings()
    foreign_dirs: list[str] = []
    for rel, st in _walk(root):
        if rel == MARKER and marker is not None:
            continue
        if any(rel.startswith(d + "/") for d in foreign_dirs):
            continue  # inside a directory already reported
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            ok = rel in dirs
            text = f"{rel}/"
            if not ok:
                foreign_dirs.append(rel)
        elif stat.S_ISREG(mode) and rel in files:
            ok = not _changed(root / rel, st, files[rel])
            text = f"{rel} (changed)"
        else:
            ok = False
            text = f"{rel} (link)" if stat.S_ISLNK(mode) else rel
        if not ok and not found.add(text):
            break
    return found


def _changed(path: Path, st: os.stat_result, entry: Mapping[str, Any]) -> bool:
    if st.st_size != entry.get("size"):
        return True
    if st.st_mtime_ns == entry.get("mtime_ns"):
        return False
    if entry.get("sha256") is None:
        return True  # recorded without a hash: another mtime is all there is to go by
    try:
        return sha256_file(path) != entry.get("sha256")
    except OSError:
        return True


def check_replaceable(out: Output, *, force: bool) -> None:
    """Raise OutputError unless `out.path` may be replaced (see the module docstring)."""
    try:
        st = os.lstat(out.path)
    except FileNotFoundError:
        return
    hint = "use --force to replace it, or choose another path"
    if stat.S_ISLNK(st.st_mode):
        if not force:
            raise OutputError(f"is a symbolic link; pebuild does not replace links ({hint})", path=out.path)
        return
    if out.kind != TREE or force:
        return
    marker = read_marker(out.path)
    if marker is None:
        found = foreign_content(out.path, None)
        if found.items:
            raise OutputError(
                f"is not a tree pebuild wrote (no {MARKER}) and holds {found}; {hint}", path=out.path
            )
        return
    kind = marker.get("kind")
    if kind != out.role:
        raise OutputError(f"is a pebuild {kind} tree, not a {out.role} tree; {hint}", path=out.path)
    found = foreign_content(out.path, marker)
    if found.items:
        raise OutputError(f"holds what pebuild did not write: {found}; {hint}", path=out.path)
