"""Installed-tool basics: --version from package metadata, shell completion for bash/zsh/fish."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import pebuild
from _helpers import PEBUILD_CMD, REPO_ROOT


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [*PEBUILD_CMD, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_version_comes_from_the_package_metadata() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]  # one source: pebuild.__version__
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pebuild.__version__"}
    assert metadata.version("pebuild") == pebuild.__version__
    assert _run("--version") == f"pebuild, version {metadata.version('pebuild')}\n"
    assert pebuild.installed_version() == pebuild.__version__


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _pebuild_completion pebuild"),
        ("zsh", "#compdef pebuild"),
        ("fish", "complete --no-files --command pebuild"),
    ],
)
def test_completion_scripts(shell: str, marker: str) -> None:
    script = _run(env={"_PEBUILD_COMPLETE": f"{shell}_source"})
    assert marker in script


def _complete(words: str, cword: int) -> list[str]:
    out = _run(env={"_PEBUILD_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    return out.splitlines()


def test_completion_knows_verbs_options_and_shipped_names() -> None:
    assert "plain,recipes" in _complete("pebuild rec", 1)
    assert "plain,doctor" in _complete("pebuild doc", 1)
    assert _complete("pebuild make amd64 --rec", 3) == ["plain,--recipe"]
    assert _complete("pebuild make amd64 --recipe ca", 4) == ["file,ca", "plain,capture"]
    assert _complete("pebuild recipes show w", 3) == ["plain,wimscript"]


def test_bash_completion_works_in_bash(tmp_path: Path) -> None:
    """The script click writes, sourced into a real bash, fills COMPREPLY."""
    bash = shutil.which("bash")
    assert bash is not None  # Essential: yes in Debian
    script = tmp_path / "pebuild.bash"
    script.write_text(_run(env={"_PEBUILD_COMPLETE": "bash_source"}))
    bindir = Path(PEBUILD_CMD[0]).parent if len(PEBUILD_CMD) == 1 else None
    if bindir is None:
        pytest.skip("no installed pebuild console script to complete")
    probe = f'source {script}; COMP_WORDS=(pebuild recipes show ca); COMP_CWORD=3; _pebuild_completion pebuild; echo "${{COMPREPLY[@]}}"'
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([bash, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stdout.split() == ["capture"], proc.stderr
