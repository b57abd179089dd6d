"""One arch vocabulary (pebuild.arches): every verb takes the ADK names and the common aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _helpers import assert_one_line_error
from pebuild.arches import ALIASES, ARCHES, normalize_arch
from pebuild.errors import UsageError

SPELLINGS = {
    "amd64": ["amd64", "x64", "x86_64", "AMD64", "X64"],
    "x86": ["x86", "i386", "ia32", "I386"],
    "arm64": ["arm64", "aarch64", "ARM64"],
    "ia64": ["ia64", "IA64"],
}


@pytest.mark.parametrize(("adk", "spellings"), sorted(SPELLINGS.items()))
def test_every_spelling_becomes_the_adk_name(adk: str, spellings: list[str]) -> None:
    assert {normalize_arch(s) for s in spellings} == {adk}


def test_the_table_maps_onto_the_four_adk_names_only() -> None:
    assert set(ALIASES.values()) == set(ARCHES)
    assert all(ALIASES[a] == a for a in ARCHES)


@pytest.mark.parametrize("bad", ["sparc", "", "arm", "x86-32"])
def test_unknown_names_are_usage_errors_listing_the_choices(bad: str) -> None:
    with pytest.raises(UsageError, match="expected x86, amd64, arm64 or ia64"):
        normalize_arch(bad)


@pytest.mark.parametrize(
    ("verb", "alias", "adk"),
    [("make", "x64", "amd64"), ("make", "i386", "x86"), ("copype", "aarch64", "arm64")],
)
def test_build_verbs_accept_aliases_and_print_the_adk_name(
    run_pebuild, tmp_path: Path, verb: str, alias: str, adk: str
) -> None:
    from _helpers import REPO_ROOT

    if verb == "make":
        args = ["make", alias, "--recipe", str(REPO_ROOT / "recipes" / "rescue.toml"), "--source", "sample"]
        args += ["--media-dir", str(tmp_path / "media"), "--json"]
    else:
        args = ["copype", alias, str(tmp_path / "pe"), "--json"]
    proc = run_pebuild(*args, check=True)
    data = json.loads(proc.stdout)
    if verb == "make":
        assert data["arch"] == adk
        suffix = {"amd64": "x64", "x86": "ia32", "arm64": "aa64"}[adk]
        assert (tmp_path / "media" / "efi" / "boot" / f"boot{suffix}.efi").is_file()
    else:
        assert (tmp_path / "pe" / "media" / "efi" / "boot" / "bootaa64.efi").is_file()


def test_pxe_usb_and_sample_source_accept_aliases(run_pebuild, tmp_path: Path) -> None:
    proc = run_pebuild("pxe", "sample", str(tmp_path / "pxe"), "--arch", "i386", "--arch", "x86_64", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [a["arch"] for a in json.loads(proc.stdout)["arches"]] == ["x86", "amd64"]
    proc = run_pebuild("sample-source", str(tmp_path / "kit"), "--arch", "aarch64", "--json", check=True)
    assert json.loads(proc.stdout)["arch"] == "arm64"
    run_pebuild("copype", "x64", str(tmp_path / "pe"), check=True)
    proc = run_pebuild(
        "usb", str(tmp_path / "pe" / "media"), str(tmp_path / "u.img"), "--arch", "x64", "--json"
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("verb", ["make", "pxe", "usb", "smoke", "sample-source"])
def test_a_bad_arch_is_one_line_with_the_choices(run_pebuild, tmp_path: Path, verb: str) -> None:
    args = {
        "make": ["make", "sparc", "--recipe", "r.toml", "-o", str(tmp_path / "o.iso")],
        "pxe": ["pxe", "sample", str(tmp_path / "pxe"), "--arch", "sparc"],
        "usb": ["usb", str(tmp_path), str(tmp_path / "u.img"), "--arch", "sparc"],
        "smoke": ["smoke", str(tmp_path / "x.iso"), "--arch", "sparc"],
        "sample-source": ["sample-source", str(tmp_path / "k"), "--arch", "sparc"],
    }[verb]
    proc = run_pebuild(*args)
    assert_one_line_error(proc, UsageError.exit_code)
    assert "unknown architecture 'sparc'" in proc.stderr
