"""`pebuild reg` (offline regedit/reg.exe) and `pebuild pe-settings` (DISM /Get-PESettings, /Set-*).

TARGET is a WIM image (boot.wim:2), a mounted/extracted directory or a hive file.
"""

from __future__ import annotations

import click

from pebuild.cli._common import emit_json

TARGET_HELP = "TARGET: WIM[:INDEX|:NAME], a mounted/extracted directory, or a hive file."

REG_EXAMPLES = """\
Examples:

\b
  pebuild reg set boot.wim:1 'HKLM\\SYSTEM\\CurrentControlSet\\Services\\FBWF' WinPECacheThreshold --type dword --value 512
  pebuild reg set mnt 'HKCU\\Console' QuickEdit --type dword --value 1
  pebuild reg delete boot.wim:1 'HKLM\\SOFTWARE\\Vendor\\Tool'            delete a key (recursive)
  pebuild reg delete SYSTEM 'ControlSet001\\Services\\X' Start           delete a value in a hive file
  pebuild reg set SYSTEM 'HKLM\\Select' Probe --type dword --value 7     a hive file: HKLM\\X = <root>\\X
  pebuild reg query SYSTEM '\\'                                         the root of a hive file
  pebuild reg import SOFTWARE export.reg --loaded-at 'HKLM\\SOFTWARE'     paths as `reg load` would place it
  pebuild reg query SYSTEM.dirty 'Select' --allow-dirty                 read a dirty hive without logs as it is
  pebuild reg export boot.wim:1 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\WinPE' -o winpe.reg
  pebuild reg import boot.wim:1 tweaks.reg                               REGEDIT4 or v5, UTF-16 or 8-bit
  pebuild reg query boot.wim:1 'HKLM\\SYSTEM\\Select' --json               values and subkeys

A dirty hive (Windows had not flushed it) is replayed from its .LOG1/.LOG2 beside it
(in the WIM, the directory or next to the file); after an edit those logs are emptied.
"""

LOADED_AT_HELP = (
    "Hive file only: where the file is loaded, as `reg load KEY FILE` would place it "
    "(e.g. HKLM\\SOFTWARE); KEY\\X then means X under the hive's root."
)
ALLOW_DIRTY_HELP = (
    "Read a dirty hive whose transaction logs are missing or unusable as it is "
    "(read-only: pebuild never writes such a hive)."
)


def _session(target: str, *, write: bool, allow_dirty: bool = False, loaded_at: str | None = None):  # type: ignore[no-untyped-def]
    from pebuild.servicing.target import TargetSession, parse_target

    return TargetSession(parse_target(target), write=write, allow_dirty=allow_dirty, loaded_at=loaded_at)


def _loaded_at(fn):  # type: ignore[no-untyped-def]
    return click.option("--loaded-at", "loaded_at", metavar="KEY", help=LOADED_AT_HELP)(fn)


def _allow_dirty(fn):  # type: ignore[no-untyped-def]
    return click.option("--allow-dirty", is_flag=True, help=ALLOW_DIRTY_HELP)(fn)


def _report(changed: list[str], target: str, as_json: bool, extra: dict[str, object] | None = None) -> None:
    if as_json:
        emit_json({"target": target, "changed_hives": changed, **(extra or {})})
    elif changed:
        click.echo(f"{target}: updated {', '.join(changed) or 'hive'}")
    else:
        click.echo(f"{target}: nothing to change")


@click.group(
    epilog=REG_EXAMPLES, help="Edit registry hives offline (reg.exe/regedit for an image). " + TARGET_HELP
)
def reg() -> None:
    pass


@reg.command("set", epilog=REG_EXAMPLES)
@click.argument("target")
@click.argument("key")
@click.argument("name")
@click.option(
    "--type",
    "type_name",
    default="sz",
    show_default=True,
    type=click.Choice(["sz", "expand_sz", "multi_sz", "dword", "qword", "binary", "none"]),
)
@click.option("--value", "values", multiple=True, help="Data; repeat for multi_sz; hex bytes for binary.")
@_loaded_at
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def reg_set(
    target: str,
    key: str,
    name: str,
    type_name: str,
    values: tuple[str, ...],
    loaded_at: str | None,
    as_json: bool,
) -> None:
    """Set value NAME under KEY ('@' or '' = the default value). Creates missing keys."""
    from pebuild.servicing.target import value_from_text

    reg_type, data = value_from_text(type_name, values)
    with _session(target, write=True, loaded_at=loaded_at) as session:
        session.editor.set_value(key, "" if name == "@" else name, reg_type, data)
        changed = session.commit()
    _report(changed, target, as_json)


@reg.command("delete", epilog=REG_EXAMPLES)
@click.argument("target")
@click.argument("key")
@click.argument("name", required=False)
@_loaded_at
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def reg_delete(target: str, key: str, name: str | None, loaded_at: str | None, as_json: bool) -> None:
    """Delete value NAME under KEY, or KEY and its subtree when NAME is omitted."""
    from pebuild.errors import UsageError

    with _session(target, write=True, loaded_at=loaded_at) as session:
        if name is None:
            found = session.editor.delete_key(key)
        else:
            found = session.editor.delete_value(key, "" if name == "@" else name)
        if not found:
            raise UsageError(f"not found: {key}" + (f" value {name!r}" if name is not None else ""))
        changed = session.commit()
    _report(changed, target, as_json)


@reg.command("export", epilog=REG_EXAMPLES)
@click.argument("target")
@click.argument("key")
@click.option("-o", "--output", required=True, help="The .reg file to write ('-' for stdout).")
@click.option("--regedit4", is_flag=True, help="Write REGEDIT4 (ANSI) instead of v5 UTF-16LE.")
@_loaded_at
@_allow_dirty
def reg_export(
    target: str, key: str, output: str, regedit4: bool, loaded_at: str | None, allow_dirty: bool
) -> None:
    """Export KEY and its subtree as a .reg file regedit imports."""
    from pebuild.fsutil import write_bytes_atomic
    from pebuild.servicing.regfile import format_reg, serialize_reg

    with _session(target, write=False, allow_dirty=allow_dirty, loaded_at=loaded_at) as session:
        reg_file = session.editor.export(key)
    reg_file.version = 4 if regedit4 else 5
    if output == "-":
        click.echo(format_reg(reg_file).replace("\r\n", "\n"), nl=False)
        return
    write_bytes_atomic(output, serialize_reg(reg_file))


@reg.command("import", epilog=REG_EXAMPLES)
@click.argument("target")
@click.argument("reg_file", metavar="FILE.reg")
@_loaded_at
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def reg_import(target: str, reg_file: str, loaded_at: str | None, as_json: bool) -> None:
    """Merge a .reg file into the target's hives, as `regedit /s FILE.reg` would."""
    from pebuild.servicing.regfile import read_reg

    parsed = read_reg(reg_file)  # parse before touching the target
    with _session(target, write=True, loaded_at=loaded_at) as session:
        count = session.editor.apply_reg(parsed)
        changed = session.commit()
    _report(changed, target, as_json, {"operations": count})


_TYPE_NAMES = {
    0: "REG_NONE",
    1: "REG_SZ",
    2: "REG_EXPAND_SZ",
    3: "REG_BINARY",
    4: "REG_DWORD",
    5: "REG_DWORD_BIG_ENDIAN",
    6: "REG_LINK",
    7: "REG_MULTI_SZ",
    11: "REG_QWORD",
}


@reg.command("query", epilog=REG_EXAMPLES)
@click.argument("target")
@click.argument("key")
@click.argument("name", required=False)
@_loaded_at
@_allow_dirty
@click.option("--json", "as_json", is_flag=True, help="Print JSON (values decoded, binary as hex).")
def reg_query(
    target: str, key: str, name: str | None, loaded_at: str | None, allow_dirty: bool, as_json: bool
) -> None:
    """List KEY's values and subkeys (or one value NAME), like `reg query`."""
    from pebuild.errors import PebuildError, UsageError
    from pebuild.hive import decode_data

    with _session(target, write=False, allow_dirty=allow_dirty, loaded_at=loaded_at) as session:
        node = session.editor.open_key(key)
        if node is None:
            raise UsageError(f"registry key not found: {key}")
        values = list(node.values)
        if name is not None:
            wanted = "" if name == "@" else name
            values = [v for v in values if v.name.lower() == wanted.lower()]
            if not values:
                raise UsageError(f"not found: {key} value {name!r}")
        rows = []
        for v in values:
            try:
                data = decode_data(v.type, bytes(v.data))
            except (PebuildError, ValueError, UnicodeDecodeError):  # odd lengths etc.: raw bytes
                data = bytes(v.data)
            rows.append(
                {
                    "name": v.name,
                    "type": _TYPE_NAMES.get(v.type, f"REG_{v.type:#x}"),
                    "data": data.hex(" ") if isinstance(data, bytes) else data,
                }
            )
        subkeys = [k.name for k in node.subkeys] if name is None else []
    if as_json:
        emit_json({"target": target, "key": key, "values": rows, "subkeys": subkeys})
        return
    click.echo(key)
    for row in rows:
        data = row["data"]
        shown = (
            f"{data:#x}" if isinstance(data, int) else "\\0".join(data) if isinstance(data, list) else data
        )
        click.echo(f"    {row['name'] or '(Default)'}    {row['type']}    {shown}")
    parent = key.rstrip("\\/")  # subkeys of the root ("\") print as "\A", not "\\A"
    for sub in subkeys:
        click.echo(f"{parent}\\{sub}")


PE_EXAMPLES = """\
Examples:

\b
  pebuild pe-settings show boot.wim:1                        DISM /Get-PESettings
  pebuild pe-settings show mnt --json
  pebuild pe-settings set boot.wim:1 --scratch-space 512     DISM /Set-ScratchSpace:512
  pebuild pe-settings set boot.wim:1 --target-path 'X:\\'     DISM /Set-TargetPath:X:\\
"""


@click.group(epilog=PE_EXAMPLES, help="Show or set WinPE scratch space and target path. " + TARGET_HELP)
def pe_settings() -> None:
    pass


def _image_session(target: str, *, write: bool, allow_dirty: bool = False):  # type: ignore[no-untyped-def]
    """pe-settings edit SYSTEM and SOFTWARE: an image (WIM or directory), not one hive file."""
    from pebuild.errors import UsageError

    session = _session(target, write=write, allow_dirty=allow_dirty)
    if session.target.kind == "hive":
        session.close()
        raise UsageError(
            f"{target}: pe-settings edits the SYSTEM and SOFTWARE hives of an image; give a WIM image "
            "or a directory, or use `pebuild reg` on a hive file"
        )
    return session


@pe_settings.command("show", epilog=PE_EXAMPLES)
@click.argument("target")
@_allow_dirty
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def pe_show(target: str, allow_dirty: bool, as_json: bool) -> None:
    """Print the scratch space (MB) and target path, like DISM /Get-PESettings."""
    from pebuild.servicing.pesettings import read_pe_settings

    with _image_session(target, write=False, allow_dirty=allow_dirty) as session:
        settings = read_pe_settings(session.editor)
    if as_json:
        emit_json({"target": target, **settings.to_json()})
        return
    scratch = (
        f"{settings.scratch_space} MB" if settings.scratch_space is not None else "not set (WinPE default)"
    )
    click.echo(f"Scratch Space : {scratch}")
    click.echo(f"Target Path   : {settings.target_path if settings.target_path is not None else 'not set'}")


@pe_settings.command("set", epilog=PE_EXAMPLES)
@click.argument("target")
@click.option("--scratch-space", type=int, help="32, 64, 128, 256 or 512 (MB).")
@click.option("--target-path", help="e.g. X:\\ (3-32 chars, C:-Z:, DISM's rules).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def pe_set(target: str, scratch_space: int | None, target_path: str | None, as_json: bool) -> None:
    """Set scratch space and/or target path, like DISM /Set-ScratchSpace and /Set-TargetPath."""
    from pebuild.errors import UsageError
    from pebuild.servicing.pesettings import apply_pe_settings, check_scratch_space, check_target_path

    if scratch_space is None and target_path is None:
        raise UsageError("give --scratch-space and/or --target-path")
    if scratch_space is not None:
        check_scratch_space(scratch_space)  # validate before opening anything
    if target_path is not None:
        check_target_path(target_path)
    with _image_session(target, write=True) as session:
        apply_pe_settings(session.editor, scratch_space=scratch_space, target_path=target_path)
        changed = session.commit()
    _report(changed, target, as_json)
