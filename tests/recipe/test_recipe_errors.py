"""Malformed recipes: each gives one RecipeError line naming file:line (issue 6 item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pebuild.errors import RecipeError
from pebuild.recipe import load_recipe

LONG = "x" * 251

# (id, recipe text, line the error must point at, words the message must contain)
CASES = [
    ("toml-syntax", 'arch = "amd64"\nbcd.timeout = \n', 2, "TOML syntax error"),
    ("duplicate-key", "[bcd]\ntimeout = 1\ntimeout = 2\n", 3, "TOML syntax error"),
    ("unknown-top", 'arch = "amd64"\narchs = "x86"\n', 2, "unknown key 'archs'"),
    ("unknown-in-section", "[bcd]\ntimout = 3\n", 2, "did you mean 'timeout'"),
    ("unknown-dotted", 'media.lable = "X"\n', 1, "unknown key 'lable'"),
    ("wrong-type-int", '[bcd]\ntimeout = "30"\n', 2, "expected an integer"),
    ("below-minimum", "[bcd]\n\ntimeout = -1\n", 3, "below the minimum"),
    ("above-maximum", "[bcd]\ntimeout = 1000\n", 2, "above the maximum"),
    ("bad-choice", '[bcd]\nbootmenupolicy = "fancy"\n', 2, "not one of legacy, standard"),
    ("wrong-type-bool", '[bcd]\nems = "yes"\n', 2, "expected true or false"),
    ("bad-baud", "[bcd]\nems = true\nems_baud = 1234\n", 3, "not one of"),
    ("bad-locale", '[bcd]\nlocale = "english!"\n', 2, "language tag"),
    ("bad-arch", 'arch = "sparc"\n', 1, "not one of x86, amd64, arm64, ia64"),
    ("arch-list-type", 'arch = [\n  "amd64",\n  3,\n]\n', 3, "expected a string"),
    ("image-index-zero", "[image]\nindex = 0\n", 2, "below the minimum 1"),
    ("image-index-bool", "[image]\nindex = true\n", 2, "expected an index or an image name"),
    ("image-name-empty", '[image]\nindex = " "\n', 2, "must not be empty"),
    ("label-too-long", f'[media]\nlabel = "{"A" * 33}"\n', 2, "longer than 32"),
    ("label-chars", '[media]\nlabel = "bad/label"\n', 2, "may hold only"),
    ("add-missing-dest", '[[files.add]]\nsource = "r.toml"\n', 1, "missing required key 'dest'"),
    ("add-source-missing", '[[files.add]]\nsource = "nope.txt"\ndest = "a.txt"\n', 2, "source not found"),
    ("add-dest-escapes", '[[files.add]]\nsource = "r.toml"\ndest = "../x"\n', 3, "escapes its root"),
    (
        "add-second-item",
        '[[files.add]]\nsource = "r.toml"\ndest = "a"\n\n[[files.add]]\nsource = "r.toml"\ndest = 5\n',
        7,
        "expected a string",
    ),
    ("remove-drive", '[files]\nremove = [\n  "Windows/a",\n  "C:/Windows",\n]\n', 4, "drive path"),
    ("rename-unknown-key", '[[files.rename]]\nfrom = "a"\ninto = "b"\n', 3, "unknown key 'into'"),
    ("add-not-array", '[files.add]\nsource = "r.toml"\n', 1, "expected an array of tables"),
    ("launch-app-too-long", f'[startup]\nlaunch_app = "{LONG}"\n', 2, "longer than 250"),
    ("launch-apps-key", '[startup]\nlaunch_apps = [{app = "a.exe", argz = "-b"}]\n', 2, "unknown key 'argz'"),
    ("startnet-template", '[startup]\nstartnet = ["echo {{ oops"]\n', 2, "bad template"),
    ("overlay-unknown", 'overlays = ["nosuchoverlay"]\n', 1, "no overlay named 'nosuchoverlay'"),
    ("overlay-path-missing", 'overlays = ["./nowhere"]\n', 1, "has no overlay.toml"),
    ("include-missing", 'include = ["missing.toml"]\n', 1, "no such recipe"),
    ("include-type", "include = [1]\n", 1, "expected an array of recipe paths"),
    ("variable-name", '[variables]\n"bad-name" = "x"\n', 2, "letters, digits and _"),
    ("section-not-table", "bcd = 3\n", 1, "expected a table"),
    ("profile-bad-value", '[profiles.fast]\nbcd.timeout = "x"\n', 2, "expected an integer"),
    ("profile-unknown-key", "[profiles.fast.bcd]\nspeed = 1\n", 2, "unknown key 'speed'"),
    ("pxe-block-size", "[pxe]\nblock_size = 100\n", 2, "below the minimum 512"),
    ("image-not-table", 'image = "x"\n', 1, "expected a table"),
]


@pytest.mark.parametrize(("text", "line", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_recipe_one_line_error(tmp_path: Path, text: str, line: int, words: str) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(text)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{recipe}:{line}: "), message
    assert words in message


def test_include_cycle_names_the_including_line(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('# a\ninclude = ["b.toml"]\n')
    (tmp_path / "b.toml").write_text('\n\ninclude = ["a.toml"]\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(tmp_path / "a.toml")
    assert str(info.value).startswith(f"{tmp_path / 'b.toml'}:3: include: ")
    assert "cycle" in str(info.value)


def test_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text("[bcd]\n\n\ntimeout = true\n")
    (tmp_path / "top.toml").write_text('include = ["base.toml"]\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(tmp_path / "top.toml")
    assert str(info.value).startswith(f"{tmp_path / 'base.toml'}:4: ")


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "none.toml")


def test_servicing_tables_are_passed_through_with_their_lines(tmp_path: Path) -> None:
    from pebuild.recipe import servicing_sections

    assert "pe_settings" in servicing_sections()
    (tmp_path / "base.toml").write_text("# base\n[pe_settings]\n\nscratch_space = 100\n")
    top = tmp_path / "top.toml"
    top.write_text('include = ["base.toml"]\n[bcd]\ntimeout = 1\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(top)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'base.toml'}:4: ") and "scratch_space" in message
    (tmp_path / "base.toml").write_text("[pe_settings]\nscratch_space = 128\n")
    recipe = load_recipe(top)
    assert recipe.servicing_plan is not None and recipe.servicing_plan.scratch_space == 128


def test_unknown_table_without_servicing_is_an_unknown_key(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text("[bcd]\ntimeout = 1\n[registy]\nx = 1\n")
    with pytest.raises(RecipeError, match=r"r\.toml:3: unknown key 'registy'"):
        load_recipe(recipe)
