"""Write a WDS-style PXE tree (TFTP root), the iPXE/wimboot HTTP files and the server configs.

Layout (DEST is the TFTP root *and* the HTTP document root, like WDS's RemoteInstall):

    Boot/<x86|x64|arm64|ia64>/pxeboot.n12   BIOS NBP (pxeboot.com with prompt=True), no F12
    Boot/<dir>/bootmgr.exe, abortpxe.com, wdsnbp.com (when the source has them)
    Boot/<dir>/bootmgfw.efi                 UEFI NBP (the boot manager itself)
    Boot/<dir>/BCD, BCD.efi                 BIOS / UEFI store, named by DHCP option 252
    Boot/<dir>/BCD.wimboot                  media-style store for iPXE + wimboot
    Boot/<dir>/boot.sdi, Images/boot.wim    ramdisk SDI and the image
    Boot/BCD                                the primary arch's store for clients without option 252
    EFI/Microsoft/Boot/BCD                  the first UEFI store (Windows 7 bootmgfw asks here)
    Boot/Fonts/*.ttf                        boot fonts (the stores' FontPath)
    EFI/Microsoft/Boot/Fonts/*.ttf          the same fonts where bootmgfw.efi's error screens look
    boot.ipxe, wimboot                      iPXE script (+ wimboot when given)
    conf/dnsmasq.conf, tftpd-hpa.remap, nginx.conf; dhcp-server-252.conf (proxy-DHCP)

Each architecture keeps its own boot.wim and boot.sdi under Boot/<dir>, so
trees of several architectures never share a file that differs between them
(WDS's own `\\Boot\\<arch>\\Images` shape, formats.md §5.3). The whole tree is
staged beside DEST and renamed into place when complete (pebuild.outputs: DEST
is replaced only if it is empty or a PXE tree pebuild wrote and nobody added
to; files get 0644 and directories 0755 less the umask, so dnsmasq serves the
tree after dropping privileges to `nobody`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pebuild import __version__
from pebuild.clock import build_time
from pebuild.errors import SourceError, UsageError
from pebuild.fsutil import copy_file
from pebuild.outputs import TREE, Output, OutputOptions, OutputPlan, Transaction, plan_outputs
from pebuild.progress import Progress, ProgressEvent
from pebuild.pxe.arches import ArchSpec, arch_spec
from pebuild.pxe.bootfiles import BootFiles
from pebuild.pxe.dnsmasq import (
    BootEntry,
    DnsmasqOptions,
    check_dhcp_options,
    render_dhcp_server_252,
    render_dnsmasq_conf,
)
from pebuild.pxe.ipxe import IpxeArch, check_http_url, render_boot_ipxe
from pebuild.pxe.templates import render

#: WDS's values (formats.md §2.7): 1456 fits a 1500-byte MTU with room for a VLAN tag; window 4.
DEFAULT_BLOCK_SIZE = 1456
DEFAULT_WINDOW_SIZE = 4
CONF_DIR = "conf"
FONTS_DIR = "Boot/Fonts"
#: bootmgfw.efi's graphical error screens read segoe_slboot.ttf/segmono_boot.ttf here (issue 13)
EFI_FONTS_DIR = "EFI/Microsoft/Boot/Fonts"


@dataclass
class PxeRequest:
    """What `write_pxe_tree` writes. `boot_wim`/`source`: one value (one arch) or a dict arch -> value."""

    dest: Path
    boot_wim: Path | Mapping[str, Path] | None = None
    arches: list[str] = field(default_factory=lambda: ["amd64"])
    source: Any = None  # pebuild.source.Source | Mapping[str, Source] | None
    index: int | None = None  # image whose Windows/Boot is read; default: the WIM's boot index, else 1
    prompt: bool = False  # pxeboot.com (press F12) instead of pxeboot.n12
    block_size: int = DEFAULT_BLOCK_SIZE  # BCD ramdisktftpblocksize (RFC 2348 blksize)
    window_size: int = DEFAULT_WINDOW_SIZE  # BCD ramdisktftpwindowsize (RFC 7440 windowsize)
    var_window: bool = False  # BCD ramdisktftpvarwindow (only WDS servers implement it)
    wimboot: Path | None = None  # the user's wimboot binary, copied to DEST/wimboot
    http_url: str | None = None  # where DEST is served over HTTP, e.g. http://10.0.0.1/winpe/
    dhcp_mode: str = "proxy"  # "proxy" (beside an existing DHCP server) | "full"
    dhcp_range: str | None = None  # dnsmasq dhcp-range (proxy: the subnet address)
    interface: str | None = None  # dnsmasq interface=
    server_address: str | None = None  # TFTP server address when it is not this dnsmasq's host
    description: str = "Windows PE"
    default_bcd: str = "bios"  # which store of the first arch \Boot\BCD holds: "bios" | "uefi"
    timestamp: int | None = None
    #: the recipe's [bcd] table (pebuild.bcd.presets.PresetOptions) for every store; its paths and
    #: TFTP values are replaced per store. None: the presets' defaults with `description`.
    bcd: Any = None
    menu_text: str | None = None  # proxy-DHCP boot menu prompt (dnsmasq pxe-prompt)
    #: UEFI HTTP Boot: a file under DEST (e.g. Boot/x64/bootmgfw.efi or winpe.iso) whose URL
    #: (http_url + path) dnsmasq answers to the HTTPClient vendor class; full DHCP only
    http_boot: str | None = None
    outputs: OutputOptions = field(default_factory=OutputOptions)  # --force, --no-wait (pebuild.outputs)


@dataclass
class PxeArchResult:
    arch: str
    wds_dir: str
    boot_wim: str
    boot_sdi: str
    bios_nbp: str | None
    bios_bcd: str | None
    uefi_nbp: str | None
    uefi_bcd: str | None
    wimboot_bcd: str | None


@dataclass
class PxeResult:
    dest: Path
    arches: list[PxeArchResult]
    default_bcd: str
    efi_default_bcd: str | None
    dnsmasq_conf: str
    boot_ipxe: str
    wimboot: bool
    files: list[str]
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dest"] = str(self.dest)
        return data


@dataclass
class _ArchPlan:
    """Everything one arch contributes, collected before any big file is copied."""

    spec: ArchSpec
    boot_wim: Path
    files: dict[str, bytes]  # relative path in the tree -> bytes
    fonts: dict[str, bytes]
    bios_nbp: str | None
    uefi_nbp: str | None

    @property
    def dir(self) -> str:
        return f"Boot/{self.spec.wds_dir}"


def tree_path(rel: str) -> str:
    """A tree path as a Windows boot manager asks for it: `\\Boot\\x64\\boot.sdi`."""
    return "\\" + rel.replace("/", "\\")


def write_pxe_tree(
    req: PxeRequest, progress: Progress | None = None, *, into: Path | None = None
) -> PxeResult:
    """Write the PXE tree for `req.arches` to `req.dest` (replaced only when the new tree is complete).

    `into`: an empty directory to write the tree into instead; the caller, who
    staged it, publishes it at `req.dest` (`pebuild make`, `write_pxe_tree_from`).
    """
    specs = _check_request(req)
    if into is None:
        wims = req.boot_wim.values() if isinstance(req.boot_wim, Mapping) else [req.boot_wim]
        inputs = [p for p in (*wims, req.wimboot) if p is not None]
        with Transaction(pxe_plan(req, inputs), req.outputs) as tx:
            result = write_pxe_tree(req, progress, into=tx.path("pxe"))
            tx.publish()
        return result
    timestamp = build_time(req.timestamp)
    warnings: list[str] = []
    # scratch space inside the staging area: removed with it, also after a SIGKILL
    with tempfile.TemporaryDirectory(prefix="pebuild-pxe-", dir=into.parent) as work:
        plans = [_plan_arch(req, spec, Path(work), warnings) for spec in specs]
        return _write_tree(req, plans, into, timestamp, warnings, progress)


def pxe_plan(req: PxeRequest, inputs: list[Any]) -> OutputPlan:
    """The one output of `pebuild pxe`, checked: DEST is a tree that holds none of the inputs."""
    return plan_outputs([Output("pxe", Path(req.dest), TREE)], inputs=[Path(p) for p in inputs])


def _check_request(req: PxeRequest) -> list[ArchSpec]:
    if not req.arches:
        raise UsageError("no architecture given (use --arch amd64, x86, arm64 or ia64)")
    specs: list[ArchSpec] = []
    for name in req.arches:
        spec = arch_spec(name)
        if spec in specs:
            raise UsageError(f"architecture {spec.arch} given twice")
        specs.append(spec)
    if not 8 <= req.block_size <= 65464:
        raise UsageError(f"TFTP block size must be 8..65464 (RFC 2348), got {req.block_size}")
    if not 1 <= req.window_size <= 65535:
        raise UsageError(f"TFTP window size must be 1..65535 (RFC 7440), got {req.window_size}")
    check_dhcp_options(req.dhcp_mode, req.dhcp_range, req.interface, req.server_address, req.menu_text)
    check_http_url(req.http_url)
    if req.http_boot is not None:
        if req.http_url is None or req.dhcp_mode != "full":
            raise UsageError("UEFI HTTP Boot needs --http-url and --dhcp full (dnsmasq answers HTTPClient)")
        if (
            req.http_boot.startswith("/")
            or ".." in req.http_boot.split("/")
            or any(c in req.http_boot for c in ' \n\r"#,\\')
        ):
            raise UsageError(
                f"HTTP Boot file must be a plain relative path under the tree, got {req.http_boot!r}"
            )
    if req.wimboot is not None and not Path(req.wimboot).is_file():
        raise UsageError(f"wimboot binary not found: {req.wimboot} (get it from https://ipxe.org/wimboot)")
    if req.default_bcd not in ("bios", "uefi"):
        raise UsageError(f"default BCD must be bios or uefi, got {req.default_bcd!r}")
    if req.index is not None and req.index < 1:
        raise UsageError(f"image index must be 1 or more, got {req.index}")
    return specs


def _per_arch(value: Any, spec: ArchSpec, count: int, what: str) -> Any:
    if isinstance(value, Mapping):
        for key in (spec.arch, spec.wds_dir):
            if key in value:
                return value[key]
        return None
    if value is not None and count > 1:
        raise UsageError(f"one {what} serves one architecture; give one per architecture")
    return value


def _plan_arch(req: PxeRequest, spec: ArchSpec, work: Path, warnings: list[str]) -> _ArchPlan:
    count = len(req.arches)
    boot_wim = _per_arch(req.boot_wim, spec, count, "boot.wim")
    source = _per_arch(req.source, spec, count, "source")
    if boot_wim is None:
        raise UsageError(f"{spec.arch}: no boot.wim given")
    boot_wim = Path(boot_wim)
    if not boot_wim.is_file():
        raise SourceError(f"{spec.arch}: boot.wim not found", path=boot_wim)
    found = BootFiles(spec.arch, boot_wim, work, source=source, index=req.index)
    files: dict[str, bytes] = {}
    base = f"Boot/{spec.wds_dir}"

    def need(names: list[str], chain: str) -> dict[str, bytes] | None:
        got = {name: found.get(name) for name in names}
        missing = [name for name, data in got.items() if data is None]
        if not missing:
            return {name: data for name, data in got.items() if data is not None}
        looked = "; ".join(f"{name}: looked for {found.looked_for(name)}" for name in missing)
        raise SourceError(f"{spec.arch}: missing {chain} boot files ({looked})")

    bios_nbp = uefi_nbp = None
    if spec.bios:
        nbp = "pxeboot.com" if req.prompt else "pxeboot.n12"
        chain = need([nbp, "bootmgr.exe"], "BIOS PXE")
        assert chain is not None
        for name, data in chain.items():
            files[f"{base}/{name}"] = data
        bios_nbp = f"{base}/{nbp}"
        for optional in ("abortpxe.com", "wdsnbp.com"):
            data = found.get(optional)
            if data is not None:
                files[f"{base}/{optional}"] = data
        efi = found.get("bootmgfw.efi")
        if efi is None:
            warnings.append(
                f"{spec.arch}: no bootmgfw.efi ({found.looked_for('bootmgfw.efi')}): BIOS PXE only"
            )
    else:
        efi_files = need(["bootmgfw.efi"], "UEFI PXE")
        assert efi_files is not None
        efi = efi_files["bootmgfw.efi"]
    if efi is not None:
        files[f"{base}/bootmgfw.efi"] = efi
        uefi_nbp = f"{base}/bootmgfw.efi"
    sdi = found.get("boot.sdi")
    if sdi is None:
        from pebuild.sdi import create_sdi

        sdi = create_sdi(timestamp=build_time(req.timestamp))
        warnings.append(f"{spec.arch}: no boot.sdi ({found.looked_for('boot.sdi')}): generated one")
    files[f"{base}/boot.sdi"] = sdi
    return _ArchPlan(spec, boot_wim, files, found.fonts(), bios_nbp, uefi_nbp)


def _make_bcd(preset: str, req: PxeRequest, timestamp: int, *, wim: str, sdi: str, tftp: bool) -> bytes:
    """One store: the request's [bcd] options (timeout, locale, EMS, menu policy, loadoptions)
    with this store's ramdisk paths and TFTP values, so every PXE store matches the ISO's."""
    import dataclasses

    from pebuild.bcd import presets

    base = req.bcd if req.bcd is not None else presets.PresetOptions(description=req.description)
    options = dataclasses.replace(
        base,
        description=req.description,
        wim_path=wim,
        sdi_path=sdi,
        tftp_block_size=req.block_size if tftp else None,
        tftp_window_size=req.window_size if tftp else None,
        tftp_var_window=True if (tftp and req.var_window) else None,
    )
    store = presets.create(preset, options, timestamp=timestamp)
    if tftp:
        # WDS sets the boot manager's FontPath (formats.md §2.7); here in the tree's exact case,
        # because a Linux TFTP server's names are case-sensitive.
        store.set("{bootmgr}", "fontpath", tree_path(FONTS_DIR))
    return bytes(store.serialize(timestamp=timestamp))


@dataclass
class _Stores:
    """What the per-arch pass produces for the shared files and the configs."""

    files: dict[str, bytes] = field(default_factory=dict)
    arch_results: list[PxeArchResult] = field(default_factory=list)
    entries: list[BootEntry] = field(default_factory=list)
    ipxe_bios: list[IpxeArch] = field(default_factory=list)
    ipxe_uefi: list[tuple[IpxeArch, str]] = field(default_factory=list)
    default_bcd: bytes | None = None
    default_note: str = ""
    efi_default: bytes | None = None


def _add_arch(req: PxeRequest, plan: _ArchPlan, timestamp: int, out: _Stores) -> None:
    """The arch's boot files, its BIOS/UEFI/wimboot stores, its DHCP entries and iPXE labels."""
    out.files.update(plan.files)
    base, spec = plan.dir, plan.spec
    wim_rel, sdi_rel = f"{base}/Images/boot.wim", f"{base}/boot.sdi"
    wim, sdi = tree_path(wim_rel), tree_path(sdi_rel)
    bios_bcd = uefi_bcd = wimboot_bcd = None
    if plan.bios_nbp:
        bios_bcd = f"{base}/BCD"
        out.files[bios_bcd] = _make_bcd("pxe-bios", req, timestamp, wim=wim, sdi=sdi, tftp=True)
        if not any(e.firmware == "bios" for e in out.entries):
            # Option 93 says 0 for every BIOS client: the first BIOS arch answers them all.
            out.entries.append(BootEntry("bios", spec, plan.bios_nbp, tree_path(bios_bcd), "bios"))
    if plan.uefi_nbp:
        uefi_bcd = f"{base}/BCD.efi"
        out.files[uefi_bcd] = _make_bcd("pxe-uefi", req, timestamp, wim=wim, sdi=sdi, tftp=True)
        out.entries.append(BootEntry("uefi", spec, plan.uefi_nbp, tree_path(uefi_bcd), spec.tag))
        if out.efi_default is None:
            out.efi_default = out.files[uefi_bcd]
    if out.default_bcd is None:
        # \Boot\BCD serves every boot manager that gets no option 252 (proxy-DHCP with dnsmasq)
        first = (uefi_bcd or bios_bcd) if req.default_bcd == "uefi" else (bios_bcd or uefi_bcd)
        assert first is not None
        out.default_bcd = out.files[first]
        firmware = "UEFI" if first == uefi_bcd else "BIOS"
        out.default_note = f"{tree_path(first)}, the {firmware} store of {spec.arch}"
    if spec.ipxe_buildarch is not None:
        wimboot_bcd = f"{base}/BCD.wimboot"
        out.files[wimboot_bcd] = _make_bcd(
            "iso-bios", req, timestamp, wim="\\sources\\boot.wim", sdi="\\boot\\boot.sdi", tftp=False
        )
        common = {"arch": spec.arch, "bcd": wimboot_bcd, "sdi": sdi_rel, "wim": wim_rel}
        if plan.bios_nbp:
            out.ipxe_bios.append(
                IpxeArch(label=f"bios_{spec.wds_dir}", bootmgr=f"{base}/bootmgr.exe", **common)
            )
        if plan.uefi_nbp:
            out.ipxe_uefi.append((IpxeArch(label=f"uefi_{spec.wds_dir}", **common), spec.ipxe_buildarch))
    out.arch_results.append(
        PxeArchResult(
            arch=spec.arch,
            wds_dir=spec.wds_dir,
            boot_wim=wim_rel,
            boot_sdi=sdi_rel,
            bios_nbp=plan.bios_nbp,
            bios_bcd=bios_bcd,
            uefi_nbp=plan.uefi_nbp,
            uefi_bcd=uefi_bcd,
            wimboot_bcd=wimboot_bcd,
        )
    )


def _add_configs(req: PxeRequest, out: _Stores, warnings: list[str]) -> str:
    """boot.ipxe, conf/dnsmasq.conf, conf/tftpd-hpa.remap and conf/nginx.conf; returns the dnsmasq path."""
    # iPXE x64 first so `cpuid --ext 29` picks it on 64-bit CPUs.
    out.ipxe_bios.sort(key=lambda a: a.label != "bios_x64")
    base_url = check_http_url(req.http_url)
    has_wimboot = req.wimboot is not None
    out.files["boot.ipxe"] = render_boot_ipxe(out.ipxe_bios, out.ipxe_uefi, base_url, has_wimboot).encode()
    if not has_wimboot:
        warnings.append(
            "no wimboot given: boot.ipxe is written but needs DEST/wimboot (https://ipxe.org/wimboot)"
        )
    ipxe_chain = has_wimboot or base_url is not None
    dest = Path(req.dest).resolve()
    conf = f"{CONF_DIR}/dnsmasq.conf"
    dnsmasq = DnsmasqOptions(
        tftp_root=str(dest),
        conf_path=str(dest / conf),
        mode=req.dhcp_mode,
        dhcp_range=req.dhcp_range,
        interface=req.interface,
        server_address=req.server_address,
        block_size=req.block_size,
        window_size=req.window_size,
        ipxe_script=(f"{base_url}boot.ipxe" if base_url else "boot.ipxe") if ipxe_chain else None,
        entries=out.entries,
        default_bcd_note=out.default_note,
        menu_text=req.menu_text,
        http_boot_url=f"{base_url}{req.http_boot}" if req.http_boot and base_url else None,
    )
    out.files[conf] = render_dnsmasq_conf(dnsmasq).encode()
    if req.dhcp_mode == "proxy":
        out.files[f"{CONF_DIR}/dhcp-server-252.conf"] = render_dhcp_server_252(dnsmasq).encode()
    if req.dhcp_range is None:
        warnings.append(f"{conf}: dhcp-range is a placeholder; set it with --dhcp-range")
    context = {"version": __version__, "block_size": req.block_size, "tftp_root": str(dest)}
    out.files[f"{CONF_DIR}/tftpd-hpa.remap"] = render(
        "tftpd-hpa.remap.j2", remap_path=str(dest / CONF_DIR / "tftpd-hpa.remap"), **context
    ).encode()
    out.files[f"{CONF_DIR}/nginx.conf"] = render("nginx.conf.j2", root=str(dest), **context).encode()
    return conf


def _materialize(
    tmp: Path, files: dict[str, bytes], copies: list[tuple[Path, str]], progress: Progress | None
) -> None:
    """Small files from memory, then the big ones (boot.wim, wimboot) by fast copy with progress."""
    for rel, data in sorted(files.items()):
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    total = sum(src.stat().st_size for src, _ in copies)
    done = 0
    for src, rel in copies:
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if progress:
            progress(ProgressEvent("copy", done, total, rel))
        copy_file(src, target)
        done += src.stat().st_size
    if progress:
        progress(ProgressEvent("copy", done, total, "done"))


def _write_tree(
    req: PxeRequest,
    plans: list[_ArchPlan],
    tmp: Path,
    timestamp: int,
    warnings: list[str],
    progress: Progress | None,
) -> PxeResult:
    out = _Stores()
    for plan in plans:
        _add_arch(req, plan, timestamp, out)
    assert out.default_bcd is not None
    out.files["Boot/BCD"] = out.default_bcd
    if out.efi_default is not None:
        out.files["EFI/Microsoft/Boot/BCD"] = out.efi_default
    fonts = next((p.fonts for p in plans if p.fonts), {})
    for name, data in fonts.items():
        out.files[f"{FONTS_DIR}/{name}"] = data
        if out.efi_default is not None:
            out.files[f"{EFI_FONTS_DIR}/{name}"] = data
    if not fonts:
        warnings.append("no boot fonts in the source or boot.wim: bootmgr falls back to its built-in font")
    conf = _add_configs(req, out, warnings)
    copies: list[tuple[Path, str]] = [(p.boot_wim, f"{p.dir}/Images/boot.wim") for p in plans]
    if req.wimboot is not None:
        copies.append((Path(req.wimboot), "wimboot"))
    _materialize(tmp, out.files, copies, progress)
    all_files = sorted([*out.files, *(rel for _, rel in copies)])
    _pin_times(tmp, all_files, timestamp)
    return PxeResult(
        dest=Path(req.dest),
        arches=out.arch_results,
        default_bcd="Boot/BCD",
        efi_default_bcd="EFI/Microsoft/Boot/BCD" if out.efi_default is not None else None,
        dnsmasq_conf=conf,
        boot_ipxe="boot.ipxe",
        wimboot=req.wimboot is not None,
        files=all_files,
        warnings=warnings,
    )


def _pin_times(root: Path, rels: list[str], timestamp: int) -> None:
    """Same inputs, same tree: file and directory times come from the build clock."""
    dirs = {root}
    for rel in rels:
        path = root / rel
        os.utime(path, (timestamp, timestamp))
        dirs.update(p for p in path.parents if root in p.parents or p == root)
    for directory in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        os.utime(directory, (timestamp, timestamp))
