"""Safe file-system primitives every writer uses.

* Outputs are written to a temporary file beside the target, fsynced, then
  renamed into place (`atomic_output`, `atomic_directory`): a crash or an error
  never leaves a half-written output and never destroys the previous one.
* Paths that come from recipes or from inside images are joined with
  `safe_join`, which refuses anything that would escape its root.
* What pebuild publishes gets ordinary modes, as `cp` gives a new file:
  0644 files and 0755 directories, less the umask (`file_mode`, `dir_mode`,
  `normalize_modes`). Never mkdtemp's 0700: dnsmasq drops privileges to
  `nobody` and must read a PXE tree as written.
* Temporary names carry the writer's pid (`.NAME.<pid>-<random>.tmp`), so a
  later run can tell debris of a dead process from work in progress
  (pebuild.outputs.clean).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from pebuild.errors import OutputError, UsageError

# hashlib and shutil are imported where used: `pebuild info` and `pebuild commit` reach this
# module only for normalize_image_path and start faster without them.


def _output_error(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(f"cannot write output: {reason}", path=path)


def current_umask() -> int:
    """The process umask, read without changing it (Linux: /proc/self/status)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)  # pragma: no cover - kernels before 4.7
    os.umask(old)
    return old


def file_mode() -> int:
    """0644 less the umask: what `cp` gives a new file (pebuild writes no executables)."""
    return 0o644 & ~current_umask()


def dir_mode() -> int:
    """0755 less the umask: what `mkdir` gives a new directory."""
    return 0o755 & ~current_umask()


def temp_name(name: str) -> str:
    """`.NAME.<pid>-<random>.tmp`: hidden, unique, and naming the process that owns it."""
    return f".{name}.{os.getpid()}-{os.urandom(4).hex()}.tmp"  # secrets.token_hex(4) without its imports


def normalize_modes(root: Path) -> None:
    """Every directory under `root` (and root) `dir_mode()`, every file `file_mode()`; links untouched.

    Copies keep their source's mode (a kit unpacked with umask 077 has 0600
    files); a published tree must be readable the way `cp` would have made it.
    """
    fmode, dmode = file_mode(), dir_mode()
    os.chmod(root, dmode)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, dmode)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, fmode)


_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Any:
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux/glibc: writeback starts at fsync time
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_START_WRITEBACK = _sync_file_range()


def _files(path: Path) -> list[str]:
    if not path.is_dir():
        return [str(path)]
    return [
        os.path.join(d, n)
        for d, _, names in os.walk(path)
        for n in names
        if not os.path.islink(os.path.join(d, n))
    ]


def start_writeback(path: Path) -> None:
    """Start writing `path` (a file, or every file of a tree) to disk now, without waiting.

    Linux sync_file_range(SYNC_FILE_RANGE_WRITE): the fsync before a publish then
    finds the data already on its way instead of waiting for all of it, and the
    page cache is kept (the next stage may read the file).
    """
    if _START_WRITEBACK is None:
        return
    for name in _files(path):
        with contextlib.suppress(OSError):
            fd = os.open(name, os.O_RDONLY)
            try:
                _START_WRITEBACK(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)
            finally:
                os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under `root`: the tree survives a power loss once published."""
    start_writeback(root)  # every file's writeback in flight at once, then wait for each
    for name in _files(root):
        fd = os.open(name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for dirpath, _dirnames, _filenames in os.walk(root):
        fsync_dir(Path(dirpath))


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes `path` only if the block finishes without error.

    `mode` defaults to `file_mode()` (0644 less the umask).
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("cannot write output: directory does not exist", path=parent)
    tmp_path = parent / temp_name(target.name)
    try:
        fd = os.open(tmp_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _output_error(target, exc) from None
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_path, file_mode() if mode is None else mode)
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise _output_error(target, exc) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    fsync_dir(parent)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> None:
    with atomic_output(path, mode=mode) as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary directory (`dir_mode()`) that is renamed to `path` on success.

    An existing `path` is replaced only after the new tree is complete (when `replace`).
    Whole output sets (ownership, staging, one publish) go through pebuild.outputs instead.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("cannot write output: directory does not exist", path=parent)
    if target.exists() and not replace:
        raise OutputError("output directory already exists", path=target)
    import shutil

    tmp = parent / temp_name(target.name)
    try:
        tmp.mkdir(mode=dir_mode())
    except OSError as exc:
        raise _output_error(target, exc) from None
    try:
        yield tmp
        old = None
        if target.exists():
            old = parent / f".{target.name}.old-{os.getpid()}"
            os.rename(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _output_error(target, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def normalize_image_path(path: str) -> str:
    """Turn a Windows or POSIX relative path into a clean 'a/b/c' form; refuse escapes.

    Accepts backslashes, a leading slash or backslash (meaning the root), and
    refuses '..' components, drive letters, NUL bytes and empty names.
    """
    if "\x00" in path:
        raise UsageError(f"path contains a NUL byte: {path!r}")
    text = path.replace("\\", "/")
    if len(text) >= 2 and text[1] == ":":
        raise UsageError(f"path must be relative to its root, not a drive path: {path!r}")
    parts: list[str] = []
    for part in PurePosixPath(text).parts:
        if part in ("/", "."):
            continue
        if part == "..":
            raise UsageError(f"path escapes its root: {path!r}")
        parts.append(part)
    return "/".join(parts)


def safe_join(root: str | os.PathLike[str], path: str) -> Path:
    """Join `path` (from a recipe or an image) under `root`, guaranteeing it stays inside.

    Symlinks already inside root are resolved and checked too.
    """
    base = Path(root).resolve()
    rel = normalize_image_path(path)
    joined = base / rel if rel else base
    resolved = joined.resolve()
    if resolved != base and base not in resolved.parents:
        raise UsageError(f"path escapes its root {str(base)!r}: {path!r}")
    return joined


def find_case_insensitive(root: Path, rel: str, *, allow_parent: bool = False) -> Path | None:
    """`rel` ('a/b/c' or 'a\\b\\c') under `root`, each component matched without case; None if absent.

    Windows trees copied to Linux keep mixed case (`Boot` vs `boot`). Exact names win;
    when a directory holds several spellings, each is tried. '..' is refused (None)
    unless `allow_parent`, so a name from an INF or an image never leaves `root`.
    """
    parts = [p for p in rel.replace("\\", "/").split("/") if p and p != "."]
    if not parts:
        return root
    head, rest = parts[0], "/".join(parts[1:])
    if head == ".." and not allow_parent:
        return None

    def descend(node: Path) -> Path | None:
        return find_case_insensitive(node, rest, allow_parent=allow_parent) if rest else node

    exact = root / head
    if exact.exists() and (hit := descend(exact)) is not None:
        return hit
    if not root.is_dir():
        return None
    low = head.lower()
    try:
        others = sorted(c for c in root.iterdir() if c.name.lower() == low and c.name != head)
    except OSError:
        return None
    for cand in others:
        if (hit := descend(cand)) is not None:
            return hit
    return None


def copy_file(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy a file fast: reflink (FICLONE) when the file system allows, else copy_file_range."""
    import shutil

    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            import fcntl

            fcntl.ioctl(fout.fileno(), 0x40049409, fin.fileno())  # FICLONE
            return
        except (OSError, ImportError):
            pass
        size = os.fstat(fin.fileno()).st_size
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), size - copied)
                if n == 0:
                    break
                copied += n
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            fin.seek(copied)
            fout.seek(copied)
            shutil.copyfileobj(fin, fout, 1 << 20)
    shutil.copystat(src, dst)


def sha256_file(path: str | os.PathLike[str], bufsize: int = 1 << 20) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(bufsize):
            h.update(chunk)
    return h.hexdigest()
