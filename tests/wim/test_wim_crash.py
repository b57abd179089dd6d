"""SIGKILL a commit at several points: the WIM still verifies and holds the old or the new image.

Append mode writes new blobs, metadata, blob table and XML after the old data
and the header last; --rebuild writes a temporary file and renames it. The
kill points are driven by the commit's own progress callback (subprocess),
plus kills of the real CLI after random delays during a bigger commit.
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


POINTS = [
    ("scan", 0.0, False),  # before libwim is called
    ("update", 1.0, False),  # update applied in memory, nothing written
    ("write", 0.0, False),  # first blob bytes being appended
    ("write", 0.6, False),  # in the middle of the appended blobs
    ("metadata", 0.0, False),  # writing the new metadata resource
    ("metadata", 1.0, False),  # metadata written; blob table, XML, header not yet
    ("write", 0.5, True),  # --rebuild: half of the temporary WIM written
]


@pytest.mark.slow
def test_sigkill_during_commit_leaves_old_or_new(wim_factory, wt, tmp_path):
    import shutil

    seen: dict[str, int] = {"old": 0, "new": 0}
    for n, (stage, frac, rebuild) in enumerate(POINTS):
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
def test_sigkill_cli_commit_after_random_delays(wim_factory, wt, tmp_path):
    import shutil

    rng = random.Random(1234)
    seen: dict[str, int] = {"old": 0, "new": 0}
    for n in range(5):
        wim = tmp_path / f"big{n}.wim"
        shutil.copyfile(wim_factory("lzx"), wim)
        (tmp_path / f"tmp{n}").mkdir()
        # a SIGKILLed commit cannot remove its pebuild-wim-* scratch: keep it in the test's directory
        env = {
            **os.environ,
            "XDG_STATE_HOME": str(tmp_path / f"state{n}"),
            "TMPDIR": str(tmp_path / f"tmp{n}"),
        }
        mnt = tmp_path / f"m{n}"
        subprocess.run([*PEBUILD_CMD, "mount", str(wim), str(mnt), "--index", "2"], env=env, check=True)
        new = _edit(mnt, 1_500_000)
        proc = subprocess.Popen(
            [*PEBUILD_CMD, "commit", str(mnt)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen[_state(wt, wim, tmp_path, new)] += 1
    assert sum(seen.values()) == 5, seen
    print("random kills:", seen)
