"""`make setup` waits for another apt/dpkg instead of failing ('Could not get lock /var/lib/dpkg/lock-frontend').

Runs the Makefile's Debian step for real with stand-ins for dpkg-query (every
package missing) and apt-get (records its arguments) first on PATH, so nothing
is installed: every apt-get call must carry -o DPkg::Lock::Timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from _helpers import REPO_ROOT


def test_every_apt_get_call_waits_for_the_dpkg_lock(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make not installed (Debian package make)")
    if os.geteuid() != 0:
        pytest.skip("the Makefile installs Debian packages only as root")
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "apt-get.log"
    (fake / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    (fake / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    for tool in ("dpkg-query", "apt-get"):
        (fake / tool).chmod(0o755)
    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["make", "-C", str(REPO_ROOT), f"VENV={venv}", f"{venv}/.deb-installed"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text().splitlines()
    assert [c.split()[2] if len(c.split()) > 2 else c for c in calls] == ["update", "install"], calls
    for call in calls:
        assert call.startswith("-o DPkg::Lock::Timeout=300 "), call
