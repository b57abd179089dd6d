"""Docs that scripts rely on stay in step with the code."""

from __future__ import annotations

import re

from _helpers import REPO_ROOT
from pebuild.errors import ALL_ERRORS


def test_exit_code_table_matches_error_classes() -> None:
    text = (REPO_ROOT / "docs" / "exit-codes.md").read_text()
    rows = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*`(\w+)`", text, flags=re.M))
    assert {name: int(code) for code, name in rows.items()} == {c.__name__: c.exit_code for c in ALL_ERRORS}


def test_readme_starts_with_the_two_commands() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
