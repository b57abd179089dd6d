"""`pebuild doctor`: its table stays true to the package list and the verbs; missing tools are named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from _helpers import PEBUILD_CMD, REPO_ROOT, assert_one_line_error
from pebuild.cli import COMMANDS, cli
from pebuild.doctor import CHECKS, Check, DoctorRequest, debian_packages, parse_package_list, run_doctor
from pebuild.doctor.probes import PROBES, SBIN_DIRS, _satisfies
from pebuild.wim._libwim import MIN_VERSION

PACKAGE_LIST = REPO_ROOT / ".ci" / "debian-packages.txt"


def test_table_rows_are_well_formed() -> None:
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names))
    for check in CHECKS:
        assert check.probe in PROBES, check
        assert set(check.verbs) <= set(COMMANDS), f"{check.name}: no such verb in {check.verbs}"
        assert check.purpose, check


def test_table_and_package_list_agree() -> None:
    """Every listed package is probed, and what `pebuild make` always needs is listed."""
    listed = set(debian_packages())
    probed = {c.package for c in CHECKS}
    unprobed = sorted(listed - probed)
    assert not unprobed, f"add a row to pebuild/doctor/checks.py CHECKS for: {', '.join(unprobed)}"
    for check in CHECKS:
        if check.core and check.package:
            assert check.package in listed, check


def test_apt_list_is_the_makefile_list() -> None:
    """doctor --apt, `make setup` (grep in the Makefile) and the package file read the same names."""
    grep = subprocess.run(
        ["sh", "-c", f"grep -v '^\\s*#' {PACKAGE_LIST} | tr '\\n' ' '"], capture_output=True, text=True
    )
    makefile_names = tuple(grep.stdout.split())
    assert debian_packages() == makefile_names == parse_package_list(PACKAGE_LIST.read_text())
    assert "grep -v '^\\s*\\#' .ci/debian-packages.txt" in (REPO_ROOT / "Makefile").read_text()
    result = CliRunner().invoke(cli, ["doctor", "--apt"])
    assert result.exit_code == 0
    assert result.output == " ".join(makefile_names) + "\n"


def test_parse_package_list_drops_comments() -> None:
    assert parse_package_list("# head\nfoo\n  bar  # why\n\n#baz\nqux\n") == ("foo", "bar", "qux")


def test_this_machine_has_the_core() -> None:
    report = run_doctor()
    assert report.ok, [r.to_json() for r in report.missing_core]
    by_name = {r.check.name: r for r in report.results}
    libwim = by_name["libwim"].finding
    assert libwim.ok and libwim.version is not None
    assert tuple(int(x) for x in libwim.version.split(".")) >= MIN_VERSION
    assert libwim.path and "libwim" in libwim.path
    assert "click " in by_name["python packages"].finding.detail
    data = report.to_json()
    assert data["ok"] is True and len(data["checks"]) == len(CHECKS)
    assert data["debian_packages"] == list(debian_packages())


def _path_without(tmp_path: Path, missing: str) -> str:
    """A PATH holding every program the table probes, except `missing`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for check in CHECKS:
        if check.probe == "program" and check.target != missing:
            found = shutil.which(check.target) or shutil.which(check.target, path=":".join(SBIN_DIRS))
            if found:
                (bindir / check.target).symlink_to(found)
    return str(bindir)


def _without(tmp_path: Path, program: str) -> tuple[list[str], dict[str, str]]:
    """Run as on a machine without `program`: a PATH without it, and its copies in /usr/sbin and
    /sbin (where pebuild also looks) covered by an empty, non-executable file in a private mount
    namespace, which ends with the command."""
    env = {**os.environ, "PATH": _path_without(tmp_path, program)}
    hidden = sorted({os.path.realpath(p) for d in SBIN_DIRS if os.path.exists(p := f"{d}/{program}")})
    if not hidden:
        return [], env
    unshare, sh, mount = (
        shutil.which(t) or shutil.which(t, path=":".join(SBIN_DIRS)) for t in ("unshare", "sh", "mount")
    )
    if os.geteuid() != 0 or not (unshare and sh and mount):
        pytest.skip(f"{program} is installed in sbin: hiding it needs root and unshare (util-linux)")
    empty = tmp_path / f"no-{program}"
    empty.write_bytes(b"")
    empty.chmod(0o644)
    script = "".join(f"{mount} --bind {empty} {p} && " for p in hidden) + 'exec "$@"'
    return [unshare, "--mount", "--propagation", "private", sh, "-c", script, "sh"], env


def test_missing_dnsmasq_is_named_with_its_package(tmp_path: Path) -> None:
    """Done-when of issue 16: on a machine without dnsmasq, doctor says so and names the package."""
    prefix, env = _without(tmp_path, "dnsmasq")
    proc = subprocess.run(
        [*prefix, *PEBUILD_CMD, "doctor"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr  # dnsmasq is not needed by `pebuild make`
    row = next(line for line in proc.stdout.splitlines() if line.split()[1:2] == ["dnsmasq"])
    assert row.split()[0] == "MISSING" and "not on PATH nor in /usr/sbin, /sbin" in row
    assert "missing dnsmasq: serves the TFTP tree" in proc.stdout
    assert "install: apt-get install --no-install-recommends dnsmasq" in proc.stdout
    assert "verdict: ok" in proc.stdout

    proc = subprocess.run(
        [*prefix, *PEBUILD_CMD, "doctor", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    dnsmasq = next(c for c in data["checks"] if c["name"] == "dnsmasq")
    assert dnsmasq["ok"] is False and dnsmasq["package"] == "dnsmasq" and dnsmasq["verbs"] == ["pxe", "smoke"]
    assert dnsmasq["hint"] == "apt-get install --no-install-recommends dnsmasq"
    assert data["missing_packages"] == ["dnsmasq"] and data["ok"] is True, data["missing_packages"]
    assert os.access("/usr/sbin/dnsmasq", os.X_OK) == bool(prefix)  # the host's copy is untouched


def test_missing_core_tool_exits_6_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import pebuild.doctor

    fake = Check("libfoo", "program", "pebuild-no-such-program", "libfoo", ("make",), "test row", core=True)
    monkeypatch.setattr(pebuild.doctor, "CHECKS", (*CHECKS, fake))
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 6, result.output
    assert "pebuild: pebuild make cannot run: missing libfoo (apt-get install" in result.output
    assert "verdict: ok" not in result.output
    assert "missing libfoo: needed by every `pebuild make`" in result.output


def test_missing_core_tool_subprocess_is_one_error_line(tmp_path: Path) -> None:
    """With --json the report stays on stdout and stderr holds the one `pebuild:` line."""
    code = (
        "import sys, pebuild.doctor as d\n"
        "d.CHECKS = (*d.CHECKS, d.Check('libfoo', 'program', 'pebuild-no-such-program', 'libfoo', ('make',),"
        " 'test row', core=True))\n"
        "from pebuild.cli import main\n"
        "main(['doctor', '--json'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc, expected_code=6)
    assert json.loads(proc.stdout)["ok"] is False


def test_core_verdict_from_the_table_alone() -> None:
    optional = Check("nothing", "program", "pebuild-no-such-program", "nothing", (), "optional row")
    core = Check("core", "program", "sh", "dash", ("make",), "core row", core=True)
    report = run_doctor(DoctorRequest(search_path="/usr/bin:/bin", checks=(optional, core)))
    assert report.ok and [r.check.name for r in report.missing] == ["nothing"]
    assert not report.results[0].listed  # 'nothing' is no package of pebuild's list
    gone = run_doctor(DoctorRequest(search_path=str(Path("/nonexistent")), checks=(core,)))
    assert not gone.ok and gone.missing_core[0].finding.detail == "not on PATH"


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ("1.22.0", ">=1.22,<1.23", True),
        ("1.23.0", ">=1.22,<1.23", False),
        ("1.21.9", ">=1.22,<1.23", False),
        ("2023.2.7", ">=2023.2.7", True),
        ("13.0.0", ">=13", True),
        ("12.6.0", ">=13", False),
        ("8.1.0", ">=8.1", True),
    ],
)
def test_version_bounds(version: str, spec: str, ok: bool) -> None:
    assert _satisfies(version, spec) is ok
