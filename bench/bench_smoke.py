"""Benchmark: `pebuild.qemu.smoke` against a bare QEMU run of the same media, plus the sample kit build.

The reference is the plainest possible smoke test: `qemu-system-x86_64 ... -no-reboot`
on the same ISO, waiting for QEMU to exit (the sample programs power off) and then
grepping the serial file. The ratio is the runner's overhead (QMP, polling,
screenshot, cleanup). The kit build is compared with `wimlib-imagex capture` of the
same staged tree, the one step of the build with an external equivalent.
Writes docs/perf/smoke.md. Not a test: nothing asserts on timing.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
OUT = ROOT / "docs" / "perf" / "smoke.md"


def _media(work: Path) -> Path:
    from pebuild.fat import efisys_image
    from pebuild.iso import IsoRequest, write_iso
    from pebuild.sample.stubs import bios_program, efi_program

    media = work / "media"
    media.mkdir()
    (media / "readme.txt").write_text("bench\n")
    (work / "etfsboot.com").write_bytes(bios_program("PEBUILD-SAMPLE etfsboot.com", 4096))
    (work / "efisys.bin").write_bytes(
        efisys_image({"EFI/BOOT/BOOTX64.EFI": efi_program("PEBUILD-SAMPLE bootx64.efi")})
    )
    iso = work / "bench.iso"
    write_iso(IsoRequest(media, iso, bios_boot=work / "etfsboot.com", uefi_boot=work / "efisys.bin"))
    return iso


def _bare(iso: Path, firmware: str, work: Path) -> float:
    from pebuild.qemu import find_ovmf, find_qemu

    serial = work / "bare.serial"
    cmd = [str(find_qemu()), "-accel", "tcg", "-nodefaults", "-display", "none", "-vga", "std", "-no-reboot"]
    cmd += ["-m", "512M", "-serial", f"file:{serial}", "-cdrom", str(iso), "-boot", "d"]
    if firmware == "uefi":
        ovmf = find_ovmf()
        shutil.copyfile(ovmf.vars_template, work / "vars.fd")
        cmd += ["-machine", "q35", "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={ovmf.code}"]
        cmd += ["-drive", f"if=pflash,format=raw,unit=1,file={work / 'vars.fd'}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, timeout=300, capture_output=True)
    elapsed = time.perf_counter() - start
    assert b"PEBUILD-SAMPLE" in serial.read_bytes()
    return elapsed


def _pebuild(iso: Path, firmware: str) -> float:
    from pebuild.qemu import SmokeRequest, smoke

    marker = "PEBUILD-SAMPLE etfsboot.com" if firmware == "bios" else "PEBUILD-SAMPLE bootx64.efi"
    start = time.perf_counter()
    result = smoke(SmokeRequest(iso, firmware, expect=[marker]))
    elapsed = time.perf_counter() - start
    assert result.ok, result.reason
    return elapsed


def _kit(work: Path) -> tuple[float, float]:
    from pebuild.sample import build_sample_source
    from pebuild.sample.kit import SAMPLE_EPOCH, _image_tree, _pin_times, boot_files

    dest = work / f"kit-{time.perf_counter_ns()}"
    start = time.perf_counter()
    build_sample_source(dest, "amd64")
    ours = time.perf_counter() - start
    stage = work / f"stage-{time.perf_counter_ns()}"
    stage.mkdir()
    _image_tree(stage, "amd64", boot_files("amd64"), SAMPLE_EPOCH)
    _pin_times(stage, SAMPLE_EPOCH)
    start = time.perf_counter()
    subprocess.run(
        ["wimlib-imagex", "capture", str(stage), str(work / "ref.wim"), "WinPE", "--boot"],
        check=True,
        capture_output=True,
    )
    ref = time.perf_counter() - start
    shutil.rmtree(dest)
    shutil.rmtree(stage)
    (work / "ref.wim").unlink()
    return ours, ref


def _row(name: str, ours: list[float], ref: list[float]) -> str:
    m_ours, m_ref = statistics.median(ours), statistics.median(ref)
    runs = ", ".join(f"{x:.2f}" for x in ours)
    return f"| {name} | {m_ours:.2f} | {m_ref:.2f} | {m_ours / m_ref:.2f}x | {runs} |"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as tmp:
        work = Path(tmp)
        iso = _media(work)
        rows = []
        for firmware in ("bios", "uefi"):
            _bare(iso, firmware, work)  # warm-up
            ours, ref = [], []
            for _ in range(RUNS):  # alternate so background load hits both alike
                ref.append(_bare(iso, firmware, work))
                ours.append(_pebuild(iso, firmware))
            rows.append(_row(f"{firmware.upper()} ISO boot to marker", ours, ref))
            print(rows[-1], flush=True)
        kit_ours, kit_ref = [], []
        _kit(work)
        for _ in range(RUNS):
            a, b = _kit(work)
            kit_ours.append(a)
            kit_ref.append(b)
        rows.append(_row("sample kit build (amd64) vs capture of its image tree alone", kit_ours, kit_ref))
        print(rows[-1], flush=True)
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split(
        "\n"
    )[0]
    text = (
        f"""## Smoke runner and sample kit (bench/bench_smoke.py)

Measured on {time.strftime("%Y-%m-%d", time.gmtime())}: {os.cpu_count()} CPUs, Linux {platform.release()}; {qemu};
Python {platform.python_version()}. Medians of {RUNS} runs after a warm-up, pebuild and reference alternating, TCG.
The machine was shared with other helpers' builds and tests while this ran: absolute times are noisy, ratios
come from the same run.

* Boot rows: `pebuild.qemu.smoke()` (QMP, serial polling every 0.1 s, screenshot none, process-group cleanup)
  vs a bare `qemu-system-x86_64 -no-reboot` of the same ISO waiting for QEMU to exit after the sample program
  powers off. The ratio is the runner's overhead.
* Kit row: the whole `build_sample_source` (boot programs, hives, BCDs, 2 efisys images, winpe.wim via
  pebuild.wim, Media and tools trees) vs `wimlib-imagex capture --boot` of the image tree alone.

| what | pebuild median s | reference median s | ratio | pebuild runs (s) |
|---|---:|---:|---:|---|
"""
        + "\n".join(rows)
        + "\n"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
