"""Recipe tables -> ServicingPlan (file:line errors) -> ImageEdits applied to a real WIM and read back."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from _helpers import require_tool
from pebuild.errors import FormatError, RecipeError
from pebuild.servicing import SECTIONS, parse_recipe_sections, plan_image_edits

DATA = Path(__file__).parent / "data"


def lines_of(text: str):  # type: ignore[no-untyped-def]
    """A tiny stand-in for the builder's line index: the line where a key's last name first appears."""

    def line_of(key: tuple[Any, ...]) -> int | None:
        names = [k for k in key if isinstance(k, str)]
        for i, line in enumerate(text.splitlines(), start=1):
            if names and names[-1] in line:
                return i
        return None

    return line_of


def parse(text: str, recipe: Path) -> Any:
    tables = {k: v for k, v in tomllib.loads(text).items() if k in SECTIONS}
    return parse_recipe_sections(tables, recipe, lines_of(text))


RECIPE = """
[registry]
import = ["data/reg/valid/regedit4_ansi.reg"]

[[registry.set]]
key = "HKLM\\\\SOFTWARE\\\\Pebuild\\\\Recipe"
name = "Multi"
type = "multi_sz"
value = ["a", "b"]

[[registry.set]]
key = "HKCU\\\\Console"
type = "dword"
value = 7

[[registry.delete]]
key = "HKLM\\\\SOFTWARE\\\\Pebuild\\\\Doomed"

[drivers]
paths = ["data/inf/good_net_multiarch", "data/inf/good_storage_amd64/nvstor.inf"]

[pe_settings]
scratch_space = 256
target_path = "X:\\\\"

[unattend.wds_client]
image_name = "Windows 7 ENTERPRISE"
wipe_disk = true
partitions = [{ size = 100, active = true, label = "System" }, { letter = "C" }]
install_partition = 2
credentials = { domain = "CORP", username = "wds", password = "{{ pw }}" }

[unattend.image]
path = "Deploy/unattend.xml"

[unattend.sysprep]
"""


def test_plan_applied_to_a_wim_reads_back(tmp_path: Path, image_wim: Path, kit) -> None:
    wimlib = require_tool("wimlib-imagex")
    recipe = Path(__file__).parent / "recipe.toml"  # relative paths resolve against the recipe's folder
    plan = parse(RECIPE, recipe)
    from pebuild.wim import AddCommand, Wim

    with Wim.open(image_wim, write=True) as wim:
        edits = plan_image_edits(
            plan, wim=wim, index=1, arch="amd64", workdir=tmp_path / "w", variables={"pw": "s3"}
        )
        assert edits.startnet_lines == [
            "drvload X:\\Drivers\\rtnet\\rtnet.inf",
            "drvload X:\\Drivers\\nvstor\\nvstor.inf",
            "wpeutil InitializeNetwork",
        ]
        assert "Drivers/rtnet/amd64/RTNET.SYS" in edits.add and "Drivers/rtnet/x86/rtnet.sys" not in edits.add
        wim.update(
            1, [AddCommand(v if isinstance(v, bytes) else str(v), k) for k, v in sorted(edits.add.items())]
        )
        wim.overwrite()
    subprocess.run([wimlib, "verify", str(image_wim)], check=True, capture_output=True)
    out = tmp_path / "out"
    subprocess.run(
        [wimlib, "extract", str(image_wim), "1", f"--dest-dir={out}", "--no-acls"],
        check=True,
        capture_output=True,
    )
    config = out / "Windows/System32/config"
    system = kit.export_blocks(kit.hivex_export(config / "SYSTEM"))
    assert '"WinPECacheThreshold"=dword:00000100' in system["[\\ControlSet001\\Services\\FBWF]"]
    software = kit.hivex_export(config / "SOFTWARE", "\\", "HKEY_LOCAL_MACHINE\\SOFTWARE")
    assert "Doomed" not in software
    assert '"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00' in software
    assert '"InstRoot"=hex(1):58,00,3a,00,5c,00,00,00' in software
    console = kit.hivex_export(config / "DEFAULT", "\\Console")  # name omitted = the default value
    assert "@=dword:00000007" in console and '"QuickEdit"=dword:00000000' in console
    assert (out / "Drivers/nvstor/files/nvstor.sys").read_bytes() == (
        DATA / "inf/good_storage_amd64/files/nvstor.sys"
    ).read_bytes()
    assert b"<ImageName>Windows 7 ENTERPRISE</ImageName>" in (out / "WDSClientUnattend.xml").read_bytes()
    assert b"<Password>s3</Password>" in (out / "WDSClientUnattend.xml").read_bytes()
    assert b"%MACHINENAME%" in (out / "Deploy/unattend.xml").read_bytes()
    assert b"ComputerName=%MACHINENAME%" in (out / "Deploy/sysprep.inf").read_bytes()


def test_wrong_arch_driver_names_it(tmp_path: Path, image_wim: Path) -> None:
    plan = parse('[drivers]\npaths = ["data/inf/good_storage_amd64"]\n', Path(__file__).parent / "r.toml")
    from pebuild.wim import Wim

    with (
        Wim.open(image_wim) as wim,
        pytest.raises(RecipeError, match=r"nvstor.inf: driver is for amd64, not x86"),
    ):
        plan_image_edits(plan, wim=wim, index=1, arch="x86", workdir=tmp_path, variables={})


def test_empty_plan_reads_nothing(tmp_path: Path) -> None:
    plan = parse("[registry]\n", tmp_path / "r.toml")
    assert plan.is_empty()
    edits = plan_image_edits(plan, wim=None, index=1, arch="amd64", workdir=tmp_path, variables={})
    assert edits.is_empty()


BAD = [
    ('[registry]\nimports = ["a.reg"]\n', 2, "registry.imports: unknown key"),
    ('[registry]\nimport = ["missing.reg"]\n', 2, ".reg file not found"),
    (
        '[registry]\nimport = ["data/reg/malformed/bad_escape.reg"]\n',
        None,
        "bad_escape.reg:4: unknown escape",
    ),
    (
        '[[registry.set]]\nkey = "HKLM\\\\SOFTWARE\\\\X"\ntype = "dword"\nvalue = -1\n',
        4,
        "dword value must be",
    ),
    ('[[registry.set]]\nkey = "HKLM\\\\SOFTWARE\\\\X"\ntype = "word"\nvalue = 1\n', 3, "unknown type 'word'"),
    ('[[registry.set]]\nkey = "HKLM\\\\SOFTWARE\\\\X"\ntype = "sz"\n', 1, "missing 'value'"),
    ('[[registry.set]]\nkey = "HKLM\\\\HARDWARE\\\\X"\ntype = "sz"\nvalue = "a"\n', 2, "HKLM\\{SYSTEM"),
    ('[[registry.set]]\nkey = "HKLM\\\\SOFTWARE\\\\X"\ntype = "binary"\nvalue = "xyz"\n', 4, "hex bytes"),
    ('[[registry.delete]]\nname = "a"\n', 1, "missing 'key'"),
    ("[pe_settings]\nscratch_space = 100\n", 2, "scratch space must be one of"),
    ('[pe_settings]\ntarget_path = "A:\\\\"\n', 2, "C to Z"),
    ("[pe_settings]\nscratch = 32\n", 2, "unknown key"),
    ('[drivers]\npaths = ["nope"]\n', 2, "driver package not found"),
    ('[drivers]\npaths = "data/inf"\n', 2, "array of non-empty strings"),
    ('[drivers]\ndestination = "../x"\n', 2, "escapes its root"),
    ("[unattend.wds_client]\nwipe_disk = true\n", 1, "missing 'image_name'"),
    ('[unattend.wds_client]\nimage_name = "x"\nlanguage = "english"\n', 3, "language tag"),
    (
        '[unattend.wds_client]\nimage_name = "x"\npartitions = [{}, {size = 5}]\n',
        3,
        "only the last partition",
    ),
    (
        '[unattend.wds_client]\nimage_name = "x"\ninstall_partition = 3\npartitions = [{}]\n',
        3,
        "one of the 1",
    ),
    ('[unattend.image]\npath = "/../../etc/passwd"\n', 2, "escapes its root"),
    ("[unattend.image]\ncomputer_name = 5\n", 2, "must be a string"),
    ("[unattend.kickstart]\n", 1, "unknown key"),
    ('[unattend.image]\ntemplate = "nope.j2"\n', 2, "template not found"),
    ('[unattend.image]\npath = "a.xml"\n[unattend.sysprep]\npath = "A.XML"\n', 2, "two answer files"),
    ('optional_components = ["WinPE-WMI"]\n', 1, "WinPE-WMI"),
    ('[optional_components]\npackages = ["WinPE-Scripting"]\n', 1, "/Add-Package"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD)
def test_bad_recipe_sections(text: str, line: int | None, fragment: str) -> None:
    """A recipe mistake is a RecipeError at its TOML line; line None: the .reg file's own FormatError."""
    recipe = Path(__file__).parent / "bad.toml"
    expected = RecipeError if line is not None else FormatError
    with pytest.raises(expected, match=re.escape(fragment)) as info:
        parse(text, recipe)
    message = str(info.value)
    assert type(info.value) is expected, repr(info.value)
    assert "\n" not in message
    where = f"{recipe}:{line}: " if line is not None else f"{recipe.parent / 'data/reg/malformed'}/"
    assert message.startswith(where), message


def test_optional_components_error_explains_dism() -> None:
    with pytest.raises(RecipeError) as info:
        parse('optional_components = ["WinPE-WMI"]\n', Path("r.toml"))
    text = str(info.value)
    assert "CBS" in text and "Dism /Add-Package" in text and "WinPE-WMI_<lang>.cab" in text


@pytest.mark.parametrize("arch", ["x86", "amd64"])
def test_shipped_deploy_recipe_plans(tmp_path: Path, image_wim: Path, arch: str) -> None:
    """recipes/deploy.toml loads through the builder's loader and renders valid answer files."""
    import xml.etree.ElementTree as ET

    from _helpers import REPO_ROOT
    from pebuild.recipe import load_recipe
    from pebuild.wim import Wim

    recipe = load_recipe(REPO_ROOT / "recipes" / "deploy.toml")
    plan = recipe.servicing_plan
    assert plan.scratch_space == 128 and plan.target_path == "X:\\"
    with Wim.open(image_wim) as wim:
        edits = plan_image_edits(
            plan, wim=wim, index=1, arch=arch, workdir=tmp_path, variables=dict(recipe.settings.variables)
        )
    client = ET.fromstring(edits.add["WDSClientUnattend.xml"])
    ns = {"u": "urn:schemas-microsoft-com:unattend"}
    assert client.findtext(".//u:InstallImage/u:ImageName", namespaces=ns) == "Windows 7 ENTERPRISE"
    assert client.findtext(".//u:Login/u:Credentials/u:Domain", namespaces=ns) == "CORP"
    assert {
        c.get("processorArchitecture") for c in client.iter("{urn:schemas-microsoft-com:unattend}component")
    } == {arch}
    assert b"JoinDomain=%MACHINEDOMAIN%" in edits.add["Deploy/sysprep.inf"]
    assert set(edits.add) >= {
        "Windows/System32/config/SYSTEM",
        "Windows/System32/config/SOFTWARE",
        "Windows/System32/config/DEFAULT",
    }


def _mixed_vendor_tree(root: Path) -> Path:
    """x86/ and x64/ packages side by side, as vendors ship them."""
    import shutil

    tree = root / "vendor"
    shutil.copytree(DATA / "inf" / "bad_wrong_arch", tree / "x64")
    shutil.copytree(DATA / "inf" / "bad_wrong_arch", tree / "x86")
    inf = tree / "x86" / "amd64only.inf"
    inf.write_text(inf.read_text().replace("NTamd64", "NTx86"))
    inf.rename(tree / "x86" / "x86only.inf")
    from pebuild.sample.stubs import pe_standin

    (tree / "x86" / "drv.sys").write_bytes(pe_standin("drv.sys", "x86", "native"))
    return tree


@pytest.mark.parametrize(("arch", "staged"), [("amd64", "amd64only"), ("x86", "x86only")])
def test_vendor_folder_with_both_arches(tmp_path: Path, arch: str, staged: str) -> None:
    tree = _mixed_vendor_tree(tmp_path)
    plan = parse(f'[drivers]\npaths = ["{tree}"]\n', tmp_path / "r.toml")
    edits = plan_image_edits(plan, wim=None, index=1, arch=arch, workdir=tmp_path, variables={})
    assert edits.startnet_lines == [
        f"drvload X:\\Drivers\\{staged}\\{staged}.inf",
        "wpeutil InitializeNetwork",
    ]
    assert {p.split("/")[1] for p in edits.add} == {staged}


def test_named_inf_for_other_arch_is_an_error(tmp_path: Path) -> None:
    tree = _mixed_vendor_tree(tmp_path)
    plan = parse(f'[drivers]\npaths = ["{tree / "x86" / "x86only.inf"}"]\n', tmp_path / "r.toml")
    with pytest.raises(RecipeError, match=r"x86only.inf: driver is for x86, not amd64"):
        plan_image_edits(plan, wim=None, index=1, arch="amd64", workdir=tmp_path, variables={})
    plan = parse(f'[drivers]\npaths = ["{tree}"]\n', tmp_path / "r.toml")
    with pytest.raises(RecipeError, match=r"not arm64 .* \(and 1 more INF files, none for arm64\)"):
        plan_image_edits(plan, wim=None, index=1, arch="arm64", workdir=tmp_path, variables={})


def test_same_epoch_same_bytes(tmp_path: Path, image_wim: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reproducible: with SOURCE_DATE_EPOCH fixed, the edited hives and answer files are byte-identical."""
    from pebuild.wim import Wim

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    plan = parse(RECIPE, Path(__file__).parent / "recipe.toml")
    results = []
    for n in range(2):
        with Wim.open(image_wim) as wim:
            edits = plan_image_edits(
                plan, wim=wim, index=1, arch="amd64", workdir=tmp_path / str(n), variables={"pw": "x"}
            )
        results.append({k: v for k, v in edits.add.items() if isinstance(v, bytes)})
    assert results[0] == results[1]
    assert "Windows/System32/config/SYSTEM" in results[0]
