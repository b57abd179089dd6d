"""docs/examples: the CI jobs parse, call only verbs and options that exist, and keep every output.

Each `pebuild ...` command line in them is parsed by pebuild's own click commands
(unknown options, bad choices and missing arguments fail here); the example's
`make` line is run for real from a directory holding only the example recipe.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest
import yaml

from _helpers import PEBUILD_CMD, REPO_ROOT
from pebuild.cli import cli
from pebuild.recipe import load_recipe

EXAMPLES = REPO_ROOT / "docs" / "examples"
OUTPUT_OPTIONS = ("-o", "--usb", "--pxe", "--manifest")


def _shell_lines(script: str) -> list[str]:
    """Shell commands of a run/script block: continuations joined, one command per line."""
    return [line.strip() for line in script.replace("\\\n", " ").splitlines() if line.strip()]


def _pebuild_commands(lines: list[str]) -> list[list[str]]:
    """argv lists (after 'pebuild') of every pebuild call, also inside $(...)."""
    found = []
    for line in lines:
        for inner in re.findall(r"\$\((pebuild [^)]*)\)", line):
            found.append(shlex.split(inner)[1:])
        words = shlex.split(re.sub(r"\$\([^)]*\)", "SUBST", line), comments=True)
        for i, word in enumerate(words):
            if word == "pebuild" and (i == 0 or words[i - 1] in ("&&", ";", "||")):
                end = next(
                    (j for j in range(i + 1, len(words)) if words[j] in ("&&", ";", "||", "|")), len(words)
                )
                found.append(words[i + 1 : end])
    return found


def _check_command(argv: list[str]) -> click.Context:
    """Parse argv with the real command (group -> verb -> subcommand) without running it."""
    root = cli.make_context("pebuild", [], resilient_parsing=True)
    command: click.Command = cli
    args = list(argv)
    ctx = root
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"no verb {args[0]!r} in `pebuild {' '.join(argv)}`"
        name, args = args[0], args[1:]
        if isinstance(sub, click.Group) and args and not args[0].startswith("-"):
            ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
            command = sub
            continue
        return sub.make_context(name, args, parent=ctx)  # raises on unknown options, bad values
    return command.make_context("pebuild", args, parent=ctx)


def _github() -> tuple[dict, list[str]]:
    data = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    (job,) = data["jobs"].values()
    lines = [line for step in job["steps"] if "run" in step for line in _shell_lines(step["run"])]
    return data, lines


def _gitlab() -> tuple[dict, list[str]]:
    data = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    job = data["winpe-media"]
    lines = [
        line for part in ("before_script", "script") for item in job[part] for line in _shell_lines(item)
    ]
    return data, lines


@pytest.mark.parametrize("example", [_github, _gitlab], ids=["github", "gitlab"])
def test_example_calls_existing_verbs_and_options(example) -> None:
    _, lines = example()
    commands = _pebuild_commands(lines)
    verbs = [argv[0] for argv in commands]
    assert {"doctor", "make", "smoke"} <= set(verbs), verbs
    assert ["doctor", "--apt"] in commands  # the one Debian command
    for argv in commands:
        _check_command(argv)
    make = next(argv for argv in commands if argv[0] == "make")
    assert make[make.index("--recipe") + 1] == "winpe.toml"
    smoked = {argv[1] for argv in commands if argv[0] == "smoke"}
    assert smoked == {make[make.index("-o") + 1], make[make.index("--usb") + 1]}


def _outputs(lines: list[str]) -> list[str]:
    make = next(argv for argv in _pebuild_commands(lines) if argv[0] == "make")
    return [make[make.index(opt) + 1] for opt in OUTPUT_OPTIONS]


def test_github_uploads_every_output() -> None:
    data, lines = _github()
    triggers = data.get("on", data.get(True))  # YAML 1.1 (PyYAML) reads the key `on` as True
    assert set(triggers) == {"push", "workflow_dispatch"}
    (job,) = data["jobs"].values()
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    for out in _outputs(lines):
        assert out in paths or out + "/" in paths, (out, paths)
    assert job["container"] == "debian:12" and job["env"]["SOURCE_DATE_EPOCH"]


def test_gitlab_keeps_every_output() -> None:
    data, lines = _gitlab()
    job = data["winpe-media"]
    assert job["image"] == "debian:12" and job["artifacts"]["when"] == "always"
    for out in _outputs(lines):
        assert out in job["artifacts"]["paths"] or out + "/" in job["artifacts"]["paths"], out


def test_docs_show_the_example_files_verbatim() -> None:
    text = (REPO_ROOT / "docs" / "ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert (EXAMPLES / "github-actions.yml").read_text() in blocks
    assert (EXAMPLES / "gitlab-ci.yml").read_text() in blocks


def test_example_build_step_runs_as_written(tmp_path: Path) -> None:
    """The workflow's build step, run by bash from a checkout holding only winpe.toml."""
    assert load_recipe(EXAMPLES / "winpe.toml").settings.media.label == "WINPE_CI"
    (tmp_path / "winpe.toml").write_text((EXAMPLES / "winpe.toml").read_text())
    data, lines = _github()
    (job,) = data["jobs"].values()
    step = next(s for s in job["steps"] if s.get("name", "").startswith("Build"))
    bindir = Path(PEBUILD_CMD[0]).parent if len(PEBUILD_CMD) == 1 else None
    if bindir is None:
        pytest.skip("no installed pebuild console script for bash to find")
    env = {**os.environ, **job["env"], "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    for out in _outputs(lines):
        assert (tmp_path / out).exists(), out
