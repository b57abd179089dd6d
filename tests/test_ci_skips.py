"""The CI skip rule in tests/conftest.py: under CI=1 a skip fails unless CI_SKIP_ALLOWED names it.

Each case runs a real pytest in a subprocess on tiny test files whose conftest is the
repo's own (executed, then given one allow-list entry), and records every report's final
outcome, so what is checked is what a CI run would print and exit with.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import REPO_ROOT

TESTS = REPO_ROOT / "tests"

RECORDER = f"""
import json, os, sys
sys.path.insert(0, {str(TESTS)!r})
exec(compile(open({str(TESTS / "conftest.py")!r}).read(), "conftest.py", "exec"))
CI_SKIP_ALLOWED["test_cases.py::test_allowed*"] = "only here: the allow-list case"


def _record(report):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller records the reports it receives
    with open(os.environ["RECORD"], "a") as fh:
        fh.write(json.dumps([report.nodeid, report.when or "collect", report.outcome, str(report.longrepr)]) + "\\n")


def pytest_runtest_logreport(report):
    _record(report)


def pytest_collectreport(report):
    if report.outcome != "passed":
        _record(report)
"""

CASES = """
import pytest

pytestmark = []


@pytest.fixture
def needs_rom():
    pytest.skip("efi-e1000.rom not found")


def test_body_skip():
    pytest.skip("wimlib-imagex not installed")


def test_fixture_skip(needs_rom):
    pass


@pytest.mark.skipif(True, reason="no OVMF here")
def test_mark_skip():
    pass


@pytest.mark.parametrize("arch", ["x86", "amd64"])
def test_allowed(arch):
    pytest.skip(f"cannot run {arch} here")


@pytest.mark.xfail(reason="known bug", strict=True)
def test_xfail():
    raise AssertionError


def test_passes():
    assert True
"""

MODULE_SKIP = 'import pytest\n\npytest.skip("whole module: no fixtures", allow_module_level=True)\n\n\ndef test_x():\n    pass\n'
MODULE_MARK = 'import pytest\n\npytestmark = pytest.mark.skipif(True, reason="module mark: no tool")\n\n\ndef test_y():\n    pass\n'
IMPORTORSKIP = 'import pytest\n\npytest.importorskip("no_such_module_pebuild")\n\n\ndef test_z():\n    pass\n'


def _run(tmp_path: Path, ci: str | None, *args: str) -> tuple[int, dict[str, tuple[str, str]]]:
    """pytest on the case files; {nodeid: (outcome, text)}, a test's worst phase winning."""
    work = tmp_path / f"run-{ci}-{len(args)}"
    work.mkdir()
    (work / "conftest.py").write_text(RECORDER)
    (work / "test_cases.py").write_text(CASES)
    (work / "test_module_skip.py").write_text(MODULE_SKIP)
    (work / "test_module_mark.py").write_text(MODULE_MARK)
    (work / "test_importorskip.py").write_text(IMPORTORSKIP)
    (work / "pytest.ini").write_text("[pytest]\n")
    record = work / "record.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env.update(RECORD=str(record), PYTHONPATH=str(TESTS))
    if ci is not None:
        env["CI"] = ci
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors"]
    proc = subprocess.run([*cmd, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    results: dict[str, tuple[str, str]] = {}
    for line in record.read_text().splitlines():
        nodeid, _when, outcome, text = json.loads(line)
        if nodeid not in results or rank[outcome] > rank[results[nodeid][0]]:
            results[nodeid] = (outcome, text)
    return proc.returncode, results


SKIPPING = {
    "test_cases.py::test_body_skip": "wimlib-imagex not installed",
    "test_cases.py::test_fixture_skip": "efi-e1000.rom not found",
    "test_cases.py::test_mark_skip": "no OVMF here",
    "test_module_mark.py::test_y": "module mark: no tool",
    "test_module_skip.py": "whole module: no fixtures",
    "test_importorskip.py": "no_such_module_pebuild",
}


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_under_ci_every_skip_fails_except_the_allow_listed(tmp_path: Path, xdist: bool) -> None:
    rc, results = _run(tmp_path, "1", *(["-n", "2"] if xdist else ["-n", "0"]))
    assert rc == 1, results
    for nodeid, reason in SKIPPING.items():
        outcome, text = results[nodeid]
        assert outcome == "failed", (nodeid, results[nodeid])
        assert reason in text and "CI=1" in text and "CI_SKIP_ALLOWED" in text, text
    for arch in ("x86", "amd64"):
        assert results[f"test_cases.py::test_allowed[{arch}]"][0] == "skipped"
    assert results["test_cases.py::test_xfail"][0] == "skipped"  # an xfail stays an xfail
    assert results["test_cases.py::test_passes"][0] == "passed"


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_outside_ci_skips_stay_skips(tmp_path: Path, ci: str | None) -> None:
    rc, results = _run(tmp_path, ci, "-n", "0")
    assert rc == 0, results
    for nodeid in SKIPPING:
        assert results[nodeid][0] == "skipped", (nodeid, results[nodeid])
    assert results["test_cases.py::test_passes"][0] == "passed"


def test_allow_list_patterns_match_whole_node_ids() -> None:
    # by path: under xdist `conftest` may name another directory's conftest module
    spec = importlib.util.spec_from_file_location("root_conftest", Path(__file__).with_name("conftest.py"))
    assert spec is not None and spec.loader is not None
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    CI_SKIP_ALLOWED, ci_skip_allowed = root_conftest.CI_SKIP_ALLOWED, root_conftest.ci_skip_allowed

    allowed = {"tests/a.py::test_b[*]": "why", "tests/c.py::*": "why not"}
    assert ci_skip_allowed("tests/a.py::test_b[x86]", allowed) == "why"
    assert ci_skip_allowed("tests/a.py::test_bc", allowed) is None  # brackets are literal, not a class
    assert ci_skip_allowed("tests/c.py::test_d", allowed) == "why not"
    assert ci_skip_allowed("xtests/c.py::test_d", allowed) is None
    for pattern, reason in CI_SKIP_ALLOWED.items():
        assert pattern.startswith("tests/") and len(reason) > 10, (pattern, reason)


def test_ci_entry_point_exports_ci_before_make_test() -> None:
    """`.ci/run` is what CI runs: bash must see CI=1 in make's environment (so pytest's too)."""
    script = (REPO_ROOT / ".ci" / "run").read_text()
    lines = [
        line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "export CI=1" in lines and "make test" in lines
    assert lines.index("export CI=1") < lines.index("make test")
    probe = script.replace("make test", 'printf %s "$CI"')
    proc = subprocess.run(
        ["bash", "-c", probe, "run"],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "CI"},
    )
    assert proc.returncode == 0 and proc.stdout == "1", proc
