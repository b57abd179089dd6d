"""`pebuild make` publishes the whole output set or nothing, never destroys what it did not write.

Every test drives the real CLI in a subprocess on the sample source with all
outputs (-o, --media-dir, --pxe, --usb, --manifest). Interrupt moments are
picked from the command's own progress events (tests/interrupt_driver.py), and
each run alternates SOURCE_DATE_EPOCH, so the old and the new set differ in
every output and `whole_set` tells which one is on disk.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from outputs_support import (
    CAPTURE,
    Driven,
    debris,
    env_for,
    event_lines,
    make_args,
    run_make,
    whole_set,
)

from _helpers import PEBUILD_CMD, assert_one_line_error, require_tool

OLD, NEW = 1_700_000_000, 1_700_086_400


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample cache shared by the module, and one complete set built with the driver (its events)."""
    root = tmp_path_factory.mktemp("make-outputs")
    (root / "tmp").mkdir()
    (root / "first").mkdir()
    run = Driven(make_args(root / "first"), env_for(root, OLD))
    proc = run.finish()
    assert proc.returncode == 0, proc.stderr
    (root / "events.txt").write_text("\n".join(event_lines(proc.stdout)))
    return root


@pytest.fixture
def out(base: Path, tmp_path: Path) -> Path:
    """A private copy of the first complete set (the 'old' set, build time OLD)."""
    dest = tmp_path / "out"
    shutil.copytree(base / "first", dest)
    for tree in ("media", "pxe"):  # copytree keeps mtimes: the markers still match
        assert (dest / tree / ".pebuild-tree.json").is_file()
    assert whole_set(dest) == OLD
    return dest


def moments(base: Path) -> list[tuple[str, str]]:
    """Ten moments spread over the build, all before the publish: (--pause-at STAGE:N, what it is).

    Numbered within their stage: how many events libwim's threads send while
    writing varies from run to run, the order of the stages does not.
    """
    events = [e.split(" ", 3)[2:] for e in (base / "events.txt").read_text().splitlines()]

    def build(message: str) -> str:
        hits = [
            i
            for i, (stage, rest) in enumerate(e for e in events if e[0] == "build")
            if rest.startswith(message)
        ]
        return f"build:{hits[0] + 1}"

    def middle(stage: str) -> str:
        return f"{stage}:{sum(e[0] == stage for e in events) // 2 + 1}"

    return [
        (build("1/10 source:"), "opening the source"),
        ("update:2", "inside libwim's update of boot.wim (held back: libwim aborts)"),
        ("write:2", "inside libwim's write of boot.wim"),
        ("metadata:2", "libwim's last callback of that write"),
        (build("4/10 media:"), "laying out media/"),
        (middle("iso"), "writing the ISO"),
        ("copy:1", "copying boot.wim into the PXE tree"),
        (middle("usb"), "writing the USB image"),
        (build("8/10 manifest:"), "the manifest"),
        (build("9/10 publish:"), "just before the renames"),
    ]


def test_sigint_at_ten_moments_leaves_the_old_set_or_after_publishing_the_new_one(
    base: Path, out: Path, tmp_path: Path
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    for spec, text in moments(base):
        run = Driven(make_args(out), env_for(base, NEW, tmpdir), "--pause-at", spec)
        assert run.until_paused(), f"never reached {spec} ({text})"
        run.signal(signal.SIGINT)
        proc = run.finish()
        assert proc.returncode == 130, (text, proc.returncode, proc.stderr)
        assert proc.stderr == "pebuild: interrupted\n", (text, proc.stderr)
        assert whole_set(out) == OLD, text  # every output exactly as before, nothing left beside
    # after the renames the build has landed: an interrupt then is not a failure
    run = Driven(make_args(out), env_for(base, NEW, tmpdir), "--pause-at", "build:20")
    assert run.until_paused()
    assert run.events[-2].startswith("@event") and "build 10/10 publish" in run.events[-2]
    run.signal(signal.SIGINT)
    proc = run.finish()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert whole_set(out) == NEW
    assert not list(tmpdir.iterdir())  # nothing left in TMPDIR either


def test_sigterm_is_an_interrupt_too(base: Path, out: Path) -> None:
    spec, text = moments(base)[5]  # writing the ISO
    run = Driven(make_args(out), env_for(base, NEW), "--pause-at", spec)
    assert run.until_paused(), text
    run.signal(signal.SIGTERM)
    proc = run.finish()
    assert (proc.returncode, proc.stderr) == (130, "pebuild: interrupted\n")
    assert whole_set(out) == OLD


@pytest.mark.parametrize("moment", [2, 7, 9], ids=["wim-write", "usb", "before-publish"])
def test_sigkill_then_the_next_build_cleans_up(base: Path, out: Path, moment: int) -> None:
    spec, text = moments(base)[moment]
    run = Driven(make_args(out), env_for(base, NEW), "--pause-at", spec)
    assert run.until_paused(), text
    run.signal(signal.SIGKILL)
    assert run.finish().returncode == -signal.SIGKILL
    assert any(name.startswith(".pebuild-") for name in debris(out))  # what the killed run left
    with pytest.raises(AssertionError):
        whole_set(out)
    proc = run_make(out, base, NEW)
    assert proc.returncode == 0, proc.stderr
    assert whole_set(out) == NEW  # and no debris


@pytest.mark.parametrize("renames", [1, 4])
def test_sigkill_inside_the_publish_is_finished_by_the_next_run(base: Path, out: Path, renames: int) -> None:
    run = Driven(make_args(out), env_for(base, NEW), "--kill-after-renames", str(renames))
    assert run.finish().returncode == -signal.SIGKILL
    assert json.loads((out / "m.json").read_text())["build_time"] == OLD  # the manifest goes last
    cleaned = subprocess.run([*PEBUILD_CMD, "clean", str(out)], capture_output=True, text=True)
    assert cleaned.returncode == 0, cleaned.stderr
    assert f"finished publishing: {out / 'm.json'}" in cleaned.stdout
    assert whole_set(out) == NEW  # the killed build's complete set


def test_two_builds_into_the_same_outputs_take_turns(base: Path, out: Path) -> None:
    spec, text = moments(base)[5]  # the first holds its lock while writing the ISO
    first = Driven(make_args(out), env_for(base, NEW), "--pause-at", spec)
    assert first.until_paused(), text
    busy = subprocess.run(
        [*PEBUILD_CMD, *make_args(out, "--no-wait")], capture_output=True, text=True, env=env_for(base, OLD)
    )
    assert_one_line_error(busy, 7)
    assert f"another pebuild (pid {first.proc.pid}) is writing this output" in busy.stderr
    second = subprocess.Popen(
        [*PEBUILD_CMD, *make_args(out)], stderr=subprocess.PIPE, text=True, env=env_for(base, OLD)
    )
    assert second.stderr is not None
    told = second.stderr.readline()  # blocks until the second build says it waits
    assert f"pebuild: waiting for another pebuild (pid {first.proc.pid})" in told
    first.resume()
    assert first.finish().returncode == 0
    assert second.wait(timeout=300) == 0, second.stderr.read()
    assert whole_set(out) == OLD  # the second one's set, complete


def test_a_user_file_in_a_target_tree_survives_and_force_replaces(base: Path, tmp_path: Path) -> None:
    for tree in ("pxe", "media"):
        out = tmp_path / tree
        (out / tree).mkdir(parents=True)
        (out / tree / "thesis.txt").write_text("years of work")
        proc = run_make(out, base, NEW)
        assert_one_line_error(proc, 8)
        assert f"{out / tree}: is not a tree pebuild wrote" in proc.stderr and "thesis.txt" in proc.stderr
        assert (out / tree / "thesis.txt").read_text() == "years of work"
        assert sorted(p.name for p in out.iterdir()) == [tree]  # refused before anything was built
    proc = run_make(tmp_path / "pxe", base, NEW, "--force")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "pxe" / "pxe" / "thesis.txt").exists()
    assert whole_set(tmp_path / "pxe") == NEW


def test_an_iso_file_is_never_replaced_by_a_media_directory(base: Path, tmp_path: Path) -> None:
    (tmp_path / "x.iso").write_bytes(b"an ISO")
    proc = subprocess.run(
        [*PEBUILD_CMD, "make", "amd64", "--recipe", str(CAPTURE), "--source", "sample",
         "--media-dir", str(tmp_path / "x.iso"), "--force"],
        capture_output=True, text=True, env=env_for(base, NEW),
    )  # fmt: skip
    assert_one_line_error(proc, 8)
    assert "is a file, but the media output is a directory tree" in proc.stderr
    assert (tmp_path / "x.iso").read_bytes() == b"an ISO"


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (("--usb", "/nonexistent/u.img"), 8, "/nonexistent: cannot write output: directory does not exist"),
        (("--pxe", "/nonexistent/pxe"), 8, "directory does not exist"),
        (("--manifest", "DIR"), 8, "is a directory, but the manifest output is a file"),
        (
            ("--usb-size", "10M"),
            2,
            "is too small: FAT32 needs",
        ),  # found while writing the USB image, after the ISO
        (("--usb", "ISO"), 2, "given as both the iso and the usb output"),
    ],
    ids=["usb-dir", "pxe-dir", "manifest-is-dir", "usb-too-small", "collision"],
)
def test_a_late_output_error_leaves_no_new_output(
    base: Path, out: Path, change: tuple[str, str], code: int | None, words: str
) -> None:
    (out.parent / "adir").mkdir()
    value = {"DIR": str(out.parent / "adir"), "ISO": str(out / "a.iso")}.get(change[1], change[1])
    args = make_args(out)
    if change[0] in args:
        args[args.index(change[0]) + 1] = value
    else:
        args += [change[0], value]
    proc = subprocess.run([*PEBUILD_CMD, *args], capture_output=True, text=True, env=env_for(base, NEW))
    assert_one_line_error(proc, code)
    assert words in proc.stderr
    assert whole_set(out) == OLD  # not one output replaced, nothing left beside them


def test_the_marker_is_not_part_of_the_media(base: Path, out: Path, tmp_path: Path) -> None:
    """A published --media-dir carries .pebuild-tree.json; an ISO or USB image made from it does not."""
    require_tool("isoinfo")
    require_tool("mdir")
    (efisys,) = (base / "cache").rglob("Oscdimg/efisys.bin")
    env = env_for(base, NEW)
    iso, img = tmp_path / "again.iso", tmp_path / "again.img"
    for args in (
        ["iso", str(out / "media"), str(iso), "--uefi", str(efisys)],
        ["usb", str(out / "media"), str(img)],
    ):
        proc = subprocess.run([*PEBUILD_CMD, *args], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
    listing = subprocess.run(["isoinfo", "-J", "-f", "-i", str(iso)], capture_output=True, text=True).stdout
    assert "/sources/boot.wim" in listing and "pebuild-tree" not in listing
    fat = subprocess.run(["mdir", "-i", f"{img}@@1M", "-a", "::/"], capture_output=True, text=True).stdout
    assert "bootmgr" in fat.lower() and "pebuild" not in fat.lower()
