"""The built-in synthetic WinPE source: an ADK-shaped kit whose boot programs are tiny real programs.

`build_sample_source(dest, arch)` writes the kit; `sample_source_path(arch)`
returns a cached copy (what `--source sample` uses). See docs/sample.md.
"""

from __future__ import annotations

from pebuild.sample.kit import build_sample_source, marker, sample_source_path

__all__ = ["build_sample_source", "marker", "sample_source_path"]
