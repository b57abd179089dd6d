"""One command per output: a second one waits (told once) or, with --no-wait, fails naming the holder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pebuild.errors import StateError
from pebuild.outputs.lock import holder_pid, lock_outputs, lock_path

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pebuild.outputs.lock import lock_outputs
    locks = lock_outputs([Path(sys.argv[1])])
    print("locked", flush=True)
    sys.stdin.readline()   # hold until the test says so
    locks.release()
    """
)


def hold(target: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def test_no_wait_names_the_holder_and_wait_takes_over(tmp_path: Path) -> None:
    target = tmp_path / "a.iso"
    holder = hold(target)
    try:
        assert holder_pid(lock_path(target)) == holder.pid
        with pytest.raises(StateError, match=rf"another pebuild \(pid {holder.pid}\) is writing this output"):
            lock_outputs([target], wait=False)
        told: list[str] = []
        got: list[object] = []
        waiter = threading.Thread(target=lambda: got.append(lock_outputs([target], on_wait=told.append)))
        waiter.start()
        deadline = time.monotonic() + 10
        while not told and time.monotonic() < deadline:
            time.sleep(0.01)
        assert told and f"pid {holder.pid}" in told[0] and str(target) in told[0]
        assert not got  # still waiting
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
    waiter.join(timeout=10)
    assert got and len(told) == 1
    locks = got[0]
    assert holder_pid(lock_path(target)) == os.getpid()
    locks.release()  # type: ignore[attr-defined]
    assert not lock_path(target).exists()  # no lock files pile up


def test_a_killed_holder_frees_the_lock(tmp_path: Path) -> None:
    target = tmp_path / "pxe"
    holder = hold(target)
    holder.kill()
    holder.wait()
    locks = lock_outputs([target], wait=False)
    locks.release()


def test_extend_takes_all_or_nothing(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    holder = hold(b)
    try:
        locks = lock_outputs([tmp_path / "c"])
        assert not locks.extend([a, b])
        assert not lock_path(a).exists()  # nothing kept from the failed attempt
        assert locks.extend([a])
        assert locks.holds(a)
        with pytest.raises(StateError, match="already writing"):
            lock_outputs([a])
        locks.release()
    finally:
        holder.kill()
        holder.wait()
