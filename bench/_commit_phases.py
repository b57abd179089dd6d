"""Where one `pebuild commit` spends its time; bench_wim.py runs it in a child process.

    python bench/_commit_phases.py OUT.json DIR [COMMIT OPTIONS, e.g. --compress-level 50]

Wraps the steps of the commit in pebuild.wim.mount (state load, walk, diff,
save) and the Wim it opens (update, overwrite, free) with timers, runs the
real CLI `pebuild commit DIR`, and writes seconds per phase as JSON. The
interpreter's own start and exit are outside what it can see; bench_wim.py
adds them from the wall time.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

T0 = time.perf_counter()
PHASES: dict[str, float] = {}


def add(name: str, seconds: float) -> None:
    PHASES[name] = PHASES.get(name, 0.0) + seconds


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            add(name, time.perf_counter() - t)

    return wrapper


import pebuild.cli  # noqa: E402  (click and the verb table)

add("import pebuild.cli (click)", time.perf_counter() - T0)
t = time.perf_counter()
import pebuild.cli.wim  # noqa: E402  (the commit verb; libwim is imported by the open thread)
import pebuild.wim.mount as M  # noqa: E402

add("import the commit verb", time.perf_counter() - t)
BEFORE_MAIN = set(PHASES)  # the two imports above happen before main() is called

M._Opening.__init__ = timed("import the libwim binding, start the open thread", M._Opening.__init__)
M._load = timed("read the mount state", M._load)
M.scan_tree = timed("walk DIR (libwim opens the WIM meanwhile)", M.scan_tree)
M.diff_tree = timed("diff against the state", M.diff_tree)
M._save = timed("write the new state", M._save)
_result = M._Opening.result


def _opened(self: Any) -> Any:
    t = time.perf_counter()
    wim = _result(self)
    add("wait for libwim's open (after the walk)", time.perf_counter() - t)
    wim.update = timed("wimlib_update_image", wim.update)
    wim.overwrite = timed("wimlib_overwrite (append)", wim.overwrite)
    wim.close = timed("wimlib_free", wim.close)
    return wim


M._Opening.result = _opened
t = time.perf_counter()
out = sys.argv[1]
sys.argv = ["pebuild", "commit", *sys.argv[2:]]
try:
    pebuild.cli.main()  # as the console script calls it (argv from sys.argv)
except SystemExit as exc:
    if exc.code not in (None, 0):
        raise
total = time.perf_counter() - t
steps = sum(v for k, v in PHASES.items() if k not in BEFORE_MAIN)
PHASES["the rest (click, locks, checks)"] = total - steps
with open(out, "w", encoding="utf-8") as fh:
    json.dump(PHASES, fh)
