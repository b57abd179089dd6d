from __future__ import annotations

from pathlib import Path

import pytest

from pebuild.errors import OutputError, UsageError
from pebuild.fsutil import atomic_directory, atomic_output, normalize_image_path, safe_join


def test_atomic_output_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as fh:
        fh.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_output(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"


def test_atomic_output_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError), atomic_output(tmp_path / "nope" / "x"):
        pass


def test_atomic_directory(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"
    with pytest.raises(ValueError), atomic_directory(target) as tmp:
        (tmp / "b").write_text("2")
        raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("\\Windows\\System32\\x.exe", "Windows/System32/x.exe"), ("/a/./b/", "a/b"), ("a", "a"), ("/", "")],
)
def test_normalize_image_path(raw: str, clean: str) -> None:
    assert normalize_image_path(raw) == clean


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "C:\\Windows", "a\x00b", "..\\..\\etc"])
def test_paths_never_escape(bad: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        safe_join(tmp_path, bad)


def test_safe_join_refuses_symlink_escape(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    with pytest.raises(UsageError):
        safe_join(tmp_path / "root", "link/secret")


def test_find_case_insensitive(tmp_path: Path) -> None:
    from pebuild.fsutil import find_case_insensitive

    (tmp_path / "Windows/Boot").mkdir(parents=True)
    (tmp_path / "windows/boot/PXE").mkdir(parents=True)  # a second spelling holding the wanted file
    (tmp_path / "windows/boot/PXE/pxeboot.n12").write_bytes(b"x")
    assert find_case_insensitive(tmp_path, "WINDOWS\\Boot\\pxe\\PXEBOOT.N12") == (
        tmp_path / "windows/boot/PXE/pxeboot.n12"
    )
    assert find_case_insensitive(tmp_path, "Windows/Boot") == tmp_path / "Windows/Boot"  # exact wins
    assert find_case_insensitive(tmp_path, "Windows/missing") is None
    inner = tmp_path / "Windows"
    assert find_case_insensitive(inner, "../windows/boot") is None  # names from images never climb out
    assert find_case_insensitive(inner, "../windows/boot", allow_parent=True) == inner / "../windows/boot"
