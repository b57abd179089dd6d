"""The set of edits a build applies to boot.wim, collected from every stage.

Recipe files, overlays, servicing (registry hives, drivers, unattend) and
startup scripts all contribute to one `ImageEdits`, which the builder turns into
a single libwim update (one commit, append mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pebuild.fsutil import normalize_image_path


@dataclass
class ImageEdits:
    #: image path ('Windows/System32/x.exe') -> local file or bytes to store there
    add: dict[str, Path | bytes] = field(default_factory=dict)
    #: image paths to delete (files or whole directories)
    delete: list[str] = field(default_factory=list)
    #: (old image path, new image path)
    rename: list[tuple[str, str]] = field(default_factory=list)
    #: lines appended to Windows/System32/startnet.cmd (after wpeinit)
    startnet_lines: list[str] = field(default_factory=list)

    def add_file(self, image_path: str, content: Path | bytes) -> None:
        self.add[normalize_image_path(image_path)] = content

    def merge(self, other: ImageEdits) -> None:
        for k, v in other.add.items():
            self.add[k] = v
        self.delete.extend(other.delete)
        self.rename.extend(other.rename)
        self.startnet_lines.extend(other.startnet_lines)

    def is_empty(self) -> bool:
        return not (self.add or self.delete or self.rename or self.startnet_lines)
