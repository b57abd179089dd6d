"""One error hierarchy, split by blame, each with a stable exit code.

The CLI catches PebuildError once and prints `pebuild: <message>` on one line.
Exit codes are part of the interface (docs/exit-codes.md) and are never renumbered.
"""

from __future__ import annotations

from os import PathLike


class PebuildError(Exception):
    """Base class: an expected failure with a one-line, user-facing message."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        text = " ".join(self.message.split("\n"))
        return f"{self.path}: {text}" if self.path else text

    def to_json(self) -> dict[str, object]:
        return {"error": self.kind, "message": str(self), "path": self.path, "exit_code": self.exit_code}


class BootError(PebuildError):
    """The media did not boot as expected (smoke verdict)."""

    exit_code = 1
    kind = "boot"


class UsageError(PebuildError):
    """Bad command-line arguments or option values."""

    exit_code = 2
    kind = "usage"


class RecipeError(PebuildError):
    """A recipe or overlay file is invalid; carries file:line."""

    exit_code = 3
    kind = "recipe"

    def __init__(
        self, message: str, *, path: str | PathLike[str] | None = None, line: int | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.line = line

    def __str__(self) -> str:
        text = " ".join(self.message.split("\n"))
        if self.path and self.line:
            return f"{self.path}:{self.line}: {text}"
        return super().__str__()


class SourceError(PebuildError):
    """A WinPE source (ADK, WAIK, install media, WIM) lacks something or is unusable."""

    exit_code = 4
    kind = "source"


class FormatError(PebuildError):
    """An input file is malformed (not a WIM, corrupt hive, bad FAT image, ...)."""

    exit_code = 5
    kind = "format"


class ToolError(PebuildError):
    """A required system library or program is missing or failed (names the Debian package)."""

    exit_code = 6
    kind = "tool"


class StateError(PebuildError):
    """The operation conflicts with recorded state: not mounted, already mounted, WIM changed under a mount."""

    exit_code = 7
    kind = "state"


class OutputError(PebuildError):
    """An output cannot be written (unwritable directory, target exists, disk full)."""

    exit_code = 8
    kind = "output"


class InternalError(PebuildError):
    """A bug in pebuild. The CLI maps any unexpected exception to this code."""

    exit_code = 70
    kind = "internal"


EXIT_INTERRUPTED = 130

ALL_ERRORS: tuple[type[PebuildError], ...] = (
    BootError,
    UsageError,
    RecipeError,
    SourceError,
    FormatError,
    ToolError,
    StateError,
    OutputError,
    InternalError,
)
