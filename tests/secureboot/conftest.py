"""Sample media built once per test session: 2011 and 2023 boot manager sets as ISO, USB and PXE."""

from __future__ import annotations

from pathlib import Path

import pytest

from _helpers import REPO_ROOT


@pytest.fixture(scope="session")
def sample_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """generation -> {iso, usb, pxe, manifest} built from the sample source with SOURCE_DATE_EPOCH fixed."""
    from pebuild.make import BuildRequest, build

    out: dict[str, dict[str, Path]] = {}
    for generation in ("2011", "2023"):
        d = tmp_path_factory.mktemp(f"media-{generation}")
        paths = {"iso": d / "winpe.iso", "usb": d / "winpe.img", "pxe": d / "pxe", "manifest": d / "m.json"}
        build(
            BuildRequest(
                arch="amd64",
                recipe=REPO_ROOT / "recipes" / "capture.toml",
                source="sample",
                output=paths["iso"],
                usb_output=paths["usb"],
                pxe_dir=paths["pxe"],
                manifest=paths["manifest"],
                media_dir=d / "media",
                boot_manager=generation,
                timestamp=1_700_000_000,
            )
        )
        paths["media"] = d / "media"
        out[generation] = paths
    return out
