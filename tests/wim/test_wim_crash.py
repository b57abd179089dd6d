"""SIGKILL a commit at several points: the WIM still verifies and holds the old or the new image.

Append mode writes new blobs, metadata, blob table and XML after the old data
and the header last; --rebuild writes a temporary file and renames it. The
kill points are driven by the commit's own progress callback (subprocess),
plus kills of the real CLI at random points of a bigger commit. Where each kill
landed is read from the file itself (size, header WRITE_IN_PROGRESS flag):
several must land while libwim is appending.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _helpers import PEBUILD_CMD

KILLER = """
import os, signal, sys
from pebuild.wim.mount import commit
mnt, stage, frac, rebuild = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1"
def on_progress(event):
    if event.stage == stage and event.done >= frac * (event.total or 0):
        os.kill(os.getpid(), signal.SIGKILL)
commit(mnt, rebuild=rebuild, progress=on_progress)
print("COMMITTED")
"""


def _payload(n: int, size: int) -> bytes:
    rng = random.Random(n)
    words = [bytes(rng.getrandbits(8) for _ in range(rng.randint(3, 12))) for _ in range(200)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out[:size])


def _edit(mnt: Path, size: int) -> dict[str, bytes]:
    new = {f"Crash/new{i}.bin": _payload(i, size) for i in range(5)}
    for rel, data in new.items():
        (mnt / rel).parent.mkdir(parents=True, exist_ok=True)
        (mnt / rel).write_bytes(data)
    (mnt / "Windows/System32/startnet.cmd").write_bytes(b"wpeinit\r\nrem new\r\n")
    (mnt / "Windows/System32/file003.dll").unlink()
    new["Windows/System32/startnet.cmd"] = b"wpeinit\r\nrem new\r\n"
    return new


def _state(wt, wim: Path, tmp: Path, new: dict[str, bytes]) -> str:
    """'old' or 'new' after checking the image is exactly one of them; fails otherwise."""
    wt.imagex("verify", wim)
    listing = set(wt.listing(wim, 2))
    out = tmp / f"x{time.monotonic_ns()}"
    wt.imagex("apply", wim, "2", out)
    if "/Crash" not in listing:
        assert "/Windows/System32/file003.dll" in listing
        assert (out / "Windows/System32/startnet.cmd").read_bytes() == b"wpeinit\r\n"
        return "old"
    assert "/Windows/System32/file003.dll" not in listing
    for rel, data in new.items():
        assert hashlib.sha256((out / rel).read_bytes()).digest() == hashlib.sha256(data).digest(), rel
    return "new"


#: WIM header flags (u32 at offset 16): wimlib sets WRITE_IN_PROGRESS in the old header before it
#: appends anything and clears it only in the new header, written last (wimlib include/wimlib/header.h)
_HDR_FLAGS = 16
_WRITE_IN_PROGRESS = 0x40


def _header_flags(wim: Path) -> int:
    with wim.open("rb") as f:
        head = f.read(_HDR_FLAGS + 4)
    assert head[:8] == b"MSWIM\0\0\0", head[:8]
    return int.from_bytes(head[_HDR_FLAGS:], "little")


def _kill_point(wim: Path, old_size: int, state: str) -> str:
    """Where the kill landed, read from the file itself (size and header flags), not from pebuild."""
    grown = wim.stat().st_size > old_size
    flagged = bool(_header_flags(wim) & _WRITE_IN_PROGRESS)
    if flagged:
        assert state == "old", "header still says write-in-progress but holds the new image"
        return "mid-write" if grown else "started"
    assert state == ("new" if grown else "old"), (grown, state)
    return "landed" if grown else "before"


#: (progress stage, fraction, --rebuild, where the kill lands as the file shows it: see _kill_point)
POINTS = [
    ("scan", 0.0, False, "before"),  # before libwim is called
    ("update", 1.0, False, "before"),  # update applied in memory, nothing written
    ("write", 0.0, False, "started"),  # header flagged write-in-progress, first blob not yet out
    ("write", 0.6, False, "mid-write"),  # in the middle of the appended blobs
    ("metadata", 0.0, False, "mid-write"),  # writing the new metadata resource
    ("metadata", 1.0, False, "mid-write"),  # metadata written; blob table, XML, header not yet
    ("write", 0.5, True, "before"),  # --rebuild: half of the temporary WIM written, the WIM untouched
]


@pytest.mark.slow
def test_sigkill_during_commit_leaves_old_or_new(wim_factory, wt, tmp_path):
    import shutil

    seen: dict[str, int] = {"old": 0, "new": 0}
    for n, (stage, frac, rebuild, point) in enumerate(POINTS):
        wim = tmp_path / f"boot{n}.wim"
        shutil.copyfile(wim_factory("lzx"), wim)
        (tmp_path / f"tmp{n}").mkdir()
        # a SIGKILLed commit cannot remove its pebuild-wim-* scratch: keep it in the test's directory
        env = {
            **os.environ,
            "XDG_STATE_HOME": str(tmp_path / f"state{n}"),
            "TMPDIR": str(tmp_path / f"tmp{n}"),
        }
        mnt = tmp_path / f"m{n}"
        old_size = wim.stat().st_size
        subprocess.run([*PEBUILD_CMD, "mount", str(wim), str(mnt), "--index", "2"], env=env, check=True)
        new = _edit(mnt, 300_000)
        proc = subprocess.run(
            [sys.executable, "-c", KILLER, str(mnt), stage, str(frac), "1" if rebuild else "0"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == -signal.SIGKILL, (stage, frac, proc.stdout, proc.stderr)
        state = _state(wt, wim, tmp_path, new)
        seen[state] += 1
        assert _kill_point(wim, old_size, state) == point, (stage, frac)
        assert not list(tmp_path.glob(f".boot{n}.wim*")) or rebuild  # rebuild may leave its temp file
        # the WIM stays usable: discard the mount, mount again and commit
        subprocess.run([*PEBUILD_CMD, "discard", str(mnt)], env=env, check=True)
        subprocess.run([*PEBUILD_CMD, "mount", str(wim), str(mnt), "--index", "2"], env=env, check=True)
        (mnt / "after-crash.txt").write_text("ok")
        subprocess.run([*PEBUILD_CMD, "commit", str(mnt)], env=env, check=True, capture_output=True)
        wt.imagex("verify", wim)
        assert "/after-crash.txt" in wt.listing(wim, 2)
    assert seen["old"] == len(POINTS)  # the header is written last: every kill left the old image


@pytest.mark.slow
def test_sigkill_cli_commit_at_random_points(wim_factory, wt, tmp_path):
    """Kill the real CLI after a random delay, or once the append has grown the WIM by a random amount.

    The second kind is what makes the test mean something: it is killed while
    libwim is appending blobs (header flagged WRITE_IN_PROGRESS, file longer than
    before), and the WIM must still verify and hold the old image.
    """
    import shutil

    rng = random.Random(1234)
    seen: dict[str, int] = {"old": 0, "new": 0}
    points: list[str] = []
    for n in range(6):
        wim = tmp_path / f"big{n}.wim"
        shutil.copyfile(wim_factory("lzx"), wim)
        old_size = wim.stat().st_size
        assert not _header_flags(wim) & _WRITE_IN_PROGRESS
        (tmp_path / f"tmp{n}").mkdir()
        # a SIGKILLed commit cannot remove its pebuild-wim-* scratch: keep it in the test's directory
        env = {
            **os.environ,
            "XDG_STATE_HOME": str(tmp_path / f"state{n}"),
            "TMPDIR": str(tmp_path / f"tmp{n}"),
        }
        mnt = tmp_path / f"m{n}"
        subprocess.run([*PEBUILD_CMD, "mount", str(wim), str(mnt), "--index", "2"], env=env, check=True)
        new = _edit(mnt, 1_500_000)  # ~2.3 MB appended once compressed
        proc = subprocess.Popen(
            [*PEBUILD_CMD, "commit", str(mnt)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if n % 2 == 0:
            time.sleep(rng.uniform(0.05, 1.2))
        else:
            # poll (bounded) until the append has written a random share of the new blobs
            target = old_size + rng.randint(20_000, 800_000)
            deadline = time.monotonic() + 120
            while proc.poll() is None and wim.stat().st_size < target and time.monotonic() < deadline:
                time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = _state(wt, wim, tmp_path, new)
        seen[state] += 1
        points.append(_kill_point(wim, old_size, state))
    print("kills:", seen, points)
    assert points.count("mid-write") >= 1, points
