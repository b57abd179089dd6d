"""Everything pebuild needs from pycdlib's internals, kept in one place.

pycdlib reads the wall clock (`time.time()`, `time.localtime()`) for every
directory record, volume descriptor and UDF timestamp, and `random` for the
UDF volume set identifier (pycdlib 1.22 `udf.py`). A reproducible ISO needs
all of them pinned: `pinned_clock` swaps those module references for the
duration of one ISO build, with local time = UTC (so TZ cannot change bytes).
`OrderedPyCdlib` adds oscdimg -yo style file ordering on top of pycdlib's
layout (El Torito images first, then the files in directory order), and
copies file data with copy_file_range (in the kernel, reflinked where the file
system can) instead of pycdlib's read/write loop.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import random as _random
import threading
import time as _time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pycdlib
import pycdlib.dates
import pycdlib.dr
import pycdlib.headervd
import pycdlib.inode
import pycdlib.pycdlib
import pycdlib.udf
import pycdlib.utils

_MODULES = (pycdlib.dates, pycdlib.dr, pycdlib.headervd, pycdlib.pycdlib, pycdlib.udf, pycdlib.utils)
_LOCK = threading.Lock()
COPY_STEP = 8 << 20


@contextlib.contextmanager
def pinned_clock(epoch: int, seed: str) -> Iterator[None]:
    """Make pycdlib see `epoch` as now and UTC as local time; seed its random numbers."""
    rng = _random.Random(seed)
    utc = functools.lru_cache(maxsize=64)(_time.gmtime)  # every date is the same few instants
    fake_time = SimpleNamespace(
        time=lambda: float(epoch),
        localtime=lambda secs=None: utc(epoch if secs is None else secs),
        gmtime=lambda secs=None: utc(epoch if secs is None else secs),
        strftime=_time.strftime,
        strptime=_time.strptime,
        struct_time=_time.struct_time,
        mktime=_time.mktime,
    )
    fake_random = SimpleNamespace(getrandbits=rng.getrandbits, randint=rng.randint, random=rng.random)
    with _LOCK:
        saved: list[tuple[Any, str, Any]] = []
        for mod in _MODULES:
            for attr, repl in (("time", fake_time), ("random", fake_random)):
                if hasattr(mod, attr):
                    saved.append((mod, attr, getattr(mod, attr)))
                    setattr(mod, attr, repl)
        # local time is UTC here, so the offset pycdlib computes for each date is always 0
        saved.append((pycdlib.utils, "gmtoffset_from_tm", pycdlib.utils.gmtoffset_from_tm))
        pycdlib.utils.gmtoffset_from_tm = lambda _tm, _local: 0
        try:
            yield
        finally:
            for mod, attr, orig in saved:
                setattr(mod, attr, orig)


class OrderedPyCdlib(pycdlib.PyCdlib):  # type: ignore[misc]
    """PyCdlib whose file data follows a priority list after the El Torito images.

    pycdlib lays out boot images right after the metadata, then every other
    inode in directory order. `priority(inode) -> int` (lower first, stable)
    re-packs the non-boot inodes in the same region, so files such as
    boot/bcd and sources/boot.wim can sit at the front like oscdimg -yo does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pebuild_priority: dict[int, int] = {}
        self.pebuild_deferred: dict[int, DeferredCopy] = {}

    def _reshuffle_extents(self) -> None:
        super()._reshuffle_extents()
        if not self.pebuild_priority:
            return
        boot_inodes = set()
        if self.eltorito_boot_catalog is not None:
            entries = [self.eltorito_boot_catalog.initial_entry]
            for sec in self.eltorito_boot_catalog.sections:
                entries.extend(sec.section_entries)
            boot_inodes = {id(e.inode) for e in entries if e.inode is not None}
        inodes = [i for i in self.inodes if id(i) not in boot_inodes and i.get_data_length() > 0]
        if not inodes:
            return
        start = min(i.extent_location() for i in inodes)
        part_start = self.udf_main_descs.partitions[0].part_start_location if self._has_udf else 0
        ordered = sorted(
            sorted(inodes, key=lambda i: i.extent_location()),
            key=lambda i: self.pebuild_priority.get(id(i), 1 << 30),
        )
        current = start
        for ino in ordered:
            current = self._set_inode(ino, current, part_start)
        self._needs_reshuffle = False

    def _output_file_data(self, outfp: Any, blocksize: int, ino: Any) -> Iterator[int]:
        """Record where a file's data goes; `copy_deferred` copies it after the metadata is final.

        Files added by path are not copied here: pycdlib keeps writing directory
        records and path tables between files, so the ISO's bytes are final in
        offset order only once write_fp is done. Deferring the data lets the
        copy run in offset order with a hash following right behind it.
        """
        if not (ino.manage_fp and isinstance(ino.data_fp, str)) or ino.boot_info_table is not None:
            yield from super()._output_file_data(outfp, blocksize, ino)
            return
        start = ino.extent_location() * self.logical_block_size
        self.pebuild_deferred[start] = DeferredCopy(start, ino.data_length, ino.data_fp, ino.fp_offset)
        yield 0


@dataclass(frozen=True)
class DeferredCopy:
    start: int  # byte offset in the ISO
    length: int
    source: str
    source_offset: int


def copy_deferred(out_fd: int, task: DeferredCopy, published: Callable[[int], None]) -> None:
    """Copy one file into the ISO with copy_file_range, reporting each offset that became final.

    Holes of a sparse source are skipped, not copied: the ISO is a new file already at its
    final size, so they read back as the zeros they hold, and a sparse 5 GiB install.wim does
    not take 5 GiB more disk (copy_file_range itself writes the zeros on ext4).
    """
    with open(task.source, "rb") as src:
        fd, end = src.fileno(), task.source_offset + task.length
        pos = task.source_offset
        while pos < end:
            data, hole = _data_extent(fd, pos, end)
            if data > pos:  # a hole: already zeros in the ISO
                pos = data
                published(task.start + pos - task.source_offset)
                continue
            step = min(hole - pos, COPY_STEP)
            n = _copy_range(fd, out_fd, step, pos, task.start + pos - task.source_offset)
            if n == 0:
                raise OSError(errno.EIO, f"{task.source} shrank while the ISO was written")
            pos += n
            published(task.start + pos - task.source_offset)


def _data_extent(fd: int, pos: int, end: int) -> tuple[int, int]:
    """(start of the next data at or after `pos`, end of that data), both capped at `end`."""
    try:
        data = os.lseek(fd, pos, os.SEEK_DATA)
        hole = os.lseek(fd, data, os.SEEK_HOLE)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # EINVAL and the like: no hole support, copy it all
            return pos, end
        if os.fstat(fd).st_size < end:  # past the end of a file that shrank
            return pos, end  # the copy finds no bytes and says so
        return end, end  # only a hole up to `end`
    return min(data, end), min(hole, end)


def _copy_range(src_fd: int, out_fd: int, count: int, src_off: int, out_off: int) -> int:
    try:
        return os.copy_file_range(src_fd, out_fd, count, src_off, out_off)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    data = os.pread(src_fd, min(count, 1 << 20), src_off)
    return os.pwrite(out_fd, data, out_off) if data else 0
