"""PXE output: a WDS-style TFTP tree, an iPXE/wimboot HTTP path and a dnsmasq configuration.

Library API (the builder's `pebuild make ... --pxe DIR` and the `pebuild pxe` verb call it):

    from pebuild.pxe import PxeRequest, PxeResult, write_pxe_tree, write_pxe_tree_from

    write_pxe_tree(PxeRequest(dest=Path("pxe"), boot_wim=Path("boot.wim"), arches=["amd64"],
                              source=src), progress=None) -> PxeResult
    # several arches: boot_wim={"amd64": wim64, "x86": wim32}, source={"amd64": src64, ...}
    write_pxe_tree_from("sample" | "/path/to/adk" | "boot.wim", req) -> PxeResult
    # opens the input per arch with pebuild.source.open_source (or as a bare boot.wim)

PxeRequest fields and defaults (docs/pxe.md explains each): prompt=False (pxeboot.n12),
block_size=1456, window_size=4, var_window=False, wimboot=None, http_url=None,
dhcp_mode="proxy", dhcp_range=None, interface=None, server_address=None,
description="Windows PE", default_bcd="bios", index=None, timestamp=None (SOURCE_DATE_EPOCH),
bcd=None (the recipe's [bcd] table as PresetOptions, for every store), menu_text=None, http_boot=None.
pebuild.pxe.recipe.recipe_fields(recipe) gives the fields a recipe's [bcd] and [pxe] tables set.
"""

from __future__ import annotations

from pebuild.pxe.arches import ARCHES, ArchSpec, arch_spec
from pebuild.pxe.inputs import write_pxe_tree_from
from pebuild.pxe.tree import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_WINDOW_SIZE,
    PxeArchResult,
    PxeRequest,
    PxeResult,
    tree_path,
    write_pxe_tree,
)

__all__ = [
    "ARCHES",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_WINDOW_SIZE",
    "ArchSpec",
    "PxeArchResult",
    "PxeRequest",
    "PxeResult",
    "arch_spec",
    "tree_path",
    "write_pxe_tree",
    "write_pxe_tree_from",
]
