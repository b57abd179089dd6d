"""wimscript.ini-style capture configuration (DISM /ConfigFile, imagex /config, wimlib --config).

Sections (case-insensitive, as DISM reads them):

* ``[ExclusionList]``: path globs left out of the capture. A matching
  directory is left out with everything below it.
* ``[ExclusionException]``: globs captured even when an exclusion matches.
* ``[CompressionExclusionList]``: globs DISM stores uncompressed. libwim has no
  per-file compression switch (it reads and ignores this section), so pebuild
  parses, validates and keeps these (they round-trip through `to_ini`) and
  every file gets the WIM's compression. The files are still captured, and
  the WIM is equivalent in content (docs/wim.md).
* ``[PrepopulateList]`` (wimlib, WIMBoot) and ``[AlignmentList]`` (old imagex)
  are accepted; AlignmentList is ignored like CompressionExclusionList.

Globs use ``*`` and ``?``; a glob starting with ``\\`` or ``/`` is anchored at
the captured directory, any other glob matches a name in any directory.
Lines starting with ``;`` or ``#`` are comments. Drive letters are refused.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.errors import RecipeError

SECTIONS = {
    "exclusionlist": "exclusion_list",
    "exclusionexception": "exclusion_exception",
    "compressionexclusionlist": "compression_exclusion_list",
    "prepopulatelist": "prepopulate_list",
    "alignmentlist": "alignment_list",
}
#: the sections libwim itself understands (the others are kept by pebuild only)
LIBWIM_SECTIONS = ("exclusion_list", "exclusion_exception", "prepopulate_list")
_HEADERS = {
    "exclusion_list": "ExclusionList",
    "exclusion_exception": "ExclusionException",
    "compression_exclusion_list": "CompressionExclusionList",
    "prepopulate_list": "PrepopulateList",
    "alignment_list": "AlignmentList",
}


@dataclass
class CaptureConfig:
    exclusion_list: list[str] = field(default_factory=list)
    exclusion_exception: list[str] = field(default_factory=list)
    compression_exclusion_list: list[str] = field(default_factory=list)
    prepopulate_list: list[str] = field(default_factory=list)
    alignment_list: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, *, path: str | os.PathLike[str] | None = None) -> CaptureConfig:
        """Parse wimscript.ini text; errors carry file:line."""
        config = cls()
        current: list[str] | None = None
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip().lstrip("\ufeff")
            if not line or line[0] in ";#":
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise RecipeError(f"unterminated section header {line!r}", path=path, line=lineno)
                name = line[1:-1].strip().lower()
                if name not in SECTIONS:
                    known = ", ".join(f"[{h}]" for h in _HEADERS.values())
                    raise RecipeError(
                        f"unknown section [{line[1:-1]}] (known: {known})", path=path, line=lineno
                    )
                current = getattr(config, SECTIONS[name])
                continue
            if current is None:
                raise RecipeError(f"{line!r} is outside any section", path=path, line=lineno)
            current.append(check_glob(line, path=path, line=lineno))
        return config

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CaptureConfig:
        """Read a config file: UTF-8 (with or without BOM) or UTF-16LE with BOM, as DISM writes."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise RecipeError(f"cannot read capture config: {exc.strerror}", path=path) from None
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise RecipeError("capture config is neither UTF-8 nor UTF-16", path=path) from None
        return cls.parse(text, path=path)

    def to_ini(self, *, libwim_only: bool = False) -> str:
        """The config as wimscript.ini text (libwim_only: just the sections libwim reads)."""
        lines: list[str] = []
        for attr, header in _HEADERS.items():
            if libwim_only and attr not in LIBWIM_SECTIONS:
                continue
            globs = getattr(self, attr)
            if globs:
                lines.append(f"[{header}]")
                lines.extend(globs)
                lines.append("")
        return "\n".join(lines)

    def is_excluded(self, image_path: str) -> bool:
        """Would a file at `image_path` ('a/b/c', relative to the capture root) be left out?

        Mirrors libwim's rules, for previews and tests: an exclusion of any
        ancestor excludes the path unless an exception matches the path or an ancestor.
        """
        parts = [p for p in image_path.replace("\\", "/").split("/") if p]
        excluded = False
        for i in range(1, len(parts) + 1):
            prefix = parts[:i]
            if _matches_any(self.exclusion_exception, prefix):
                return False
            if _matches_any(self.exclusion_list, prefix):
                excluded = True
        return excluded


def check_glob(text: str, *, path: str | os.PathLike[str] | None = None, line: int | None = None) -> str:
    """The one rule for a glob, at capture time and for a recipe's [wimscript] at build time.

    Quotes are dropped; a drive letter is refused, not stripped: globs are relative to the
    captured directory (`imagex /capture C: ...` excludes `\\pagefile.sys`, never
    `C:\\pagefile.sys`), and a silently rewritten exclusion could capture what the user
    meant to leave out.
    """
    glob = _unquote(text.strip())
    if len(glob) >= 2 and glob[1] == ":":
        suggestion = glob[2:] if glob[2:3] in ("\\", "/") else "\\" + glob[2:]
        raise RecipeError(
            f"drive letters are not allowed in globs: '{glob}' (globs are relative to the captured "
            f"directory: write '{suggestion}')",
            path=path,
            line=line,
        )
    if not glob:
        raise RecipeError("empty glob", path=path, line=line)
    return glob


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _matches_any(globs: list[str], parts: list[str]) -> bool:
    path = "/" + "/".join(parts)
    name = parts[-1]
    for glob in globs:
        g = glob.replace("\\", "/")
        if g.startswith("/"):
            if fnmatch.fnmatchcase(path.lower(), g.rstrip("/").lower() or "/"):
                return True
        elif fnmatch.fnmatchcase(name.lower(), g.lower()):
            return True
    return False
