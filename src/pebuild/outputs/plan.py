"""The output plan: every path a command will write, resolved and checked before any work.

A build that fails after minutes because `--usb /nonexistent/u.img` has no
directory, or that replaces an ISO *file* with a media *directory*, has wasted
the user's time or destroyed something. `plan_outputs` fails in one line, before
anything is built, when a parent directory is missing or not writable, a path
is of the wrong kind (a directory where a file goes, a file where a tree goes,
a mount point), two outputs are the same path or one lies inside another, or an
output and an input (the source, the recipe) contain each other.

Ownership of existing trees is checked later, under the output lock
(pebuild.outputs.owner), because another pebuild may be publishing them now.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pebuild.errors import OutputError, UsageError

FILE = "file"
TREE = "tree"


@dataclass(frozen=True)
class Output:
    """One path a command writes: a regular file or a directory tree.

    `role` names it in messages and, for trees, in the ownership marker
    (`iso`, `media`, `pxe`, `usb`, `manifest`, `copype`, `sample-source`).
    """

    role: str
    path: Path
    kind: str = FILE

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def parent(self) -> Path:
        return self.path.parent


@dataclass(frozen=True)
class OutputPlan:
    """Absolute, checked outputs in publish order (the caller puts the manifest last)."""

    outputs: tuple[Output, ...]

    def get(self, role: str) -> Output:
        for out in self.outputs:
            if out.role == role:
                return out
        raise KeyError(role)

    def has(self, role: str) -> bool:
        return any(out.role == role for out in self.outputs)

    @property
    def parents(self) -> list[Path]:
        return sorted({out.parent for out in self.outputs})


def absolute_target(path: str | os.PathLike[str], role: str) -> Path:
    """The target with its parent resolved (symlinks followed) and its own name kept as given."""
    text = os.fspath(path)
    absolute = os.path.abspath(text)
    name = os.path.basename(absolute)
    if not text or name in ("", ".", "..") or os.path.basename(text.rstrip("/")) in (".", ".."):
        raise UsageError(
            f"the {role} output needs a name inside an existing directory, not {text!r}", path=text or "."
        )
    return Path(os.path.realpath(os.path.dirname(absolute))) / name


def plan_outputs(outputs: Iterable[Output], *, inputs: Iterable[str | os.PathLike[str]] = ()) -> OutputPlan:
    """Resolve and check every output (see the module docstring); raise before any work is done."""
    resolved = tuple(Output(o.role, absolute_target(o.path, o.role), o.kind) for o in outputs)
    _check_collisions(resolved)  # first: `-o m/a.iso --media-dir m` is a collision, whether m exists or not
    for out in resolved:
        _check_parent(out)
        check_kind(out)
    _check_inputs(resolved, [Path(os.path.realpath(p)) for p in inputs])
    return OutputPlan(resolved)


def _check_parent(out: Output) -> None:
    if not out.parent.is_dir():
        raise OutputError("cannot write output: directory does not exist", path=out.parent)
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise OutputError("cannot write output: directory is not writable", path=out.parent)


def check_kind(out: Output) -> None:
    """A file only replaces a file (or a link, with --force), a tree only a directory."""
    try:
        st = os.lstat(out.path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"cannot inspect output: {exc.strerror}", path=out.path) from None
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return  # replacing the link itself needs --force (owner.check_replaceable)
    if out.kind == FILE:
        if stat.S_ISDIR(mode):
            raise OutputError(
                f"is a directory, but the {out.role} output is a file (remove it or choose another path)",
                path=out.path,
            )
        if not stat.S_ISREG(mode):
            raise OutputError(
                f"is not a regular file; the {out.role} output cannot replace it", path=out.path
            )
        return
    if not stat.S_ISDIR(mode):
        raise OutputError(
            f"is a file, but the {out.role} output is a directory tree "
            "(pebuild replaces a file only by a file; remove it or choose another path)",
            path=out.path,
        )
    if os.path.ismount(out.path):
        raise OutputError(
            f"is a mount point; the {out.role} output is published by renaming a finished tree into "
            "place, so give a directory inside it",
            path=out.path,
        )


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check_collisions(outputs: tuple[Output, ...]) -> None:
    for i, a in enumerate(outputs):
        for b in outputs[i + 1 :]:
            if a.path == b.path:
                raise UsageError(f"given as both the {a.role} and the {b.role} output", path=a.path)
            for inner, outer in ((a, b), (b, a)):
                if outer.kind == TREE and _inside(inner.path, outer.path):
                    raise UsageError(
                        f"the {inner.role} output would be inside the {outer.role} output {outer.path}",
                        path=inner.path,
                    )


def _check_inputs(outputs: tuple[Output, ...], inputs: list[Path]) -> None:
    for out in outputs:
        real = Path(os.path.realpath(out.path))
        for source in inputs:
            for target in {out.path, real}:
                if target == source:
                    raise UsageError(f"the {out.role} output would overwrite its input", path=out.path)
                if _inside(target, source):
                    raise UsageError(
                        f"the {out.role} output would be inside the input {source}", path=out.path
                    )
                if out.kind == TREE and _inside(source, target):
                    raise UsageError(f"the {out.role} output would replace the input {source}", path=out.path)
