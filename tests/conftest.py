"""Shared pytest fixtures; plain helpers live in _helpers.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

from _helpers import BCD_FIXTURES, PEBUILD_CMD

# CI must not fail on an example no developer has seen: derandomized there (the same examples
# every run); developers keep hypothesis' random search. Deadlines off: 2 shared cores.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def bcd_fixtures() -> Path:
    if not BCD_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {BCD_FIXTURES} (CI checks out shared/ beside the repo)")
    return BCD_FIXTURES


@pytest.fixture
def run_pebuild(tmp_path: Path):
    """Run the real `pebuild` CLI in a subprocess (exit codes, stderr, no tracebacks)."""

    def run(
        *args: str,
        check: bool = False,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.setdefault("XDG_STATE_HOME", str(tmp_path / "state"))
        full_env.setdefault("XDG_CACHE_HOME", str(tmp_path / "cache"))
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [*PEBUILD_CMD, *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"pebuild {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run
