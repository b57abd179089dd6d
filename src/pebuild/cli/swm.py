"""`pebuild split` and `pebuild join`: a WIM as .swm parts for FAT32 media, and back (libwim)."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import emit_json, parse_size_option, progress_display

SPLIT_EXAMPLES = """\
Examples:

\b
  pebuild split install.wim usbtree/sources                 install.swm, install2.swm, ... (4000 MiB parts)
  pebuild split install.wim parts --size 2G --name hpcnode.swm
  pebuild split install.esd parts --recompress              solid (LZMS/ESD): export to LZX first
  dism /Apply-Image /ImageFile:D:\\sources\\install.swm /SWMFile:D:\\sources\\install*.swm /Index:1 /ApplyDir:C:\\
"""

JOIN_EXAMPLES = """\
Examples:

\b
  pebuild join parts/install.swm install.wim                part 1 alone: install2.swm, ... found beside it
  pebuild join install.wim parts/install.swm parts/install2.swm --check
"""


@click.command("split", epilog=SPLIT_EXAMPLES)
@click.argument("wim", type=click.Path(path_type=Path))
@click.argument("dest_dir", type=click.Path(path_type=Path))
@click.option("--size", "size", default="4000M", show_default=True, help="Largest part (K/M/G, binary).")
@click.option("--name", default=None, help="Name of part 1 [default: the WIM's name with .swm].")
@click.option(
    "--recompress",
    is_flag=True,
    help="Export a solid (LZMS/ESD) WIM to LZX first (wimlib cannot split solid).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the parts as JSON.")
def split(wim: Path, dest_dir: Path, size: str, name: str | None, recompress: bool, as_json: bool) -> None:
    """Split WIM into .swm parts in DEST_DIR, named as Windows Setup and DISM expect.

    Part 1 keeps the name (install.swm), the others are numbered from 2 (install2.swm, ...).
    A part holds whole files, so a file larger than --size makes a larger part. Existing
    parts of that name in DEST_DIR are refused.
    """
    from pebuild.errors import UsageError
    from pebuild.wim.split import split_wim

    first = dest_dir / (name or f"{wim.stem}.swm")
    stem = first.stem
    if dest_dir.is_dir():
        clash = sorted(
            p.name
            for p in dest_dir.iterdir()
            if p.name.lower().startswith(stem.lower()) and p.suffix.lower() == ".swm"
        )
        if clash:
            raise UsageError(f"{clash[0]} already exists; split into an empty directory", path=dest_dir)
    part_size = parse_size_option(size, "--size") or 0
    with progress_display("split") as progress:
        parts = split_wim(wim, first, part_size, recompress=recompress, progress=progress)
    rows = [{"path": str(p), "size": p.stat().st_size} for p in parts]
    if as_json:
        emit_json({"parts": rows})
        return
    for row in rows:
        click.echo(f"{row['path']}  {row['size']} bytes")


@click.command("join", epilog=JOIN_EXAMPLES)
@click.argument("first", type=click.Path(path_type=Path))
@click.argument("rest", nargs=-1, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Write an integrity table into the joined WIM.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
def join(first: Path, rest: tuple[Path, ...], check: bool, force: bool) -> None:
    """Join .swm parts into one WIM: `join PART1.swm OUT.wim`, or `join OUT.wim PART...`.

    With only part 1 given, its siblings (install2.swm, ...) are taken from the same directory.
    """
    from pebuild.errors import UsageError
    from pebuild.wim.split import join_wim

    if len(rest) == 1 and first.suffix.lower() == ".swm":
        parts, output = [first], rest[0]
    elif rest:
        parts, output = list(rest), first
    else:
        raise UsageError("join needs the parts and the output: pebuild join PART1.swm OUT.wim")
    if output.exists() and not force:
        raise UsageError("output exists (use --force to replace it)", path=output)
    join_wim(parts, output, check=check)
    click.echo(f"{output}: joined")
