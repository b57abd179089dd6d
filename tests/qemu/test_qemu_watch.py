"""The watch loop's verdict names whole serial lines (pebuild.qemu.watch)."""

from __future__ import annotations

from pathlib import Path

from pebuild.qemu import SmokeRequest
from pebuild.qemu.model import _Run
from pebuild.qemu.watch import _Watch


def test_a_line_matched_before_qemu_finished_it_is_named_whole(tmp_path: Path) -> None:
    """A pattern can match while the line is half written (seen once in CI on AAVMF: the verdict
    said 'PEBUILD-SAMPLE bootaa64'); the verdict re-reads the line once the boot is done."""
    log = tmp_path / "serial.log"
    log.write_bytes(b"BdsDxe: loading Boot0001\r\nPEBUILD-SAMPLE bootaa64")
    run = _Run(workdir=tmp_path, serial_log=log, keep_log=True)
    state = _Watch(SmokeRequest(tmp_path / "x.iso", "uefi", expect=["PEBUILD-SAMPLE bootaa64"]), run, 0.0)
    assert state.scan() is None and state.done()
    assert state.lines == {"PEBUILD-SAMPLE bootaa64": "PEBUILD-SAMPLE bootaa64"}
    assert not state.lines_ended()
    with log.open("ab") as out:
        out.write(b".efi 2023 fw=EDK II\r\n\x1b[0mReset\r\n")
    assert state.lines_ended()
    state.refresh_lines()
    assert state.lines == {"PEBUILD-SAMPLE bootaa64": "PEBUILD-SAMPLE bootaa64.efi 2023 fw=EDK II"}
