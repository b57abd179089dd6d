"""The PXE tree: layout per arch, boot files equal to the WIM's (read by wimlib-imagex), BCDs read by
hivexregedit, atomic replacement, reproducibility, one-line errors."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from pxe_support import make_boot_wim

from _helpers import assert_one_line_error, require_tool
from pebuild.errors import OutputError, SourceError, UsageError
from pebuild.outputs import OutputOptions
from pebuild.pxe import PxeRequest, write_pxe_tree

TS = 1_700_000_000


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def wim_file(wim: Path, path: str, dest: Path) -> bytes:
    """The file as wimlib-imagex (not pebuild) extracts it."""
    tool = require_tool("wimlib-imagex")
    subprocess.run(
        [tool, "extract", str(wim), "1", path, f"--dest-dir={dest}", "--no-acls"],
        check=True,
        capture_output=True,
    )
    return (dest / path.rsplit("/", 1)[1]).read_bytes()


def export_bcd(path: Path) -> dict[str, dict[str, str]]:
    """hivexregedit --export as {key: {value name: raw text}}."""
    tool = require_tool("hivexregedit")
    text = subprocess.run(
        [tool, "--export", "--unsafe-printable-strings", str(path), "\\"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    text = re.sub(r"\\\n\s*", "", text)  # join continued hex lines
    keys: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("["):
            current = keys.setdefault(line.strip("[]").lower(), {})
        elif "=" in line:
            name, _, value = line.partition("=")
            current[name.strip('"').lower()] = value
    return keys


def elements(keys: dict[str, dict[str, str]], element: str) -> list[str]:
    return [v["element"] for k, v in keys.items() if k.endswith(f"\\elements\\{element}") and "element" in v]


def qword(value: str) -> int:
    assert value.startswith("hex(3):"), value
    return int.from_bytes(bytes.fromhex(value[7:].replace(",", "")), "little")


def text(value: str) -> str:
    """A REG_SZ as hivexregedit --unsafe-printable-strings prints it: str(1):"..." ."""
    assert value.startswith('str(1):"') and value.endswith('"'), value
    return value[len('str(1):"') : -1].replace("\\\\", "\\")


def utf16_in(value: str, text: str) -> bool:
    """Whether a REG_SZ or a binary device element holds `text` (UTF-16LE, case-insensitive)."""
    if value.startswith('"'):
        return text.lower() in value.lower()
    raw = bytes.fromhex(value.split(":", 1)[1].replace(",", ""))
    return text.lower().encode("utf-16-le") in raw.lower()


@pytest.fixture(scope="module")
def three_arch_tree(tmp_path_factory: pytest.TempPathFactory, boot_wims: dict[str, Path]) -> Path:
    dest = tmp_path_factory.mktemp("tree") / "pxe"
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims, arches=["amd64", "x86", "arm64"], timestamp=TS))
    return dest


def test_tree_layout_per_arch(three_arch_tree: Path, boot_wims: dict[str, Path], tmp_path: Path) -> None:
    files = tree_files(three_arch_tree)
    for wds in ("x64", "x86"):
        for name in ("pxeboot.n12", "bootmgr.exe", "abortpxe.com", "wdsnbp.com", "bootmgfw.efi"):
            assert f"Boot/{wds}/{name}" in files
        assert f"Boot/{wds}/pxeboot.com" not in files  # no F12 prompt by default
        for name in ("BCD", "BCD.efi", "BCD.wimboot", "boot.sdi", "Images/boot.wim"):
            assert f"Boot/{wds}/{name}" in files
    arm = {f for f in files if f.startswith("Boot/arm64/")}
    assert arm == {
        f"Boot/arm64/{n}" for n in ("bootmgfw.efi", "BCD.efi", "BCD.wimboot", "boot.sdi", "Images/boot.wim")
    }
    for shared in (
        "Boot/BCD",
        "EFI/Microsoft/Boot/BCD",
        "Boot/Fonts/wgl4_boot.ttf",
        "Boot/Fonts/segmono_boot.ttf",
        # bootmgfw.efi's error screens read the fonts from here, whatever FontPath says (issue 13)
        "EFI/Microsoft/Boot/Fonts/wgl4_boot.ttf",
        "EFI/Microsoft/Boot/Fonts/segmono_boot.ttf",
    ):
        assert shared in files
    assert sha(three_arch_tree / "EFI/Microsoft/Boot/Fonts/segmono_boot.ttf") == sha(
        three_arch_tree / "Boot/Fonts/segmono_boot.ttf"
    )
    for conf in ("boot.ipxe", "conf/dnsmasq.conf", "conf/tftpd-hpa.remap", "conf/nginx.conf"):
        assert conf in files
    # every boot program is the WIM's own, byte for byte, as wimlib-imagex extracts it
    for arch, wds in (("amd64", "x64"), ("x86", "x86")):
        wim = boot_wims[arch]
        for name, path in (("pxeboot.n12", "PXE"), ("bootmgr.exe", "PXE"), ("bootmgfw.efi", "EFI")):
            expected = wim_file(wim, f"/Windows/Boot/{path}/{name}", tmp_path / arch)
            assert (three_arch_tree / f"Boot/{wds}/{name}").read_bytes() == expected
        assert sha(three_arch_tree / f"Boot/{wds}/Images/boot.wim") == sha(wim)
    # the default stores are the primary arch's
    assert sha(three_arch_tree / "Boot/BCD") == sha(three_arch_tree / "Boot/x64/BCD")
    assert sha(three_arch_tree / "EFI/Microsoft/Boot/BCD") == sha(three_arch_tree / "Boot/x64/BCD.efi")


@pytest.mark.parametrize(
    "bcd, loader",
    [
        ("Boot/x64/BCD", "winload.exe"),
        ("Boot/x64/BCD.efi", "winload.efi"),
        ("Boot/arm64/BCD.efi", "winload.efi"),
    ],
)
def test_bcds_read_back_with_hivex(three_arch_tree: Path, bcd: str, loader: str) -> None:
    keys = export_bcd(three_arch_tree / bcd)
    wds = bcd.split("/")[1]
    # ramdisk options: SDI path and the TFTP tuning bootmgr asks the server for (formats.md §2.7)
    assert [qword(v) for v in elements(keys, "35000007")] == [1456]
    assert [qword(v) for v in elements(keys, "35000008")] == [4]
    assert elements(keys, "3600000b") == []  # var window off by default
    sdi_paths = elements(keys, "32000004")
    # exact case: a Linux TFTP server's names are case-sensitive
    assert [text(v) for v in sdi_paths] == [f"\\Boot\\{wds}\\boot.sdi"]
    assert [text(v) for v in elements(keys, "1200004a")] == ["\\Boot\\Fonts"]
    # the loader boots the ramdisk image of this tree
    devices = elements(keys, "11000001")
    wim = f"\\Boot\\{wds}\\Images\\boot.wim"
    assert any(utf16_in(v, wim) for v in devices), devices
    assert any(utf16_in(v, wim) for v in elements(keys, "21000001"))
    paths = [text(v).lower() for v in elements(keys, "12000002")]
    assert any(p.endswith(loader) for p in paths), paths


def test_tftp_options_follow_the_request(tmp_path: Path, boot_wims: dict[str, Path]) -> None:
    dest = tmp_path / "pxe"
    req = PxeRequest(
        dest=dest, boot_wim=boot_wims["amd64"], block_size=8192, window_size=8, var_window=True, timestamp=TS
    )
    write_pxe_tree(req)
    for bcd in ("Boot/x64/BCD", "Boot/x64/BCD.efi"):
        keys = export_bcd(dest / bcd)
        assert [qword(v) for v in elements(keys, "35000007")] == [8192]
        assert [qword(v) for v in elements(keys, "35000008")] == [8]
        assert elements(keys, "3600000b") == ["hex(3):01"]
    conf = (dest / "conf/dnsmasq.conf").read_text()
    assert "bootmgr asks for 8192" in conf


def test_prompt_uses_pxeboot_com(tmp_path: Path, boot_wims: dict[str, Path]) -> None:
    dest = tmp_path / "pxe"
    result = write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], prompt=True, timestamp=TS))
    assert result.arches[0].bios_nbp == "Boot/x64/pxeboot.com"
    assert (dest / "Boot/x64/pxeboot.com").is_file() and not (dest / "Boot/x64/pxeboot.n12").exists()
    assert "Boot\\x64\\pxeboot.com" in (dest / "conf/dnsmasq.conf").read_text()


def test_same_inputs_give_the_same_tree(tmp_path: Path, boot_wims: dict[str, Path]) -> None:
    trees = []
    for name in ("a", "b"):
        dest = tmp_path / name / "pxe"
        dest.parent.mkdir()
        write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["x86"], arches=["x86"], timestamp=TS))
        trees.append(dest)
    a, b = trees
    assert tree_files(a) == tree_files(b)
    for rel in tree_files(a):
        if rel.startswith("conf/") or rel in ("boot.ipxe", ".pebuild-tree.json"):
            continue  # these name their own absolute directory (the marker lists the conf files' hashes)
        assert sha(a / rel) == sha(b / rel), rel
        assert (a / rel).stat().st_mtime == TS


def test_existing_tree_is_replaced_only_when_complete(tmp_path: Path, boot_wims: dict[str, Path]) -> None:
    dest = tmp_path / "pxe"
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["x86"], arches=["x86"], timestamp=TS))
    before = {rel: sha(dest / rel) for rel in tree_files(dest)}
    broken = make_boot_wim(tmp_path / "broken.wim", "amd64", omit=("Windows/Boot/PXE/pxeboot.n12",))
    with pytest.raises(SourceError):
        write_pxe_tree(PxeRequest(dest=dest, boot_wim=broken, timestamp=TS))
    assert {rel: sha(dest / rel) for rel in tree_files(dest)} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], timestamp=TS))  # its own tree
    assert not (dest / "Boot/x86").exists() and (dest / "Boot/x64/pxeboot.n12").is_file()


def test_a_directory_holding_user_files_is_never_replaced_without_force(
    tmp_path: Path, boot_wims: dict[str, Path]
) -> None:
    dest = tmp_path / "tftp"
    dest.mkdir()
    (dest / "thesis.txt").write_text("years of work")
    with pytest.raises(OutputError, match=r"holds thesis\.txt; use --force"):
        write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], timestamp=TS))
    assert (dest / "thesis.txt").read_text() == "years of work"
    forced = PxeRequest(
        dest=dest, boot_wim=boot_wims["amd64"], timestamp=TS, outputs=OutputOptions(force=True)
    )
    write_pxe_tree(forced)
    assert not (dest / "thesis.txt").exists() and (dest / "Boot/x64/pxeboot.n12").is_file()


def test_missing_boot_files_name_what_was_looked_for(tmp_path: Path) -> None:
    broken = make_boot_wim(
        tmp_path / "broken.wim",
        "amd64",
        omit=("Windows/Boot/PXE/pxeboot.n12", "Windows/Boot/PXE/bootmgr.exe"),
    )
    with pytest.raises(SourceError) as err:
        write_pxe_tree(PxeRequest(dest=tmp_path / "pxe", boot_wim=broken, timestamp=TS))
    message = str(err.value)
    assert "Windows/Boot/PXE/pxeboot.n12" in message and "Windows/Boot/PXE/bootmgr.exe" in message
    assert "\n" not in message
    no_efi = make_boot_wim(tmp_path / "noefi.wim", "arm64", omit=("Windows/Boot/EFI/bootmgfw.efi",))
    with pytest.raises(SourceError, match=re.escape("Windows/Boot/EFI/bootmgfw.efi")):
        write_pxe_tree(PxeRequest(dest=tmp_path / "pxe", boot_wim=no_efi, arches=["arm64"], timestamp=TS))


def test_bios_only_source_warns_and_skips_uefi(tmp_path: Path) -> None:
    wim = make_boot_wim(tmp_path / "waik.wim", "x86", omit=("Windows/Boot/EFI/bootmgfw.efi",))
    result = write_pxe_tree(PxeRequest(dest=tmp_path / "pxe", boot_wim=wim, arches=["x86"], timestamp=TS))
    assert result.arches[0].uefi_nbp is None and result.efi_default_bcd is None
    assert any("bootmgfw.efi" in w for w in result.warnings)
    assert not (tmp_path / "pxe/EFI").exists()


@pytest.mark.parametrize(
    "kw, error",
    [
        ({"arches": ["sparc"]}, "unknown architecture"),
        ({"arches": ["amd64", "x64"]}, "given twice"),
        ({"arches": []}, "no architecture"),
        ({"block_size": 4}, "block size"),
        ({"window_size": 0}, "window size"),
        ({"http_url": "ftp://x/"}, "HTTP URL"),
        ({"dhcp_mode": "relay"}, "DHCP mode"),
        ({"dhcp_mode": "full", "dhcp_range": "10.0.0.5,10.0.0.1"}, "starts after it ends"),
        ({"menu_text": "a\nb"}, "menu text"),
        ({"http_boot": "Boot/x64/bootmgfw.efi"}, "needs --http-url and --dhcp full"),
        ({"http_boot": "../x.efi", "http_url": "http://h/", "dhcp_mode": "full"}, "plain relative path"),
    ],
)
def test_bad_requests(tmp_path: Path, boot_wims: dict[str, Path], kw: dict[str, object], error: str) -> None:
    req = PxeRequest(dest=tmp_path / "pxe", boot_wim=boot_wims["amd64"], timestamp=TS)
    for key, value in kw.items():
        setattr(req, key, value)
    with pytest.raises(UsageError, match=error):
        write_pxe_tree(req)
    assert not (tmp_path / "pxe").exists()


def test_cli_bare_wim_json(run_pebuild, tmp_path: Path, boot_wims: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    wimboot = tmp_path / "wimboot"
    wimboot.write_bytes(b"not really wimboot")
    proc = run_pebuild(
        "pxe", str(boot_wims["amd64"]), str(tmp_path / "pxe"), "--json", "--wimboot", str(wimboot),
        "--http-url", "http://10.0.0.1/pxe", "--dhcp", "full", "--dhcp-range", "10.0.0.100,10.0.0.199,12h",
        env={"SOURCE_DATE_EPOCH": str(TS)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    import json

    data = json.loads(proc.stdout)
    assert data["arches"][0]["bios_nbp"] == "Boot/x64/pxeboot.n12"
    assert data["wimboot"] is True and (tmp_path / "pxe/wimboot").read_bytes() == b"not really wimboot"
    assert (
        "dhcp-boot=tag:ipxe,http://10.0.0.1/pxe/boot.ipxe" in (tmp_path / "pxe/conf/dnsmasq.conf").read_text()
    )


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["--arch", "sparc"], 2, "unknown architecture"),
        (["--arch", "amd64", "--arch", "x86"], 2, "one architecture"),
        (["--block-size", "70000"], 2, "block size"),
    ],
)
def test_cli_errors_are_one_line(
    run_pebuild, tmp_path: Path, boot_wims: dict[str, Path], args, code, text
) -> None:  # type: ignore[no-untyped-def]
    proc = run_pebuild("pxe", str(boot_wims["amd64"]), str(tmp_path / "pxe"), *args)
    assert_one_line_error(proc, code)
    assert text in proc.stderr


def test_cli_missing_boot_files_is_a_source_error(run_pebuild, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = make_boot_wim(tmp_path / "broken.wim", "amd64", omit=("Windows/Boot/PXE/bootmgr.exe",))
    proc = run_pebuild("pxe", str(broken), str(tmp_path / "pxe"))
    assert_one_line_error(proc, SourceError.exit_code)
    assert "bootmgr.exe: looked for Windows/Boot/PXE/bootmgr.exe in broken.wim" in proc.stderr


def test_ipxe_script_is_consistent_with_the_tree(three_arch_tree: Path) -> None:
    script = (three_arch_tree / "boot.ipxe").read_text()
    assert script.startswith("#!ipxe\n")
    labels = set(re.findall(r"^:(\w+)$", script, flags=re.M))
    targets = set(re.findall(r"goto (\w+)", script))
    assert targets <= labels, targets - labels
    assert {"bios_x64", "bios_x86", "uefi_x64", "uefi_x86", "uefi_arm64"} <= labels
    referenced = re.findall(r"^(?:initrd|kernel) \$\{base\}(\S+)", script, flags=re.M)
    assert "wimboot" in referenced
    for rel in referenced:
        if rel != "wimboot":  # user-supplied, absent here
            assert (three_arch_tree / rel).is_file(), rel
    assert "cpuid --ext 29 && goto bios_x64 || goto bios_x86" in script


def test_default_bcd_can_be_the_uefi_store(tmp_path: Path, boot_wims: dict[str, Path]) -> None:
    # proxy-DHCP with dnsmasq sends no option 252, so \Boot\BCD decides; a UEFI-only fleet picks uefi
    dest = tmp_path / "pxe"
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], default_bcd="uefi", timestamp=TS))
    assert sha(dest / "Boot/BCD") == sha(dest / "Boot/x64/BCD.efi") != sha(dest / "Boot/x64/BCD")
    paths = [text(v).lower() for v in elements(export_bcd(dest / "Boot/BCD"), "12000002")]
    assert any(p.endswith("winload.efi") for p in paths), paths
    assert "holds \\Boot\\x64\\BCD.efi, the UEFI store of amd64" in (dest / "conf/dnsmasq.conf").read_text()


@pytest.mark.slow
def test_cli_sample_source_two_arches(run_pebuild, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = run_pebuild("pxe", "sample", str(tmp_path / "pxe"), "--arch", "amd64", "--arch", "x86", "--json")
    assert proc.returncode == 0, proc.stderr
    import json

    data = json.loads(proc.stdout)
    assert [a["arch"] for a in data["arches"]] == ["amd64", "x86"]
    from pebuild.source import open_source

    imagex = require_tool("wimlib-imagex")
    for arch, wds in (("amd64", "x64"), ("x86", "x86")):
        with open_source("sample", arch) as src:
            wim = Path(src.describe()["boot_wim"])
        # the boot programs as wimlib-imagex extracts them from the sample's (one-image) WinPE WIM,
        # not through pebuild's own boot-file lookup
        assert (
            "Image Count:    1"
            in subprocess.run([imagex, "info", wim], capture_output=True, text=True).stdout
        )
        got = tmp_path / f"extracted-{arch}"
        paths = ["/Windows/Boot/PXE/pxeboot.n12", "/Windows/Boot/PXE/bootmgr.exe"]
        subprocess.run(
            [imagex, "extract", wim, "1", *paths, f"--dest-dir={got}"], check=True, capture_output=True
        )
        for name in ("pxeboot.n12", "bootmgr.exe"):
            assert (tmp_path / f"pxe/Boot/{wds}/{name}").read_bytes() == (got / name).read_bytes(), (
                arch,
                name,
            )
        assert (tmp_path / f"pxe/Boot/{wds}/BCD").is_file() and (
            tmp_path / f"pxe/Boot/{wds}/BCD.efi"
        ).is_file()
    assert sha(tmp_path / "pxe/Boot/BCD") == sha(tmp_path / "pxe/Boot/x64/BCD")


def test_missing_boot_sdi_is_generated_with_a_warning(tmp_path: Path) -> None:
    wim = make_boot_wim(tmp_path / "nosdi.wim", "amd64", omit=("Windows/Boot/DVD/PCAT/boot.sdi",))
    result = write_pxe_tree(PxeRequest(dest=tmp_path / "pxe", boot_wim=wim, timestamp=TS))
    assert any("boot.sdi" in w and "generated" in w for w in result.warnings)
    sdi = (tmp_path / "pxe/Boot/x64/boot.sdi").read_bytes()
    assert sdi[:8] == b"$SDI0001" and len(sdi) >= 3_170_304


def test_cli_recipe_tables_and_overrides(run_pebuild, tmp_path: Path, boot_wims: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    """`pebuild pxe --recipe`: the [bcd] table reaches every store, [pxe] the config; options win."""
    recipe = tmp_path / "r.toml"
    recipe.write_text('[bcd]\ntimeout = 3\nlocale = "fr-FR"\n[pxe]\ndhcp_mode = "full"\n'
                      'dhcp_range = "10.1.0.10,10.1.0.20,1h"\nwindow_size = 2\n')  # fmt: skip
    proc = run_pebuild("pxe", str(boot_wims["amd64"]), str(tmp_path / "pxe"), "--recipe", str(recipe),
                       "--window-size", "6", env={"SOURCE_DATE_EPOCH": str(TS)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    conf = (tmp_path / "pxe/conf/dnsmasq.conf").read_text()
    assert "dhcp-range=10.1.0.10,10.1.0.20,1h" in conf and "ramdisktftpwindowsize 6" in conf
    for bcd in ("Boot/x64/BCD", "Boot/x64/BCD.efi"):
        keys = export_bcd(tmp_path / "pxe" / bcd)
        assert [qword(v) for v in elements(keys, "25000004")] == [3]  # timeout from the recipe
        assert "fr-FR" in [text(v) for v in elements(keys, "12000005")]  # locale from the recipe
        assert [qword(v) for v in elements(keys, "35000008")] == [6]  # --window-size beat the recipe's 2
