"""pebuild.wim.Wim and capture() against WIMs written and checked by wimlib-imagex."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pebuild.errors import FormatError, OutputError, SourceError, ToolError, UsageError
from pebuild.wim import AddCommand, Compression, DeleteCommand, RenameCommand, Wim, capture, libwim_version


def _imagex_info(wt, wim: Path) -> dict[str, str]:
    out = wt.imagex("info", wim).stdout
    fields: dict[str, str] = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields.setdefault(k.strip(), v.strip())
    return fields


@pytest.mark.parametrize("compress", ["lzx", "xpress"])
def test_info_and_images_match_wimlib_imagex(wim_factory, wt, compress):
    wim = wim_factory(compress)
    ref = _imagex_info(wt, wim)
    with Wim.open(wim) as w:
        info = w.info
        images = w.images
        xml = w.xml
    assert info.guid_hex == ref["GUID"].removeprefix("0x")
    assert info.image_count == int(ref["Image Count"]) == 2
    assert info.boot_index == int(ref["Boot Index"]) == 2
    assert str(info.compression).upper() == ref["Compression"].upper()
    assert info.chunk_size == int(ref["Chunk Size"].split()[0])
    assert (info.part_number, info.total_parts) == (1, 1)
    assert [i.name for i in images] == ["WinPE A", "WinPE B"]
    assert images[0].description == "Image captured from NTFS"
    assert [i.is_boot for i in images] == [False, True]
    ref_xml = (
        subprocess.run(["wimlib-imagex", "info", str(wim), "--xml"], capture_output=True, check=True)
        .stdout.decode("utf-16-le")
        .lstrip("\ufeff")
    )
    assert xml == ref_xml
    for img in images:
        assert f"<DIRCOUNT>{img.dir_count}</DIRCOUNT>" in xml
        assert f"<FILECOUNT>{img.file_count}</FILECOUNT>" in xml
        assert img.file_count > 40 if img.index == 1 else img.file_count > 10
        assert img.creation_time is not None and img.creation_time > 1_500_000_000
    assert re.match(r"\d+\.\d+\.\d+", libwim_version())


def test_entries_report_windows_metadata(wim_factory):
    with Wim.open(wim_factory("lzx")) as w:
        ntfs = {e.path: e for e in w.entries(1)}
        linux = {e.path: e for e in w.entries(2)}
    assert ntfs["Windows/System32/startnet.cmd"].security_descriptor  # from the NTFS volume
    assert ntfs["Windows/System32"].is_dir
    assert linux["Windows/System32/startnet.lnk"].is_symlink
    a, b = linux["Windows/System32/file000.dll"], linux["Windows/System32/hardlink.dll"]
    assert a.num_links == b.num_links == 2 and a.hard_link_group_id == b.hard_link_group_id


def test_extract_and_read_file_match_imagex(wim_factory, wt, tmp_path):
    wim = wim_factory("xpress")
    ours, ref = tmp_path / "ours", tmp_path / "ref"
    with Wim.open(wim) as w:
        w.extract(1, ["Windows/System32/config/SYSTEM", "Program Files\\Tool"], ours)
        startnet = w.read_file(2, "windows/system32/STARTNET.CMD")  # Windows: case-insensitive
        with pytest.raises(SourceError):
            w.read_file(1, "Windows/nope.txt")
        with pytest.raises(UsageError):
            w.read_file(1, "Windows/System32")
    wt.imagex(
        "extract", wim, "1", "/Windows/System32/config/SYSTEM", "/Program Files/Tool", f"--dest-dir={ref}"
    )
    assert (ours / "Windows/System32/config/SYSTEM").read_bytes() == (ref / "SYSTEM").read_bytes()
    assert (ours / "Program Files/Tool/tool.exe").read_bytes() == (ref / "Tool/tool.exe").read_bytes()
    assert startnet == b"wpeinit\r\n"


def test_extract_image_matches_imagex_apply(wim_factory, wt, tmp_path):
    wim = wim_factory("lzx")
    with Wim.open(wim) as w:
        w.extract_image(2, tmp_path / "ours")
    wt.imagex("apply", wim, "2", tmp_path / "ref")
    diff = subprocess.run(["diff", "-r", "--no-dereference", tmp_path / "ours", tmp_path / "ref"])
    assert diff.returncode == 0


def test_update_in_place_append_mode(sample_wim, wt, tmp_path):
    before_other = wt.detailed(sample_wim, 1)
    new = tmp_path / "new.txt"
    new.write_bytes(b"added by pebuild\r\n")
    old_size = sample_wim.stat().st_size
    with Wim.open(sample_wim, write=True) as w:
        w.update(
            2,
            [
                AddCommand(new, "Windows/System32/new.txt"),
                AddCommand(b"echo hi\r\n", "Deep/New/Dir/hi.cmd"),
                DeleteCommand("Program Files", recursive=True),
                RenameCommand("Windows/System32/startnet.cmd", "Windows/System32/startnet.old"),
            ],
        )
        w.set_image_properties(2, name="Edited", description="changed", flags="9")
        w.overwrite()
    assert sample_wim.stat().st_size > old_size  # appended, not rebuilt
    wt.imagex("verify", sample_wim)
    names = wt.listing(sample_wim, 2)
    assert "/Windows/System32/new.txt" in names and "/Deep/New/Dir/hi.cmd" in names
    assert "/Program Files" not in names and "/Windows/System32/startnet.old" in names
    assert "/Windows/System32/startnet.cmd" not in names
    assert wt.detailed(sample_wim, 1) == before_other  # other image untouched
    info = wt.imagex("info", sample_wim, "2").stdout
    assert re.search(r"Name:\s+Edited", info) and re.search(r"Description:\s+changed", info)
    assert re.search(r"Boot Index:\s+2", wt.imagex("info", sample_wim).stdout)


def test_update_is_atomic_on_error(sample_wim, wt):
    before = wt.sha256(sample_wim)
    with Wim.open(sample_wim, write=True) as w:
        with pytest.raises(SourceError):
            w.update(1, [AddCommand(b"x", "ok.txt"), DeleteCommand("does/not/exist")])
        assert not w.exists(1, "ok.txt")  # rolled back
    assert wt.sha256(sample_wim) == before


def test_set_boot_index_and_rebuild(sample_wim, wt):
    with Wim.open(sample_wim, write=True) as w:
        w.set_boot_index(1)
        w.overwrite(rebuild=True, check=True)
    out = wt.imagex("info", sample_wim).stdout
    assert re.search(r"Boot Index:\s+1", out)
    wt.imagex("verify", sample_wim)
    with Wim.open(sample_wim, check=True) as w:
        assert w.info.has_integrity_table


def test_write_one_image_with_new_compression(sample_wim, wt, tmp_path):
    out = tmp_path / "export.wim"
    with Wim.open(sample_wim) as w:
        w.write(out, index=1, compression=Compression.XPRESS, boot=True)
    info = wt.imagex("info", out).stdout
    assert re.search(r"Image Count:\s+1", info) and re.search(r"Compression:\s+XPRESS", info)
    assert re.search(r"Boot Index:\s+1", info)
    wt.imagex("verify", out)
    assert wt.detailed(out, 1, layout=False) == wt.detailed(sample_wim, 1, layout=False)


def test_pinned_write_is_byte_identical(sample_wim, wt, tmp_path):
    """Same inputs + guid + timestamp -> same bytes, whatever the thread count."""
    guid = bytes(range(16))
    outs = []
    for n, threads in enumerate((1, 2, 1)):
        with Wim.open(sample_wim) as w:
            w.update(2, [AddCommand(b"same\r\n", "New/Dir/same.txt")], timestamp=1_700_000_000)
            out = tmp_path / f"out{n}.wim"
            w.write(out, guid=guid, timestamp=1_700_000_000, threads=threads)
            outs.append(out)
    assert len({wt.sha256(p) for p in outs}) == 1
    wt.imagex("verify", outs[0])
    info = wt.imagex("info", outs[0]).stdout
    assert re.search(r"GUID:\s+0x000102030405060708090a0b0c0d0e0f", info)
    xml = subprocess.run(["wimlib-imagex", "info", str(outs[0]), "--xml"], capture_output=True).stdout
    ft = 1_700_000_000 * 10_000_000 + 116444736000000000
    assert f"<HIGHPART>0x{ft >> 32:08X}</HIGHPART>".encode("utf-16-le") in xml


def test_capture_is_deterministic_with_fixed_times(wt, tmp_path):
    tree = wt.make_tree(tmp_path / "tree", seed=7, files=20)
    outs = []
    for n in range(2):
        wt.fix_times(tree)  # reading files may move atime (relatime); libwim stores atime too
        out = tmp_path / f"cap{n}.wim"
        capture(
            tree, out, "Cap", "desc", compression="lzx", boot=True, guid=bytes(16), timestamp=1_650_000_000
        )
        outs.append(out)
    assert wt.sha256(outs[0]) == wt.sha256(outs[1])
    wt.imagex("verify", outs[0])
    assert re.search(r"Boot Index:\s+1", wt.imagex("info", outs[0]).stdout)
    subprocess.run(
        ["wimlib-imagex", "apply", str(outs[0]), "1", str(tmp_path / "applied")],
        check=True,
        capture_output=True,
    )
    assert subprocess.run(["diff", "-r", "--no-dereference", tree, tmp_path / "applied"]).returncode == 0


def test_source_date_epoch_pins_capture(wt, tmp_path, monkeypatch):
    tree = wt.make_tree(tmp_path / "tree", seed=3, files=5, symlinks=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1650000000")
    digests = set()
    for n in range(2):
        wt.fix_times(tree)
        out = tmp_path / f"sde{n}" / "boot.wim"
        out.parent.mkdir()
        capture(tree, out, "PE")
        digests.add(wt.sha256(out))
    assert len(digests) == 1


def test_capture_append_and_name_collision(sample_wim, wt, tmp_path):
    tree = wt.make_tree(tmp_path / "t", seed=5, files=3, symlinks=False)
    index = capture(tree, sample_wim, "Third", append=True, boot=True)
    assert index == 3
    out = wt.imagex("info", sample_wim).stdout
    assert re.search(r"Image Count:\s+3", out) and re.search(r"Boot Index:\s+3", out)
    wt.imagex("verify", sample_wim)
    before = wt.sha256(sample_wim)
    with pytest.raises(UsageError):
        capture(tree, sample_wim, "Third", append=True)
    assert wt.sha256(sample_wim) == before


def test_bad_inputs(tmp_path, sample_wim):
    junk = tmp_path / "junk.wim"
    junk.write_bytes(b"not a wim at all" * 20)
    with pytest.raises(FormatError):
        Wim.open(junk)
    truncated = tmp_path / "trunc.wim"
    truncated.write_bytes(sample_wim.read_bytes()[: sample_wim.stat().st_size // 2])
    with pytest.raises(FormatError), Wim.open(truncated) as w:
        w.extract_image(1, tmp_path / "x")
    with pytest.raises(UsageError):
        Wim.open(tmp_path / "missing.wim")
    with Wim.open(sample_wim) as w:
        with pytest.raises(UsageError):
            w.image_index(3)
        with pytest.raises(SourceError):
            w.image_index("No such image")
        assert w.image_index("WinPE B") == 2
        with pytest.raises(OutputError):
            w.write(tmp_path / "no" / "dir" / "x.wim")
        with pytest.raises(UsageError):
            w.overwrite()  # opened read-only


def test_missing_libwim_is_a_tool_error_naming_the_package():
    code = (
        "import ctypes.util\n"
        "from pebuild.wim import _libwim as L\n"
        "L.LIBRARY_NAMES = ('libwim-does-not-exist.so.99',)\n"
        "ctypes.util.find_library = lambda name: None\n"
        "try:\n    L.lib()\n"
        "except L.ToolError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ToolError") and "libwim15" in out
    assert issubclass(ToolError, Exception)


def test_progress_events_and_callback_errors(sample_wim, tmp_path):
    events = []
    with Wim.open(sample_wim) as w:
        w.extract_image(1, tmp_path / "x", progress=events.append)
    assert any(e.stage == "extract" and e.total and e.done == e.total for e in events)

    class Stop(Exception):
        pass

    def boom(_event):
        raise Stop

    with Wim.open(sample_wim) as w, pytest.raises(Stop):
        w.extract_image(1, tmp_path / "y", progress=boom)
    shutil.rmtree(tmp_path / "y", ignore_errors=True)


def test_verify_finds_corruption_and_optimize_compacts(sample_wim, wt, tmp_path):
    with Wim.open(sample_wim) as w:
        w.verify()
        entry = next(e for e in w.entries(1) if e.path == "Windows/System32/config/SYSTEM")
    assert entry.size == 20_000 and entry.sha1 is not None
    # delete a big file in append mode: the old blob stays in the file until optimize
    with Wim.open(sample_wim, write=True) as w:
        w.update(1, [DeleteCommand("Windows/System32/config/SYSTEM")])
        w.update(2, [DeleteCommand("Windows/System32/config/SYSTEM")])
        w.overwrite()
    appended = sample_wim.stat().st_size
    with Wim.open(sample_wim, write=True) as w:
        w.optimize()
    assert sample_wim.stat().st_size < appended
    wt.imagex("verify", sample_wim)
    # flip bytes inside a file's compressed data: verify must fail with a FormatError
    data = bytearray(sample_wim.read_bytes())
    for i in range(300, 340):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.wim"
    bad.write_bytes(bytes(data))
    assert wt.imagex("verify", bad, check=False).returncode != 0
    with pytest.raises(FormatError), Wim.open(bad) as w:
        w.verify()


def test_windows_arch_is_named_like_the_adk(sample_wim, wt):
    wt.imagex("info", sample_wim, "2", "--image-property", "WINDOWS/ARCH=9")
    wt.imagex("info", sample_wim, "1", "--image-property", "WINDOWS/ARCH=12")
    with Wim.open(sample_wim) as w:
        assert [i.arch for i in w.images] == ["arm64", "amd64"]
        assert w.image_property(2, "WINDOWS/ARCH") == "9"


def test_property_only_overwrite_is_a_rebuild(sample_wim, wt):
    """libwim would rewrite the XML in place (unsafe); pebuild rebuilds into a new file instead."""
    inode = sample_wim.stat().st_ino
    with Wim.open(sample_wim, write=True) as w:
        w.set_image_properties(1, description="only the XML changes")
        w.set_boot_index(1)
        w.overwrite()
    assert sample_wim.stat().st_ino != inode  # renamed into place, never written over
    info = wt.imagex("info", sample_wim).stdout
    assert re.search(r"Boot Index:\s+1", info)
    assert "only the XML changes" in wt.imagex("info", sample_wim, "1").stdout
    wt.imagex("verify", sample_wim)


def test_unsafe_xml_in_place_skips_the_rebuild(sample_wim, wt):
    """The builder's private copy may take libwim's in-place XML rewrite: same file, still valid."""
    inode = sample_wim.stat().st_ino
    with Wim.open(sample_wim, write=True) as w:
        w.set_times(1, 1_700_000_000)
        w.overwrite(unsafe_xml_in_place=True)
    assert sample_wim.stat().st_ino == inode  # written in place, no copy of the WIM
    wt.imagex("verify", sample_wim)
    with Wim.open(sample_wim) as w:
        assert w.images[0].last_modification_time == 1_700_000_000
