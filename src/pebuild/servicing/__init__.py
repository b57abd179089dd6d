"""Offline servicing: registry edits, WinPE settings, drivers and unattend files (docs/servicing.md).

The builder calls two functions, for the recipe tables named in `SECTIONS`:

    plan = parse_recipe_sections(tables, recipe_path, line_of)        # validate, file:line errors
    edits = plan_image_edits(plan, wim=wim, index=i, arch="amd64", workdir=tmp, variables={})

`pebuild reg` and `pebuild pe-settings` (pebuild.cli.reg) use the same pieces on
a WIM image, a mounted/extracted directory or a hive file (`pebuild.servicing.target`).
"""

from pebuild.servicing.drivers import DriverPackage, InfError, find_infs, parse_inf, validate_driver
from pebuild.servicing.pesettings import (
    SCRATCH_SPACE_SIZES,
    PeSettings,
    apply_pe_settings,
    check_scratch_space,
    check_target_path,
    read_pe_settings,
)
from pebuild.servicing.plan import plan_image_edits
from pebuild.servicing.recipe import (
    SECTIONS,
    RegistryDelete,
    RegistrySet,
    ServicingPlan,
    parse_recipe_sections,
)
from pebuild.servicing.regfile import RegFile, format_reg, parse_reg, read_reg, serialize_reg
from pebuild.servicing.registry import RegistryEditor, resolve_key
from pebuild.servicing.unattend import UnattendSpec, render_unattend

__all__ = [
    "SCRATCH_SPACE_SIZES",
    "SECTIONS",
    "DriverPackage",
    "InfError",
    "PeSettings",
    "RegFile",
    "RegistryDelete",
    "RegistryEditor",
    "RegistrySet",
    "ServicingPlan",
    "UnattendSpec",
    "apply_pe_settings",
    "check_scratch_space",
    "check_target_path",
    "find_infs",
    "format_reg",
    "parse_inf",
    "parse_recipe_sections",
    "parse_reg",
    "plan_image_edits",
    "read_pe_settings",
    "read_reg",
    "render_unattend",
    "resolve_key",
    "serialize_reg",
    "validate_driver",
]
