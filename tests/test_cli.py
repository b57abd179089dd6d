"""The CLI shell: help with examples, lazy imports, error mapping."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from pebuild.cli import COMMANDS, cli
from pebuild.errors import ALL_ERRORS


def test_help_lists_every_verb_with_examples() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "pebuild make amd64 --recipe" in result.output
    for verb in COMMANDS:
        assert verb in result.output


def test_help_is_lazy() -> None:
    code = (
        "import sys\n"
        "from pebuild.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pycdlib', 'pefile', 'construct', 'jinja2', 'rich', 'ctypes') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out


def test_exit_codes_are_unique_and_stable() -> None:
    codes = {cls.__name__: cls.exit_code for cls in ALL_ERRORS}
    assert codes == {
        "BootError": 1,
        "UsageError": 2,
        "RecipeError": 3,
        "SourceError": 4,
        "FormatError": 5,
        "ToolError": 6,
        "StateError": 7,
        "OutputError": 8,
        "InternalError": 70,
    }


def test_unknown_verb_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-verb"])
    assert result.exit_code == 2


def test_progress_display_renders_bytes_and_counts() -> None:
    """Stages counted in bytes and in steps share one display; counts are not shown as sizes."""
    import io

    from rich.console import Console

    from pebuild.cli._common import progress_display
    from pebuild.progress import ProgressEvent

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150)
    with progress_display("make", quiet=False, console=console) as progress:
        progress(ProgressEvent("build", 2, 9, "image: edit boot.wim", unit="steps"))
        progress(ProgressEvent("write", 1_500_000, 417_900_000))
        progress(ProgressEvent("scan", 10, None, unit="files"))
    text = out.getvalue()
    assert "2/9 steps" in text and "image: edit boot.wim" in text
    assert "1.5/417.9 MB" in text
    assert "10/? files" in text
