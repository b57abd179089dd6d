"""WIM verbs: info, capture, extract, export, mount, commit, discard, unmount, mounts.

Each verb parses its options, calls one pebuild.wim function and prints text
or --json. libwim's progress messages drive the progress bar (quiet without
a TTY or with --quiet).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from pebuild.cli._common import emit_json, is_quiet
from pebuild.cli._common import progress_display as _bar
from pebuild.progress import Progress


@contextlib.contextmanager
def progress_display(description: str) -> Iterator[Progress | None]:
    """The rich bar, or None when quiet: then libwim never calls back into Python."""
    if is_quiet():
        yield None
        return
    with _bar(description, quiet=False) as progress:
        yield progress


_COMPRESS = click.Choice(["lzx", "xpress", "lzms", "none"], case_sensitive=False)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({n} bytes)"
        value /= 1024
    return str(n)


def _when(ts: int | None) -> str:
    if ts is None:
        return "-"
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.command(
    epilog="""\b
Examples:
  pebuild info boot.wim                 every image, boot index, compression, GUID
  pebuild info boot.wim --index 2       one image
  pebuild info boot.wim --json          for scripts
"""
)
@click.argument("wim", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--index", "-i", "index", help="Show only this image (number or name).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(wim: Path, index: str | None, as_json: bool) -> None:
    """Show the images, boot index and compression of a WIM."""
    from pebuild.wim import Wim

    with Wim.open(wim) as handle:
        winfo = handle.info
        images = handle.images
        if index is not None:
            wanted = handle.image_index(index)
            images = [img for img in images if img.index == wanted]
    if as_json:
        emit_json({"wim": winfo.to_json(), "images": [img.to_json() for img in images]})
        return
    out = click.echo
    out(f"Path:            {wim}")
    out(f"GUID:            {winfo.guid_hex}")
    out(f"Version:         0x{winfo.wim_version:x}")
    out(f"Image count:     {winfo.image_count}")
    out(f"Compression:     {winfo.compression.value.upper()}")
    out(f"Chunk size:      {winfo.chunk_size} bytes")
    out(f"Part number:     {winfo.part_number}/{winfo.total_parts}")
    out(f"Boot index:      {winfo.boot_index or 'none'}")
    out(f"Size:            {_size(winfo.total_bytes)}")
    out(f"Integrity table: {'yes' if winfo.has_integrity_table else 'no'}")
    for img in images:
        out("")
        out(f"Index:           {img.index}{'  (boot)' if img.is_boot else ''}")
        out(f"Name:            {img.name}")
        out(f"Description:     {img.description or ''}")
        if img.display_name:
            out(f"Display name:    {img.display_name}")
        if img.flags:
            out(f"Flags:           {img.flags}")
        if img.arch:
            out(f"Architecture:    {img.arch}")
        out(f"Directories:     {img.dir_count}")
        out(f"Files:           {img.file_count}")
        out(f"Total bytes:     {_size(img.total_bytes)}")
        out(f"Created:         {_when(img.creation_time)}")
        out(f"Modified:        {_when(img.last_modification_time)}")


@click.command(
    epilog="""\b
Examples:
  pebuild capture tree winpe.wim --name "Microsoft Windows PE (amd64)" --boot
  pebuild capture overlay winpe.wim --name Tools --append --compress xpress
  pebuild capture C_drive install.wim --name Win --config wimscript.ini --check
Set SOURCE_DATE_EPOCH for a byte-identical WIM from an identical tree.
"""
)
@click.argument("src_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.argument("wim", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Image name (unique in the WIM).")
@click.option("--description", help="Image description.")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="wimscript.ini: exclusions and exceptions.",
)
@click.option(
    "--compress", "compression", type=_COMPRESS, default="lzx", show_default=True, help="New WIM only."
)
@click.option("--boot", is_flag=True, help="Mark the new image bootable.")
@click.option("--check", is_flag=True, help="Write an integrity table.")
@click.option("--append", is_flag=True, help="Add the image to an existing WIM (append mode).")
def capture(
    src_dir: Path,
    wim: Path,
    name: str,
    description: str | None,
    config: Path | None,
    compression: str,
    boot: bool,
    check: bool,
    append: bool,
) -> None:
    """Capture a directory into a WIM (new file or --append)."""
    from pebuild.wim import CaptureConfig
    from pebuild.wim import capture as capture_dir

    cfg = CaptureConfig.from_file(config) if config is not None else None
    with progress_display("capture") as progress:
        index = capture_dir(
            src_dir,
            wim,
            name=name,
            description=description,
            config=cfg,
            compression=compression,
            boot=boot,
            check=check,
            append=append,
            progress=progress,
        )
    click.echo(f"{wim}: image {index} {name!r} captured from {src_dir}")


@click.command(
    epilog="""\b
Examples:
  pebuild extract boot.wim --index 2 Windows/System32/config/SYSTEM --dest out
  pebuild extract boot.wim 'Windows\\System32\\startnet.cmd' --dest out
"""
)
@click.argument("wim", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("paths", metavar="PATH...", nargs=-1, required=True)
@click.option("--index", "-i", "index", default="1", show_default=True, help="Image number or name.")
@click.option("--dest", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory.")
def extract(wim: Path, paths: tuple[str, ...], index: str, dest: Path) -> None:
    """Extract paths from a WIM image; each keeps its directories under --dest."""
    from pebuild.wim import Wim

    with Wim.open(wim) as handle, progress_display("extract") as progress:
        handle.extract(handle.image_index(index), list(paths), dest, progress=progress)


@click.command(
    epilog="""\b
Examples:
  pebuild export install.wim 2 boot.wim --boot
  pebuild export boot.wim 2 small.wim --compress lzms
"""
)
@click.argument("wim", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("index")
@click.argument("new_wim", metavar="NEW.wim", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--compress", "compression", type=_COMPRESS, default="lzx", show_default=True)
@click.option("--boot", is_flag=True, help="Mark the exported image bootable.")
def export(wim: Path, index: str, new_wim: Path, compression: str, boot: bool) -> None:
    """Export one image to a new WIM with a chosen compression."""
    from pebuild.errors import UsageError
    from pebuild.wim import Wim

    if new_wim.exists() and new_wim.resolve() == wim.resolve():
        raise UsageError("NEW.wim must differ from the source WIM", path=new_wim)
    with Wim.open(wim) as handle, progress_display("export") as progress:
        handle.write(
            new_wim, index=handle.image_index(index), compression=compression, boot=boot, progress=progress
        )
    click.echo(f"{new_wim}: image {index} of {wim} exported ({compression})")


@click.command(
    epilog="""\b
Examples:
  pebuild mount boot.wim mnt --index 2       extract image 2 into mnt for editing
  pebuild mount boot.wim ro --readonly       look, never commit
Then edit files in mnt and run `pebuild commit mnt` or `pebuild discard mnt`.
No root and no FUSE: the image is applied into DIR; state lives in
$XDG_STATE_HOME/pebuild/mounts.
"""
)
@click.argument("wim", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dir_path", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--index", "-i", "index", default="1", show_default=True, help="Image number or name.")
@click.option("--readonly", is_flag=True, help="Refuse commits of this mount.")
def mount(wim: Path, dir_path: Path, index: str, readonly: bool) -> None:
    """Extract an image into a directory for editing (no root, no FUSE)."""
    from pebuild.wim.mount import mount as do_mount

    with progress_display("mount") as progress:
        record = do_mount(wim, dir_path, index, readonly=readonly, progress=progress)
    mode = "read-only" if readonly else "read-write"
    click.echo(f"{dir_path}: image {record.index} of {wim} mounted {mode}")


def _level(text: str | None) -> int | None:
    """--compress-level as an int; a bad value is a one-line usage error (exit 2), not click's four."""
    if text is None:
        return None
    from pebuild.wim.levels import check_compress_level

    try:
        value: object = int(text)
    except ValueError:
        value = text
    return check_compress_level(value)


_COMPRESS_LEVEL = click.option(
    "--compress-level",
    "level",
    metavar="N",
    help="libwim level (1-1000) for the new data and metadata; default 20 (fast), "
    "50 = wimlib-imagex update's bytes.",
)


def _commit(dir_path: Path, check: bool, rebuild: bool, level: str | None = None) -> None:
    from pebuild.wim.levels import COMMIT_COMPRESS_LEVEL
    from pebuild.wim.mount import commit as do_commit

    n = _level(level)
    with progress_display("commit") as progress:
        result = do_commit(
            dir_path,
            check=check,
            rebuild=rebuild,
            progress=progress,
            compress_level=COMMIT_COMPRESS_LEVEL if n is None else n,
        )
    if result.changed:
        click.echo(
            f"{dir_path}: committed {len(result.added)} added, {len(result.modified)} modified, "
            f"{len(result.deleted)} deleted"
        )
    else:
        click.echo(f"{dir_path}: no changes to commit")


@click.command(
    epilog="""\b
Examples:
  pebuild commit mnt               append the changes to the WIM (crash-safe)
  pebuild commit mnt --rebuild     write a compact new WIM, then rename it
  pebuild commit mnt --compress-level 50
                                   the bytes `wimlib-imagex update` writes (slower)
"""
)
@click.argument("dir_path", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Write an integrity table.")
@click.option(
    "--rebuild", is_flag=True, help="Rebuild the WIM (temporary file + rename) instead of appending."
)
@_COMPRESS_LEVEL
def commit(dir_path: Path, check: bool, rebuild: bool, level: str | None) -> None:
    """Write a mounted directory's changes back into its WIM."""
    _commit(dir_path, check, rebuild, level)


@click.command(
    epilog="""\b
Examples:
  pebuild discard mnt             forget the mount and remove what it extracted
"""
)
@click.argument("dir_path", metavar="DIR", type=click.Path(path_type=Path))
def discard(dir_path: Path) -> None:
    """Forget a mount without writing anything (works on stale mounts too)."""
    from pebuild.wim.mount import discard as do_discard

    do_discard(dir_path)
    click.echo(f"{dir_path}: discarded")


@click.command(
    epilog="""\b
Examples:
  pebuild unmount mnt --commit    imagex /unmount /commit
  pebuild unmount mnt --discard   imagex /unmount
"""
)
@click.argument("dir_path", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--commit", "do_commit", is_flag=True, help="Commit, then unmount.")
@click.option("--discard", "do_discard", is_flag=True, help="Unmount without committing.")
@_COMPRESS_LEVEL
def unmount(dir_path: Path, do_commit: bool, do_discard: bool, level: str | None) -> None:
    """imagex-style unmount: --commit or --discard."""
    from pebuild.errors import UsageError
    from pebuild.wim.mount import discard as discard_mount

    if do_commit == do_discard:
        raise UsageError("unmount needs exactly one of --commit or --discard")
    if level is not None and not do_commit:
        raise UsageError("--compress-level needs --commit")
    if do_commit:
        _commit(dir_path, False, False, level)
    discard_mount(dir_path)
    click.echo(f"{dir_path}: unmounted")


@click.command(
    epilog="""\b
Examples:
  pebuild mounts                  every mount; stale ones are marked
  pebuild mounts --json
"""
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def mounts(as_json: bool) -> None:
    """List mounts and mark stale ones (WIM gone or changed, directory gone)."""
    from pebuild.wim.mount import list_mounts

    statuses = list_mounts()
    if as_json:
        emit_json([s.to_json() for s in statuses])
        return
    if not statuses:
        click.echo("no mounts")
        return
    for s in statuses:
        r = s.record
        state = "stale: " + ", ".join(s.reasons) if s.stale else ("read-only" if r.readonly else "read-write")
        click.echo(f"{r.dir}\t{r.wim} image {r.index}\t{state}")
