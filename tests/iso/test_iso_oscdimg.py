"""oscdimg command lines from MakeWinPEMedia, KB947024 and the ADK docs, parsed and built unchanged."""

from __future__ import annotations

import pytest
from iso_support import el_torito_report, iso_extents, isoinfo_extract, run, sevenzip_list

from _helpers import assert_one_line_error, require_tool
from pebuild.errors import UsageError
from pebuild.iso import parse_oscdimg_args

MAKEWINPEMEDIA = (
    r'-bootdata:2#p0,e,b"fwfiles\etfsboot.com"#pEF,e,b"fwfiles\efisys.bin" -u1 -udfver102 media out.iso'
)
KB947024 = (
    r"-m -o -u2 -udfver102 -bootdata:2#p0,e,bfwfiles\etfsboot.com#pEF,e,bfwfiles\efisys.bin media out.iso"
)
ADK_UEFI_ONLY = r"-m -o -u2 -udfver102 -bootdata:1#pEF,e,bfwfiles\efisys.bin media out.iso"
ADK_SINGLE = r"-bfwfiles\efisys.bin -pEF -u1 -udfver102 media out.iso"


def test_iso_oscdimg_parse_makewinpemedia(tmp_path):
    cmd = parse_oscdimg_args(MAKEWINPEMEDIA.split(), cwd=tmp_path)
    req = cmd.request
    assert req.bios_boot == tmp_path / "fwfiles" / "etfsboot.com"
    assert req.uefi_boot == tmp_path / "fwfiles" / "efisys.bin"
    assert req.media_dir == tmp_path / "media" and req.output == tmp_path / "out.iso"
    assert req.udf and not req.udf_only and not req.joliet and req.bios_load_segment == 0x07C0
    assert cmd.options == ["-bootdata", "-u1", "-udfver102"]
    assert any("1.02" in n for n in cmd.notes)


def test_iso_oscdimg_parse_kb947024_and_variants(tmp_path):
    req = parse_oscdimg_args(KB947024.split(), cwd=tmp_path).request
    assert req.udf_only and req.dedupe and req.bios_boot and req.uefi_boot
    req = parse_oscdimg_args(ADK_UEFI_ONLY.split(), cwd=tmp_path).request
    assert req.bios_boot is None and req.uefi_boot == tmp_path / "fwfiles" / "efisys.bin"
    req = parse_oscdimg_args(ADK_SINGLE.split(), cwd=tmp_path).request
    assert req.bios_boot is None and req.uefi_boot is not None
    args = ["-U1", "-UDFVER102", "-LWinPE_X", "-J1", "-t12/31/2000,15:01:00", "-G", "-H", "-N", "-D"]
    args += [
        "-BOOTDATA:2#P0,E,T7C0,B'fw\\etfs boot.com'".replace("'", '"'),
        "#pef,e,bfw\\efisys.bin",
        "m",
        "o.iso",
    ]
    # a .cmd line pasted with a space in a quoted b path: the shell may split it; join as oscdimg would not
    req = parse_oscdimg_args([*args[:9], args[9] + args[10], *args[11:]], cwd=tmp_path).request
    assert req.label == "WinPE_X" and req.joliet and req.udf
    assert req.bios_boot == tmp_path / "fw" / "etfs boot.com"
    assert req.timestamp == 978274860  # 2000-12-31 15:01:00 UTC


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-js media out.iso", "-js is not supported"),
        ("-maxsize:4000 media out.iso", "-maxsize is not supported"),
        ("-bootdata:3#p0,e,bx#pEF,e,by media out.iso", "announces 3 entries"),
        ("-bootdata:1#p2,e,bx media out.iso", "platform 0x2"),
        ("-bootdata:1#p0,e,bx -bx media out.iso", "cannot be combined"),
        ("-u2 -j2 media out.iso", "-j2 cannot be combined"),
        ("-bC:\\fw\\etfsboot.com media out.iso", "drive-letter"),
        ("-t2024-01-01 media out.iso", "mm/dd/yyyy"),
        ("media", "expected a source directory and a target"),
    ],
)
def test_iso_oscdimg_parse_errors(line, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        parse_oscdimg_args(line.split(), cwd=tmp_path)


def test_iso_oscdimg_makewinpemedia_builds(kit, run_pebuild):
    require_tool("xorriso")
    cwd = kit.media.parent
    proc = run_pebuild("oscdimg", *MAKEWINPEMEDIA.split(), cwd=cwd, env={"SOURCE_DATE_EPOCH": "0"})
    assert proc.returncode == 0, proc.stderr
    iso = cwd / "out.iso"
    rows = el_torito_report(iso)
    assert [(r[1], r[3], r[4], r[6]) for r in rows] == [
        ("BIOS", "none", "0x07c0", "8"),
        ("UEFI", "none", "0x0000", "2880"),
    ]
    assert "/SOURCES/BOOT.WIM;1" in iso_extents(iso)  # -u1: ISO 9660 + UDF
    assert "NO Joliet present" in run("isoinfo", "-d", "-i", iso)
    assert sevenzip_list(iso, "udf")["sources/boot.wim"] == len(kit.files["sources/boot.wim"])


def test_iso_oscdimg_kb947024_udf_only_with_dedupe(kit, run_pebuild):
    require_tool("isoinfo")
    cwd = kit.media.parent
    (kit.media / "sources" / "copy.wim").write_bytes(kit.files["sources/boot.wim"])
    proc = run_pebuild("oscdimg", *KB947024.split(), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    iso = cwd / "out.iso"
    assert run("isoinfo", "-f", "-i", iso).split() == ["/README.TXT;1"]
    readme = isoinfo_extract(iso, "/README.TXT;1")
    assert len(readme) == 135 and readme.count(b"\r\n") == 2 and b'contains a "UDF" file system' in readme
    listing = sevenzip_list(iso, "udf")
    assert listing["sources/copy.wim"] == listing["sources/boot.wim"] == 300_000
    # -o stores the duplicate once: the same command without -o is one boot.wim larger
    extracted = cwd / "x"
    run("7z", "x", "-tudf", f"-o{extracted}", iso)
    assert (extracted / "sources" / "copy.wim").read_bytes() == kit.files["sources/boot.wim"]
    proc = run_pebuild(
        "oscdimg", *KB947024.replace("-o ", "").replace("out.iso", "nodedupe.iso").split(), cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    grown = (cwd / "nodedupe.iso").stat().st_size - iso.stat().st_size
    assert grown >= -(-300_000 // 2048) * 2048  # the data blocks (+ a UDF file entry)
    assert el_torito_report(iso)[0][1] == "BIOS"


def test_iso_oscdimg_unsupported_option_cli(kit, run_pebuild, tmp_path):
    proc = run_pebuild("oscdimg", "-ue", str(kit.media), str(tmp_path / "o.iso"))
    assert_one_line_error(proc, 2)
    assert "-ue" in proc.stderr
    assert not (tmp_path / "o.iso").exists()


def test_iso_oscdimg_help_does_not_eat_h(kit, run_pebuild):
    proc = run_pebuild("oscdimg", "--help")
    assert proc.returncode == 0 and "-bootdata" in proc.stdout
    # -h is oscdimg's "include hidden files", not help, even though `pebuild -h` is help
    proc = run_pebuild("oscdimg", "-h", "-u1", "media", "h.iso", cwd=kit.media.parent)
    assert proc.returncode == 0, proc.stderr
    assert "/SOURCES/BOOT.WIM;1" in iso_extents(kit.media.parent / "h.iso")


def test_iso_oscdimg_yo_file_order_and_t_date(kit, run_pebuild):
    require_tool("isoinfo")
    cwd = kit.media.parent
    (cwd / "bootorder.txt").write_text("sources\\boot.wim\r\nboot\\bcd\r\n", encoding="utf-8")
    line = r"-u1 -j1 -lWINPE -t01/02/2024,03:04:05 -yobootorder.txt -bootdata:1#p0,e,bfwfiles\etfsboot.com media o.iso"
    proc = run_pebuild("oscdimg", *line.split(), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    ext = iso_extents(cwd / "o.iso")
    others = [
        lba for p, lba in ext.items() if p not in ("/SOURCES/BOOT.WIM;1", "/BOOT/BCD.;1", "/EMPTY.TXT;1")
    ]
    assert ext["/SOURCES/BOOT.WIM;1"] < ext["/BOOT/BCD.;1"] < min(others)
    assert "2024-01-02 03:04:05" in run("7z", "l", "-tudf", cwd / "o.iso")
    assert "/sources/boot.wim" in run("isoinfo", "-J", "-f", "-i", cwd / "o.iso").splitlines()
