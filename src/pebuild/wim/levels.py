"""libwim compression levels: which are valid, and the one a commit uses.

No ctypes here: `pebuild commit` checks its level before it locks or opens
anything, and the libwim binding is imported later, just before the thread
that opens the WIM starts (pebuild.wim.mount._Opening).
"""

from __future__ import annotations

from pebuild.errors import UsageError

#: libwim's levels: 1 (fastest) .. 1000 (smallest); 50 is libwim's default and `wimlib-imagex`'s
COMPRESS_LEVELS = range(1, 1001)

#: libwim's fast LZX/XPRESS level for what a commit writes. At 50, LZX-compressing the rewritten
#: metadata resource is most of a commit's time; 20 appends slightly more bytes (docs/wim.md).
#: `compress_level=50` (`--compress-level 50`) gives `wimlib-imagex update`'s bytes.
COMMIT_COMPRESS_LEVEL = 20


def check_compress_level(level: object) -> int:
    """A valid libwim compression level, or the one-line UsageError a bad one gets."""
    if isinstance(level, bool) or not isinstance(level, int) or level not in COMPRESS_LEVELS:
        raise UsageError(f"compression level must be an integer from 1 to 1000, got {level!r}")
    return level
