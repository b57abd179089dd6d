"""Shared pytest fixtures and the CI skip rule; plain helpers live in _helpers.py."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import settings

from _helpers import BCD_FIXTURES, PEBUILD_CMD

# CI must not fail on an example no developer has seen: derandomized there (the same examples
# every run); developers keep hypothesis' random search. Deadlines off: 2 shared cores.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
#: `.ci/run` exports CI=1; "", "0" and "false" mean a developer's machine
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
settings.load_profile("ci" if IN_CI else "dev")

#: The only skips CI accepts (under CI=1 every other skip is a failure, so a missing tool,
#: fixture or ROM cannot hide a broken test): node-id pattern (`*` = any text) -> why CI
#: cannot run it. Keep each reason true; tests/test_ci_skips.py checks the rule itself.
CI_SKIP_ALLOWED: dict[str, str] = {}


def ci_skip_allowed(nodeid: str, allowed: dict[str, str] | None = None) -> str | None:
    """The allow-list reason for `nodeid`, or None when CI must not skip it."""
    for pattern, reason in (CI_SKIP_ALLOWED if allowed is None else allowed).items():
        if re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), nodeid):
            return reason
    return None


def _skip_reason(longrepr: object) -> str:
    """A skip report's longrepr is (path, line, "Skipped: why"); anything else is shown as is."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, line, message = longrepr
        return f"{message.removeprefix('Skipped: ')} ({path}:{line})"
    return str(longrepr)


def _ci_verdict(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under CI=1 turn a skip (not an xfail) into a failure that says why it skipped."""
    if not (IN_CI and report.skipped) or hasattr(report, "wasxfail"):
        return
    if ci_skip_allowed(report.nodeid) is not None:
        return
    why = _skip_reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"CI=1: a skip is a failure here ({why}); install what it needs, or add the test to "
        "CI_SKIP_ALLOWED in tests/conftest.py with the reason CI cannot run it"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    """Skips from setup (fixtures, skipif marks, module pytestmark), the test body and teardown."""
    report = yield
    assert isinstance(report, pytest.TestReport)
    _ci_verdict(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, object, object]:
    """Module-level skips (pytest.skip(allow_module_level=True), importorskip at import time)."""
    report = yield
    assert isinstance(report, pytest.CollectReport)
    _ci_verdict(report)
    return report


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


def _dev_null_problem() -> str | None:
    """Why /dev/null is not the null device, or None (a tool that unlinks its output file, run
    with `-o /dev/null`, leaves a regular file that the next `>/dev/null` fills with text)."""
    import stat

    try:
        st = os.stat("/dev/null")
    except OSError as exc:
        return f"/dev/null: {exc}"
    if not stat.S_ISCHR(st.st_mode) or os.major(st.st_rdev) != 1 or os.minor(st.st_rdev) != 3:
        return "/dev/null is not the null device (restore it: rm /dev/null; mknod -m 666 /dev/null c 1 3)"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Tests and the programs they run read and write /dev/null; a broken one fails them at random."""
    problem = _dev_null_problem()
    if problem is not None:
        pytest.exit(problem, returncode=3)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that broke /dev/null fails the run here, not a later, unrelated test."""
    problem = _dev_null_problem()
    if problem is not None and not hasattr(session.config, "workerinput"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nthe test run broke /dev/null: {problem}")
