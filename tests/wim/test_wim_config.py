"""wimscript.ini parsing and capture honouring it (checked with wimlib-imagex dir)."""

from __future__ import annotations

import pytest

from pebuild.errors import RecipeError
from pebuild.wim import CaptureConfig, capture

DISM_STYLE = """\
; DISM WimScript.ini
[ExclusionList]
\\$ntfs.log
\\pagefile.sys
\\System Volume Information
\\Windows\\CSC
*.tmp
"\\Program Files\\Big Tool"

[ExclusionException]
\\Windows\\CSC\\keep.me
important.tmp

[CompressionExclusionList]
*.mp3
*.zip
*.cab
\\WINDOWS\\inf\\*.pnf
"""


def test_parse_sections_comments_quotes():
    cfg = CaptureConfig.parse(DISM_STYLE)
    assert cfg.exclusion_list == [
        "\\$ntfs.log",
        "\\pagefile.sys",
        "\\System Volume Information",
        "\\Windows\\CSC",
        "*.tmp",
        "\\Program Files\\Big Tool",
    ]
    assert cfg.exclusion_exception == ["\\Windows\\CSC\\keep.me", "important.tmp"]
    assert cfg.compression_exclusion_list == ["*.mp3", "*.zip", "*.cab", "\\WINDOWS\\inf\\*.pnf"]
    # round trip through the writer
    assert CaptureConfig.parse(cfg.to_ini()) == cfg
    assert "[CompressionExclusionList]" not in cfg.to_ini(libwim_only=True)


def test_parse_is_case_insensitive_and_reads_utf16(tmp_path):
    path = tmp_path / "wimscript.ini"
    path.write_bytes("[exclusionlist]\r\n# hash comment\r\n*.log\r\n".encode("utf-16"))
    assert CaptureConfig.from_file(path).exclusion_list == ["*.log"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("*.tmp\n", 1),
        ("[ExclusionList]\n*.tmp\n[Bogus]\n", 3),
        ("[ExclusionList\n", 1),
        ("[ExclusionList]\nC:\\pagefile.sys\n", 2),
    ],
)
def test_parse_errors_carry_the_line(tmp_path, text, line):
    path = tmp_path / "bad.ini"
    path.write_text(text)
    with pytest.raises(RecipeError) as err:
        CaptureConfig.from_file(path)
    assert err.value.line == line and str(err.value).startswith(f"{path}:{line}:")


def test_is_excluded_rules():
    cfg = CaptureConfig.parse(DISM_STYLE)
    assert cfg.is_excluded("pagefile.sys")
    assert not cfg.is_excluded("Windows/pagefile.sys")  # anchored glob: root only
    assert cfg.is_excluded("Windows/CSC/cache.db")
    assert not cfg.is_excluded("Windows/CSC/keep.me")
    assert cfg.is_excluded("a/b/x.TMP") and not cfg.is_excluded("a/important.tmp")
    assert cfg.is_excluded("Program Files/Big Tool/x.exe")


def test_capture_honours_the_config(wt, tmp_path):
    tree = tmp_path / "tree"
    files = [
        "pagefile.sys",
        "Windows/pagefile.sys",
        "Windows/CSC/cache.db",
        "Windows/CSC/keep.me",
        "Windows/System32/a.tmp",
        "Windows/System32/important.tmp",
        "Windows/System32/song.mp3",
        "Program Files/Big Tool/x.exe",
        "Program Files/Small/y.exe",
    ]
    for rel in files:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(rel.encode() * 50)
    cfg_path = tmp_path / "wimscript.ini"
    cfg_path.write_text(DISM_STYLE)
    cfg = CaptureConfig.from_file(cfg_path)
    wim = tmp_path / "c.wim"
    capture(tree, wim, "Cfg", config=cfg)
    captured = {p.lstrip("/") for p in wt.listing(wim, 1)}
    for rel in files:
        assert (rel in captured) == (not cfg.is_excluded(rel)), rel
    assert "Windows/CSC/keep.me" in captured and "Windows/CSC/cache.db" not in captured
    assert "Windows/System32/song.mp3" in captured  # compression exclusions are still captured
    wt.imagex("verify", wim)
