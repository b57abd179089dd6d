"""Recipes that load: defaults, includes, profiles, line index, rendering of startup files."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from pebuild.errors import RecipeError, UsageError
from pebuild.recipe import load_recipe, walk_settings
from pebuild.recipe._lines import LineIndex
from pebuild.recipe.render import startnet_cmd, startnet_lines, wimscript_ini, winpeshl_ini


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_empty_recipe_has_documented_defaults(tmp_path: Path) -> None:
    r = load_recipe(write(tmp_path / "r.toml", ""))
    assert r.settings.bcd.timeout == 30
    assert r.settings.bcd.description == "Windows PE"
    assert r.settings.media.prompt is True
    assert r.settings.media.udf is True
    assert r.settings.arch == ()
    assert len(r.sha256) == 64


def test_arch_aliases_fold_to_the_adk_names(tmp_path: Path) -> None:
    """One arch vocabulary (pebuild.arches): a recipe may say x64 or aarch64 as the CLI may."""
    r = load_recipe(write(tmp_path / "r.toml", 'arch = ["x64", "i386", "AArch64"]\n'))
    assert r.settings.arch == ("amd64", "x86", "arm64")
    with pytest.raises(RecipeError, match=r"r2\.toml:1: arch: 'sparc' is not one of x86, amd64"):
        load_recipe(write(tmp_path / "r2.toml", 'arch = "sparc"\n'))


def test_include_then_override_and_append(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    write(tmp_path / "inc" / "tool.txt", "tool")
    write(
        tmp_path / "inc" / "base.toml",
        '[bcd]\ntimeout = 5\nlocale = "de-DE"\n[[files.add]]\nsource = "tool.txt"\ndest = "a.txt"\n'
        '[startup]\nstartnet = ["echo base"]\n[variables]\nserver = "one"\nshare = "s"\n',
    )
    write(tmp_path / "top.txt", "top")
    top = write(
        tmp_path / "top.toml",
        'include = ["inc/base.toml"]\n[bcd]\ntimeout = 2\n[[files.add]]\nsource = "top.txt"\ndest = "b.txt"\n'
        '[startup]\nstartnet = ["echo top"]\n[variables]\nserver = "two"\n',
    )
    r = load_recipe(top)
    assert r.settings.bcd.timeout == 2
    assert r.settings.bcd.locale == "de-DE"
    assert [a.dest for a in r.settings.files.add] == ["a.txt", "b.txt"]
    # sources resolve relative to the file that names them
    assert r.settings.files.add[0].source == str((tmp_path / "inc" / "tool.txt").resolve())
    assert r.settings.startup.startnet == ("echo base", "echo top")
    assert r.settings.variables == {"server": "two", "share": "s"}
    assert r.files == (tmp_path / "inc" / "base.toml", top)
    # provenance of merged values points at the right file and line
    assert r.location("bcd", "locale").path == tmp_path / "inc" / "base.toml"
    assert r.location("bcd", "locale").line == 3
    assert r.location("files", "add", 1, "dest").path == top
    assert r.location("files", "add", 1, "dest").line == 6


def test_profile_overrides_and_unknown_profile(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.toml",
        "[bcd]\ntimeout = 30\n[profiles.fast]\nbcd.timeout = 0\nmedia.prompt = false\n"
        '[profiles.fast.startup]\nstartnet = ["echo fast"]\n',
    )
    assert load_recipe(path).settings.bcd.timeout == 30
    fast = load_recipe(path, profile="fast")
    assert fast.settings.bcd.timeout == 0
    assert fast.settings.media.prompt is False
    assert fast.settings.startup.startnet == ("echo fast",)
    assert fast.location("bcd", "timeout").line == 4
    assert fast.sha256 != load_recipe(path).sha256
    with pytest.raises(UsageError, match=r"no profile 'slow' \(profiles defined: fast\)"):
        load_recipe(path, profile="slow")


def test_line_index_tricky_toml() -> None:
    text = (
        "# comment [not.a.table]\n"  # 1
        'a = """\n'  # 2
        "[fake]\n"  # 3
        'x = 1"""\n'  # 4
        "b.c.d = 1\n"  # 5
        '"quoted key".e = 2\n'  # 6
        "[t]  # c\n"  # 7
        "arr = [\n"  # 8
        "  1, # one\n"  # 9
        "  [2, 3],\n"  # 10
        "  { k = 'v' },\n"  # 11
        "]\n"  # 12
        "[[aot]]\n"  # 13
        "n = 1\n"  # 14
        "[aot.sub]\n"  # 15
        "m = 2\n"  # 16
        "[[aot]]\n"  # 17
        "n = 3\n"  # 18
        "lit = 'a\\b'\n"  # 19
        's = "x\\"y = z"\n'  # 20
    )
    tomllib.loads(text)  # the index is only ever built for valid TOML
    idx = LineIndex.build(text)
    assert idx.line_of(("a",)) == 2
    assert ("fake",) not in idx.lines
    assert idx.line_of(("b", "c", "d")) == 5
    assert idx.line_of(("quoted key", "e")) == 6
    assert idx.line_of(("t", "arr")) == 8
    assert idx.line_of(("t", "arr", 0)) == 9
    assert idx.line_of(("t", "arr", 1, 1)) == 10
    assert idx.line_of(("t", "arr", 2, "k")) == 11
    assert idx.line_of(("aot", 0, "n")) == 14
    assert idx.line_of(("aot", 0, "sub", "m")) == 16
    assert idx.line_of(("aot", 1, "n")) == 18
    assert idx.line_of(("aot", 1, "lit")) == 19
    assert idx.line_of(("aot", 1, "s")) == 20
    assert idx.line_of(("aot", 1, "missing")) == 17  # nearest parent


def test_startup_rendering(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.toml",
        '[variables]\nserver = "deploy01"\n[startup]\nlaunch_app = "%SYSTEMDRIVE%\\\\menu.exe"\n'
        'launch_apps = ["cmd.exe", {app = "x:\\\\tools\\\\{{ arch }}.exe", args = "/s {{ server }}"}]\n'
        'startnet = ["net use Z: \\\\\\\\{{ server }}\\\\images"]\n',
    )
    r = load_recipe(path)
    ini = winpeshl_ini(r, {"server": "deploy01", "arch": "amd64"})
    assert ini == (
        b"[LaunchApp]\r\nAppPath = %SYSTEMDRIVE%\\menu.exe\r\n[LaunchApps]\r\ncmd.exe\r\n"
        b"x:\\tools\\amd64.exe, /s deploy01\r\n"
    )
    lines = startnet_lines(r, {"server": "deploy01"})
    assert lines == ["net use Z: \\\\deploy01\\images"]
    assert startnet_cmd(b"wpeinit\r\n", lines) == b"wpeinit\r\nnet use Z: \\\\deploy01\\images\r\n"
    with pytest.raises(RecipeError) as info:
        startnet_lines(r, {})
    assert str(info.value).startswith(f"{path}:6: startup.startnet.0: 'server' is undefined")


def test_launch_app_limit_after_rendering(tmp_path: Path) -> None:
    path = write(tmp_path / "r.toml", '[startup]\nlaunch_app = "{{ long }}"\n')
    r = load_recipe(path)
    assert winpeshl_ini(r, {"long": "a" * 250}) is not None
    with pytest.raises(RecipeError, match=r":2: startup.launch_app: AppPath is 251 characters"):
        winpeshl_ini(r, {"long": "a" * 251})


def test_wimscript_sections(tmp_path: Path) -> None:
    r = load_recipe(write(tmp_path / "r.toml", '[wimscript]\nexclusion_exception = ["\\\\keep"]\n'))
    text = wimscript_ini(r.settings.wimscript).decode()
    assert text.startswith("[ExclusionList]\r\n\\$ntfs.log\r\n")
    assert "[ExclusionException]\r\n\\keep\r\n" in text
    assert "[CompressionExclusionList]\r\n*.mp3\r\n" in text


def test_docs_reference_matches_declarations() -> None:
    from _helpers import REPO_ROOT
    from pebuild.recipe.docs import render_reference

    doc = (REPO_ROOT / "docs" / "recipes.md").read_text()
    assert render_reference() in doc, "docs/recipes.md is stale: run python -m pebuild.recipe.docs"
    for path, _field in walk_settings():
        assert f"`{'.'.join(path)}`" in doc


#: a recipe that gives every setting a value other than its default (checked below)
FULL_RECIPE = r"""
arch = ["amd64", "x86"]
source = "sample"
overlays = ["msxml"]
[variables]
server = "deploy01"
odd = "ünï \"quoted\" \\ back\ttab"
[image]
index = "Microsoft Windows PE (amd64)"
boot_index = 1
name = "My PE"
description = "edited"
flags = "9"
[[files.add]]
source = "tools/t.txt"
dest = "Windows/System32/t.txt"
on = "media"
template = true
[files]
remove = ["Windows/System32/x.dll"]
[[files.rename]]
from = "a.txt"
to = "b.txt"
[startup]
launch_app = "%SYSTEMDRIVE%\\tools\\menu.exe"
startnet = ["net use Z: \\\\{{ server }}\\images"]
[[startup.launch_apps]]
app = "x.exe"
args = "-y"
[wimscript]
exclusion_list = ["\\a"]
exclusion_exception = ["\\keep"]
compression_exclusion_list = ["*.gz"]
[bcd]
description = "Other PE"
timeout = 3
locale = "de-DE"
bootmenupolicy = "standard"
ems = true
ems_port = 2
ems_baud = 9600
loadoptions = "DISABLE_INTEGRITY_CHECKS"
[media]
label = "MYPE"
prompt = false
udf = false
joliet = false
boot_manager = "2023"
[pxe]
block_size = 1456
window_size = 4
prompt = true
dhcp_mode = "full"
dhcp_range = "10.0.0.100,10.0.0.199,12h"
interface = "eth1"
server_address = "10.0.0.1"
menu_text = "Boot PE"
[[registry.set]]
key = "HKLM\\SOFTWARE\\X"
name = "v"
type = "dword"
value = 5
"""


def _toml_value(value: object) -> str:
    """One TOML value on one line: inline tables and arrays; JSON string escapes are TOML's too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = [f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(pairs) + "}"
    raise AssertionError(f"no TOML form for {value!r}")


def _to_toml(settings: dict[str, object]) -> str:
    """A recipe from `to_json()["settings"]`: unset (None) keys left out, servicing tables at top level."""
    top = {k: v for k, v in settings.items() if k != "servicing"}
    top.update(settings["servicing"])  # type: ignore[call-overload]
    return "".join(f"{_toml_value(k)} = {_toml_value(v)}\n" for k, v in top.items() if v is not None)


def test_to_json_round_trips_every_setting(tmp_path: Path) -> None:
    """to_json -> JSON -> a TOML recipe -> load_recipe gives the same settings, for every setting."""
    (tmp_path / "tools").mkdir()
    write(tmp_path / "tools" / "t.txt", "tool")
    first = load_recipe(write(tmp_path / "r.toml", FULL_RECIPE)).to_json()["settings"]
    default = load_recipe(write(tmp_path / "empty.toml", "")).to_json()["settings"]
    for path, _f in walk_settings():
        node, base = first, default
        for part in path:
            node, base = node[part], base[part]
        assert node != base, f"FULL_RECIPE leaves {'.'.join(path)} at its default: give it a value"
    assert first["servicing"]["registry"]["set"][0]["value"] == 5
    data = json.loads(json.dumps(first))
    text = _to_toml(data)
    (tmp_path / "elsewhere").mkdir()  # paths came out absolute: they must not depend on the recipe's dir
    again = load_recipe(write(tmp_path / "elsewhere" / "again.toml", text)).to_json()["settings"]
    assert again == first, text
    assert again["arch"] == ["amd64", "x86"] and again["variables"]["odd"] == 'ünï "quoted" \\ back\ttab'


def test_crlf_and_bom_recipes_from_windows_editors(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_bytes(b"\xef\xbb\xbf# saved by Notepad\r\n[bcd]\r\ntimeout = 7\r\n[media]\r\nlabel = 5\r\n")
    with pytest.raises(RecipeError, match=r"r\.toml:5: media\.label: expected a string"):
        load_recipe(path)
    path.write_bytes(b"\xef\xbb\xbf[bcd]\r\ntimeout = 7\r\n")
    assert load_recipe(path).settings.bcd.timeout == 7
