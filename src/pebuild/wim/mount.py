"""Mount and commit WIM images without root or FUSE (imagex /mountrw … /unmount /commit).

`mount` applies the image into DIR with libwim and records what it wrote —
per path: type, size, mtime, ctime and inode (symlinks: their target) — in a
state file OUTSIDE DIR: $XDG_STATE_HOME/pebuild/mounts/<sha256(realpath DIR)>.json
(default ~/.local/state). Nothing inside DIR is pebuild's.

`commit` walks DIR again and turns the difference into ONE
wimlib_update_image() — deletes first, then adds of new or changed files,
symlinks and whole new directory trees (empty ones too) — and one
wimlib_overwrite() in append mode: new data, metadata, blob table and XML
go after the old data and the header is written last, so an interrupted
commit leaves the old image readable. What it compresses goes through libwim
at level 20 (pebuild.wim.levels; 50 = `wimlib-imagex update`'s bytes).
Untouched files are never re-added, so their security descriptors,
attributes, alternate data streams, short names, reparse points and hard
links stay exactly as they were. A file whose size and mtime are unchanged
but whose ctime or inode moved is compared by SHA-1 with the hash libwim
keeps for it. Paths compare case-insensitively, as Windows
does. See docs/wim.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import marshal
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pebuild import interrupts
from pebuild.errors import OutputError, StateError, UsageError
from pebuild.progress import Progress, ProgressEvent
from pebuild.wim.levels import COMMIT_COMPRESS_LEVEL, check_compress_level

if TYPE_CHECKING:
    from pebuild.wim.image import Wim
    from pebuild.wim.model import UpdateCommand

# pebuild.wim.image (ctypes, libwim) and pebuild.wim.model are imported where used:
# `pebuild mounts` and `pebuild discard` only read and remove state files.

STATE_VERSION = 3
#: casefolded image path -> (path 'a/b', kind 'f'|'d'|'l'|'o', size, mtime_ns, ctime_ns, inode, symlink target)
Entry = tuple[str, str, int, int, int, int, str]


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base, "pebuild", "mounts")


def _key(real_dir: str) -> str:
    return hashlib.sha256(real_dir.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


@dataclass
class MountRecord:
    """What pebuild knows about one mount (the state file, minus the per-path entries)."""

    dir: str
    wim: str
    index: int
    readonly: bool
    guid: str
    wim_size: int
    wim_mtime_ns: int
    header_sha256: str
    mounted_at: float
    created_dir: bool
    image_name: str = ""
    commits: int = 0

    @property
    def state_file(self) -> Path:
        return state_dir() / f"{_key(self.dir)}.json"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class MountStatus:
    record: MountRecord
    stale: bool
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {**self.record.to_json(), "stale": self.stale, "reasons": self.reasons}


@dataclass
class CommitResult:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.modified or self.deleted)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


# ---------------------------------------------------------------- state files


def _wim_header_sha256(path: str) -> str:
    with open(path, "rb") as fh:
        header = bytearray(fh.read(208))
    if len(header) >= 0x14:
        header[0x10:0x14] = bytes(4)  # flags: the write-in-progress bit comes and goes
    return hashlib.sha256(bytes(header)).hexdigest()


def _load(
    dir_path: str | os.PathLike[str], *, need_entries: bool = True
) -> tuple[MountRecord, dict[str, Entry]]:
    real = _real(dir_path)
    path = state_dir() / f"{_key(real)}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = MountRecord(**data["record"])
    except FileNotFoundError:
        raise StateError("not a pebuild mount (see `pebuild mounts`)", path=os.fspath(dir_path)) from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StateError(f"mount state is unreadable ({exc}); run `pebuild discard`", path=path) from None
    if not need_entries:
        return record, {}
    if data.get("version") != STATE_VERSION:
        raise StateError("mount state is from another pebuild version; run `pebuild discard`", path=path)
    try:
        blob = path.with_suffix(".entries").read_bytes()
        if hashlib.sha256(blob).hexdigest() != data["entries_sha256"]:
            raise ValueError("entries do not match the record")
        entries = marshal.loads(blob)
    except (OSError, ValueError, EOFError, TypeError, KeyError) as exc:
        raise StateError(f"mount state is inconsistent ({exc}); run `pebuild discard`", path=path) from None
    return record, entries


def _write_replace(path: Path, data: bytes) -> None:
    """Temp file + rename: a killed process never leaves a half-written state file.

    No fsync: the state is bookkeeping, not an output; after a power loss
    `pebuild mounts` shows the mount stale or missing and `discard` cleans it.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write mount state: {exc.strerror}", path=path) from None


def _save(record: MountRecord, entries: dict[str, Entry]) -> None:
    """The record as JSON (readable), the per-path entries in a marshal file beside it.

    The entries go first and the JSON names their SHA-256, so a reader never
    pairs a record with entries from another commit.
    """
    state_dir().mkdir(parents=True, exist_ok=True)
    blob = marshal.dumps(entries)
    _write_replace(record.state_file.with_suffix(".entries"), blob)
    payload = {
        "version": STATE_VERSION,
        "record": asdict(record),
        "entries_sha256": hashlib.sha256(blob).hexdigest(),
    }
    _write_replace(record.state_file, json.dumps(payload, indent=1).encode("utf-8"))


@contextlib.contextmanager
def _locked(name: str, what: str) -> Iterator[None]:
    """An exclusive, non-blocking flock on a lock file beside the state files."""
    locks = state_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError(f"{what} is busy: another pebuild commit or discard holds its lock") from None
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------- walking


def scan_tree(root: str) -> dict[str, Entry]:
    """Every path below root, keyed without case (Windows cannot hold two names that differ only in case).

    One os.scandir pass per directory, listed through a descriptor of that
    directory so each lstat is an fstatat(dirfd, name) — no walk of the full
    path per file. Directories need no lstat at all: their type and inode come
    with the directory entry, and only files, symlinks and others are compared.
    """
    entries: dict[str, Entry] = {}
    stack = [("", root)]
    S_IFMT, S_IFREG, S_IFLNK = 0o170000, stat.S_IFREG, stat.S_IFLNK
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    while stack:
        rel_dir, abs_dir = stack.pop()
        prefix = rel_dir + "/" if rel_dir else ""
        try:
            fd = os.open(abs_dir, flags)
        except OSError as exc:
            raise UsageError(f"cannot scan the directory: {exc.strerror}", path=abs_dir) from None
        try:
            with os.scandir(fd) as it:
                for de in it:
                    rel = prefix + de.name
                    if de.is_dir(follow_symlinks=False):
                        entry = (rel, "d", 0, 0, 0, de.inode(), "")
                        stack.append((rel, abs_dir + "/" + de.name))
                    else:
                        st = de.stat(follow_symlinks=False)
                        fmt = st.st_mode & S_IFMT
                        if fmt == S_IFREG:
                            entry = (rel, "f", st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, "")
                        elif fmt == S_IFLNK:
                            target = os.readlink(de.name, dir_fd=fd)
                            entry = (rel, "l", 0, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, target)
                        else:
                            entry = (rel, "o", 0, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, "")
                    key = rel.casefold()
                    if key in entries:
                        raise UsageError(
                            f"{entries[key][0]!r} and {rel!r} differ only in case; Windows images cannot hold both",
                            path=root,
                        )
                    entries[key] = entry
        except OSError as exc:  # a file removed or made unreadable while we walk
            where = os.path.join(abs_dir, exc.filename) if isinstance(exc.filename, str) else abs_dir
            raise UsageError(f"cannot scan the directory: {exc.strerror}", path=where) from None
        finally:
            os.close(fd)
    return entries


def _parent_keys(key: str) -> Iterator[str]:
    while "/" in key:
        key = key.rsplit("/", 1)[0]
        yield key


def _sha1(path: str) -> bytes:
    h = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.digest()


def diff_tree(
    root: str, old: dict[str, Entry], new: dict[str, Entry], wim: Wim | None = None, index: int = 1
) -> tuple[list[UpdateCommand], CommitResult]:
    """The update commands that turn the mounted image (`old`) into the directory (`new`)."""
    from pebuild.wim.model import AddCommand, DeleteCommand

    result = CommitResult()
    # Most paths are untouched: their whole entry compares equal (one C-level tuple compare).
    touched = [k for k, n in new.items() if old.get(k) != n]
    removed = old.keys() - new.keys()
    removed.update(k for k in touched if k in old and old[k][1] != new[k][1])  # type changed
    removed_dirs = {k for k in removed if old[k][1] == "d"}
    deletes: list[UpdateCommand] = []
    for key in sorted(removed):
        if removed_dirs and any(p in removed_dirs for p in _parent_keys(key)):
            continue  # goes with its deleted directory
        path, kind = old[key][0], old[key][1]
        deletes.append(DeleteCommand(path, recursive=kind == "d"))
        result.deleted.append(path)

    added: list[str] = []
    modified: list[str] = []
    suspects: list[str] = []  # size and mtime as recorded, but ctime or inode moved
    for key in touched:
        n, o = new[key], old.get(key)
        if o is None or key in removed:
            added.append(key)
        elif n[1] == "d":
            continue
        elif n[1] == "l":
            if o[6] != n[6]:
                modified.append(key)  # symlink target
        elif o[2] != n[2] or o[3] != n[3]:
            modified.append(key)  # size or mtime
        elif o[4] != n[4] or o[5] != n[5]:
            suspects.append(key)
    if suspects:
        modified += _content_changed(root, {k: (old[k][0], new[k]) for k in suspects}, wim, index)
    added_dirs = {k for k in added if new[k][1] == "d"}
    adds: list[UpdateCommand] = []
    for key in sorted(added):
        if added_dirs and any(p in added_dirs for p in _parent_keys(key)):
            continue  # comes with its new directory
        path, kind = new[key][0], new[key][1]
        if kind == "o":
            raise UsageError(
                "special files (devices, FIFOs, sockets) cannot go into a WIM", path=os.path.join(root, path)
            )
        adds.append(AddCommand(os.path.join(root, path), path))
        result.added.append(path)
    for key in sorted(modified):
        adds.append(AddCommand(os.path.join(root, new[key][0]), old[key][0]))
        result.modified.append(old[key][0])
    return deletes + adds, result


#: up to this many suspects are looked up one by one; more take one listing of the whole image
_LOOKUP_ONE_BY_ONE = 32


def _content_changed(
    root: str, suspects: dict[str, tuple[str, Entry]], wim: Wim | None, index: int
) -> list[str]:
    """The keys of suspects whose content differs from the image: the only files pebuild hashes.

    A suspect kept its size and mtime but its ctime or inode moved (chmod,
    `cp -p`, an editor that restores mtime); its SHA-1 is compared with the
    one libwim stores for it. Many suspects (a `chmod -R`) cost one
    wimlib_iterate_dir_tree over the image instead of one call each.
    """
    if wim is None:
        return list(suspects)  # nothing to compare with: re-add them
    if len(suspects) <= _LOOKUP_ONE_BY_ONE:
        stored: dict[str, bytes | None] = {}
        for key, (image_path, _) in suspects.items():
            found = wim.entries(index, image_path, recursive=False)
            stored[key] = found[0].sha1 if found else None
    else:
        stored = {e.path.casefold(): e.sha1 for e in wim.entries(index, "") if not e.is_dir}
    changed = []
    for key, (_, entry) in suspects.items():
        sha1 = stored.get(key)
        if sha1 is None:  # libwim stores no hash for an empty file
            if entry[2] != 0:
                changed.append(key)
        elif _sha1(os.path.join(root, entry[0])) != sha1:
            changed.append(key)
    return changed


# ---------------------------------------------------------------- operations


def _is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def mount(
    wim_path: str | os.PathLike[str],
    dir_path: str | os.PathLike[str],
    index: int | str = 1,
    *,
    readonly: bool = False,
    progress: Progress | None = None,
) -> MountRecord:
    """Apply image `index` of a WIM into DIR (created if missing, must be empty) and record it."""
    target = Path(dir_path)
    created = False
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise UsageError("mount directory is not a directory", path=target)
        if not _is_empty_dir(target):
            raise UsageError("mount directory is not empty", path=target)
    real_dir = _real(target)
    if (state_dir() / f"{_key(real_dir)}.json").exists():
        raise StateError("already a pebuild mount; commit or discard it first", path=target)
    wim_real = _real(wim_path)
    from pebuild.wim.image import Wim

    with Wim.open(wim_real) as wim:
        idx = wim.image_index(index)
        info = wim.info
        name = wim.image_property(idx, "NAME") or ""
        wim_stat = os.stat(wim_real)
        record = MountRecord(
            dir=real_dir,
            wim=wim_real,
            index=idx,
            readonly=readonly,
            guid=info.guid_hex,
            wim_size=wim_stat.st_size,
            wim_mtime_ns=wim_stat.st_mtime_ns,
            header_sha256=_wim_header_sha256(wim_real),
            mounted_at=time.time(),
            created_dir=False,
            image_name=name,
        )
        if not target.exists():
            try:
                target.mkdir(parents=True)
            except OSError as exc:
                raise OutputError(f"cannot create mount directory: {exc.strerror}", path=target) from None
            created = True
        record.created_dir = created
        try:
            wim.extract_image(idx, real_dir, progress=progress)
            entries = scan_tree(real_dir)
            _save(record, entries)
        except BaseException:
            _clear_dir(Path(real_dir), remove=created)
            raise
    return record


def commit(
    dir_path: str | os.PathLike[str],
    *,
    check: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    compress_level: int = COMMIT_COMPRESS_LEVEL,
) -> CommitResult:
    """Write DIR's changes into its WIM: one update, append mode (or --rebuild: temp + rename).

    compress_level (1-1000) is libwim's level for the new data and the rewritten
    metadata only (old data is copied as it is): 20 by default for speed, 50 for
    the bytes `wimlib-imagex update` writes.
    """
    check_compress_level(compress_level)  # before anything is locked or opened
    record, old = _load(dir_path)
    if record.readonly:
        raise StateError("mounted read-only; nothing can be committed (discard it instead)", path=record.dir)
    if not os.path.isdir(record.dir):
        raise StateError("mount directory is gone; run `pebuild discard`", path=record.dir)
    with _locked(_key(record.dir), "this mount"), _locked(_key(record.wim), "the WIM"):
        _check_unchanged(record)
        if progress:
            progress(ProgressEvent("scan", 0, None, record.dir, unit="files"))
        # libwim opens the WIM and loads the image's metadata (C code, without the GIL)
        # while this thread walks DIR.
        opening = _Opening(record.wim, record.index)
        try:
            new = scan_tree(record.dir)
        except BaseException:
            with contextlib.suppress(BaseException):
                opening.result().close()
            raise
        with opening.result() as wim:
            if wim.info.guid_hex != record.guid:
                raise StateError("WIM changed since it was mounted (GUID differs)", path=record.wim)
            commands, result = diff_tree(record.dir, old, new, wim, record.index)
            with interrupts.deferred():
                _write_changes(
                    wim,
                    record,
                    old,
                    commands,
                    rebuild=rebuild,
                    check=check,
                    progress=progress,
                    level=compress_level,
                )
                _record_commit(record, new)
                interrupts.consume()  # the commit landed: an interrupt now must not report failure
                interrupts.mark_landed()
    return result


def _write_changes(
    wim: Wim,
    record: MountRecord,
    old: dict[str, Entry],
    commands: list[UpdateCommand],
    *,
    rebuild: bool,
    check: bool,
    progress: Progress | None,
    level: int,
) -> None:
    """One update and one overwrite; Ctrl-C before libwim writes the new header aborts both.

    Inside `interrupts.deferred()` the libwim progress callback answers ABORT:
    the in-memory update rolls back, an append-mode overwrite truncates the WIM
    to its old end and restores the header flags (wimlib src/write.c). After the
    last callback libwim only writes tables and the header: the commit lands.
    """
    try:
        if commands:
            wim.update(record.index, commands, progress=progress)
            wim.overwrite(rebuild=rebuild, check=check, progress=progress, compress_level=level)
        elif rebuild or check:
            wim.overwrite(rebuild=True, check=check, progress=progress, compress_level=level)
    except KeyboardInterrupt:
        _keep_mount_valid(record, old)
        raise


def _keep_mount_valid(record: MountRecord, old: dict[str, Entry]) -> None:
    """After an aborted commit the WIM holds its old image; record its new size and mtime.

    libwim appends after the old tables and, on abort, truncates back to their
    end and restores the header flags (wimlib src/write.c): the header is the
    recorded one and the file is no longer than before (bytes a WIM may carry
    past its last table are cut). Then the mount stays valid; anything else
    really changed and the mount is reported stale.
    """
    with contextlib.suppress(OSError):
        st = os.stat(record.wim)
        if (st.st_size, st.st_mtime_ns) == (record.wim_size, record.wim_mtime_ns):
            return
        if st.st_size <= record.wim_size and _wim_header_sha256(record.wim) == record.header_sha256:
            record.wim_size, record.wim_mtime_ns = st.st_size, st.st_mtime_ns
            _save(record, old)


def _record_commit(record: MountRecord, new: dict[str, Entry]) -> None:
    st = os.stat(record.wim)
    record.wim_size, record.wim_mtime_ns = st.st_size, st.st_mtime_ns
    record.header_sha256 = _wim_header_sha256(record.wim)
    record.commits += 1
    _save(record, new)  # libwim only reads DIR: what we scanned is the new baseline


class _Opening(threading.Thread):
    """Open the WIM for writing and load the image's metadata in a helper thread.

    The Python half (importing the libwim binding) happens here, before the
    thread starts: imported in the thread, it would hold the GIL in 5 ms slices
    while the walk waits for it after every lstat, and both would take longer
    than one after the other (bench/bench_wim.py, phase table).
    """

    def __init__(self, path: str, index: int) -> None:
        super().__init__(daemon=True)
        from pebuild.wim.image import Wim

        self.opener = Wim.open
        self.path, self.index = path, index
        self.wim: Wim | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.wim = self.opener(self.path, write=True)
            self.wim.exists(self.index, "")  # libwim reads and decompresses the metadata now
        except BaseException as exc:
            self.error = exc

    def result(self) -> Wim:
        self.join()
        if self.error is not None:
            if self.wim is not None:
                self.wim.close()
            raise self.error
        assert self.wim is not None
        return self.wim


def _check_unchanged(record: MountRecord) -> None:
    try:
        st = os.stat(record.wim)
    except FileNotFoundError:
        raise StateError("the mounted WIM is gone", path=record.wim) from None
    if (st.st_size, st.st_mtime_ns) != (record.wim_size, record.wim_mtime_ns) or _wim_header_sha256(
        record.wim
    ) != record.header_sha256:
        raise StateError(
            "WIM changed since it was mounted (size, time or header differ); discard and mount again",
            path=record.wim,
        )


def _stale_reasons(record: MountRecord) -> list[str]:
    reasons = []
    if not os.path.isdir(record.dir):
        reasons.append("directory gone")
    try:
        _check_unchanged(record)
    except StateError as exc:
        reasons.append("WIM gone" if "gone" in exc.message else "WIM changed")
    return reasons


def _clear_dir(path: Path, *, remove: bool) -> None:
    import shutil

    if not path.is_dir() or path.is_symlink():
        return
    if remove:
        shutil.rmtree(path, ignore_errors=True)
        return
    with os.scandir(path) as it:
        for de in it:
            if de.is_dir(follow_symlinks=False):
                shutil.rmtree(de.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(de.path)


def discard(dir_path: str | os.PathLike[str]) -> MountRecord:
    """Forget a mount (stale or not): remove what mount extracted and the state file."""
    record, _ = _load(dir_path, need_entries=False)
    with _locked(_key(record.dir), "this mount"):
        _clear_dir(Path(record.dir), remove=record.created_dir)
        record.state_file.unlink(missing_ok=True)
        record.state_file.with_suffix(".entries").unlink(missing_ok=True)
    return record


def list_mounts() -> list[MountStatus]:
    """Every recorded mount, with stale ones marked (directory or WIM gone, WIM changed)."""
    result = []
    base = state_dir()
    if not base.is_dir():
        return result
    for path in sorted(base.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            record = MountRecord(**data["record"])
        except (OSError, ValueError, TypeError, KeyError):
            continue
        reasons = _stale_reasons(record)
        result.append(MountStatus(record, bool(reasons), reasons))
    return result


def mount_record(dir_path: str | os.PathLike[str]) -> MountRecord:
    return _load(dir_path, need_entries=False)[0]
