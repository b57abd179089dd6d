"""El Torito catalog, labels, layout and reproducibility, checked by xorriso, isoinfo, udfinfo and 7z."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from iso_support import el_torito_report, iso_extents, run, sevenzip_list, volume_descriptors

from _helpers import require_tool
from pebuild.iso import IsoRequest, write_iso


def _write(kit, out: Path, **kw) -> Path:
    req = IsoRequest(kit.media, out, kit.bios, kit.uefi, timestamp=1_700_000_000, **kw)
    result = write_iso(req)
    assert result.path == out and result.size == out.stat().st_size
    assert result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    return out


def test_iso_catalog_bios_and_uefi_entries(kit, tmp_path):
    require_tool("xorriso")
    require_tool("isoinfo")
    iso = _write(kit, tmp_path / "dual.iso")
    rows = el_torito_report(iso)
    # N Pltf B Emul Ld_seg Hdpt Ldsiz LBA
    assert [r[:7] for r in rows] == [
        ["1", "BIOS", "y", "none", "0x07c0", "0x00", "8"],
        ["2", "UEFI", "y", "none", "0x0000", "0x00", str(1_474_560 // 512)],
    ]
    info = run("isoinfo", "-d", "-i", iso)
    assert "Arch 0 (x86)" in info and "Key 55 AA" in info
    assert "Boot media 0 (No Emulation Boot)" in info and "Load segment 7C0" in info and "Nsect 8" in info
    # the images are the files we gave, byte for byte (7z exposes the catalog images)
    out = tmp_path / "x"
    run("7z", "x", "-tiso", f"-o{out}", iso, "[BOOT]")
    assert (out / "[BOOT]" / "1-Boot-NoEmul.img").read_bytes() == kit.bios.read_bytes()
    assert (out / "[BOOT]" / "2-Boot-NoEmul.img").read_bytes() == kit.uefi.read_bytes()


def test_iso_catalog_uefi_only(kit, tmp_path):
    require_tool("xorriso")
    iso = tmp_path / "arm64.iso"
    write_iso(IsoRequest(kit.media, iso, None, kit.uefi, timestamp=0))
    rows = el_torito_report(iso)
    assert len(rows) == 1 and rows[0][1] == "UEFI" and rows[0][3] == "none" and rows[0][6] == "2880"
    assert "Arch 239 (Unknown Arch)" in run("isoinfo", "-d", "-i", iso) or "Arch 239" in run(
        "isoinfo", "-d", "-i", iso
    )


def test_iso_label_in_every_descriptor(kit, tmp_path):
    require_tool("udfinfo")
    require_tool("isoinfo")
    label = "IR1_CPRA_X64FREV_EN-US_DV5"  # a real Windows media label (formats.md 4.5)
    iso = _write(kit, tmp_path / "l.iso", label=label)
    assert f"Volume id: {label}" in run("isoinfo", "-d", "-i", iso)
    joliet = [vd for vd in volume_descriptors(iso) if vd[0] == 2 and vd[88:91] == b"%/E"]
    assert len(joliet) == 1
    assert joliet[0][40:72].decode("utf-16-be").rstrip() == label[:16]  # Joliet holds 16 UCS-2 chars
    udf = dict(line.split("=", 1) for line in run("udfinfo", iso).splitlines() if "=" in line)
    assert udf["label"] == label and udf["lvid"] == label
    assert udf["vid"] == label and udf["fsid"] == label  # <= 30 characters fit the short dstrings
    assert f"VolumeId: {label}" in run("7z", "l", "-slt", "-tudf", iso)


def test_iso_boot_images_first_and_hidden_by_default(kit, tmp_path):
    require_tool("xorriso")
    require_tool("isoinfo")
    iso = _write(kit, tmp_path / "h.iso")
    boot_lbas = [int(r[7]) for r in el_torito_report(iso)]
    files = iso_extents(iso)
    data_lbas = [lba for path, lba in files.items() if not path.endswith("EMPTY.TXT;1")]
    assert max(boot_lbas) < min(data_lbas), (boot_lbas, files)
    # images from outside the media tree are reachable only through the catalog, like oscdimg
    for listing in (files, iso_extents(iso, joliet=True), sevenzip_list(iso, "udf")):
        assert not any(
            "etfsboot" in p.lower() or "efisys" in p.lower() or "boot.cat" in p.lower() for p in listing
        )


def test_iso_boot_images_visible_when_asked(kit, tmp_path):
    require_tool("isoinfo")
    iso = _write(kit, tmp_path / "v.iso", hide_boot_images=False)
    assert "/ETFSBOOT.COM;1" in iso_extents(iso)
    assert "/efisys.bin" in iso_extents(iso, joliet=True)
    assert sevenzip_list(iso, "udf")["etfsboot.com"] == 4096


def test_iso_boot_image_inside_tree_hidden(kit, tmp_path):
    require_tool("isoinfo")
    inside = kit.media / "boot" / "etfsboot.com"
    inside.write_bytes(kit.bios.read_bytes())
    visible = tmp_path / "in.iso"
    write_iso(IsoRequest(kit.media, visible, inside, kit.uefi, timestamp=0))
    assert "/BOOT/ETFSBOOT.COM;1" in iso_extents(visible)
    hidden = tmp_path / "hid.iso"
    write_iso(IsoRequest(kit.media, hidden, inside, kit.uefi, timestamp=0, hide_boot_images=True))
    assert "/BOOT/ETFSBOOT.COM;1" not in iso_extents(hidden)
    assert "boot/etfsboot.com" not in sevenzip_list(hidden, "udf")
    assert el_torito_report(hidden)[0][1] == "BIOS"


def test_iso_file_order_puts_listed_files_first(kit, tmp_path):
    require_tool("isoinfo")
    iso = _write(kit, tmp_path / "o.iso", file_order=["sources\\boot.wim", "boot/BCD"])
    ext = iso_extents(iso)
    others = [
        lba for p, lba in ext.items() if p not in ("/SOURCES/BOOT.WIM;1", "/BOOT/BCD.;1", "/EMPTY.TXT;1")
    ]
    assert ext["/SOURCES/BOOT.WIM;1"] < ext["/BOOT/BCD.;1"] < min(others)
    out = tmp_path / "x"
    run("7z", "x", "-tudf", f"-o{out}", iso)
    assert (out / "sources" / "boot.wim").read_bytes() == kit.files["sources/boot.wim"]


def test_iso_byte_identical_twice(kit, tmp_path, run_pebuild):
    args = [str(kit.media), "--bios", str(kit.bios), "--uefi", str(kit.uefi), "--label", "REPRO"]
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    a, b = tmp_path / "a.iso", tmp_path / "b.iso"
    run_pebuild("iso", args[0], str(a), *args[1:], env={**env, "TZ": "UTC"}, check=True)
    time.sleep(1.1)  # a wall-clock second later, in another time zone
    run_pebuild("iso", args[0], str(b), *args[1:], env={**env, "TZ": "Asia/Tokyo"}, check=True)
    assert a.read_bytes() == b.read_bytes()
    c = tmp_path / "c.iso"
    proc = run_pebuild(
        "iso", args[0], str(c), *args[1:], "--date", "2024-01-02T03:04:05Z", "--json", check=True
    )
    assert c.read_bytes() != a.read_bytes()
    reported = json.loads(proc.stdout)
    assert reported["sha256"] == hashlib.sha256(c.read_bytes()).hexdigest()
    assert reported["size"] == c.stat().st_size and reported["path"] == str(c)
    assert "2024-01-02 03:04:05" in run("7z", "l", "-tudf", c)  # UDF file entry times
    assert "2024-01-02 03:04:05" in run("7z", "l", "-tiso", c)  # ISO 9660 directory record times
    pvd = run("xorriso", "-indev", c, "-pvd_info")
    for field in (
        "Creation Time: 2024010203040500",
        "Modif. Time  : 2024010203040500",
        "Eff. Time    : 2024010203040500",
    ):
        assert field in pvd


def test_iso_udf_only_boot_image_inside_tree_shares_data(kit, tmp_path):
    require_tool("xorriso")
    inside = kit.media / "boot" / "etfsboot.com"
    inside.write_bytes(kit.bios.read_bytes())
    iso = tmp_path / "u2.iso"
    write_iso(IsoRequest(kit.media, iso, inside, kit.uefi, timestamp=0, udf_only=True))
    boot_lba = int(el_torito_report(iso)[0][7])
    assert run("isoinfo", "-f", "-i", iso).split() == ["/README.TXT;1"]
    assert sevenzip_list(iso, "udf")["boot/etfsboot.com"] == 4096
    # the UDF file and the catalog entry are one extent (a hard link, not a second copy):
    # the same disc booting the outside copy of the same image is exactly that image larger
    other = tmp_path / "u2-outside.iso"
    write_iso(IsoRequest(kit.media, other, kit.bios, kit.uefi, timestamp=0, udf_only=True))
    assert other.stat().st_size - iso.stat().st_size == 4096
    with open(iso, "rb") as fh:
        fh.seek(boot_lba * 2048)
        assert fh.read(4096) == kit.bios.read_bytes()
    out = tmp_path / "x"
    run("7z", "x", "-tudf", f"-o{out}", iso, "boot")
    assert (out / "boot" / "etfsboot.com").read_bytes() == kit.bios.read_bytes()
