"""The ownership rule: pebuild replaces only empty directories and its own untouched trees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pebuild.errors import OutputError
from pebuild.outputs import MARKER, TREE, Output
from pebuild.outputs.owner import check_replaceable, foreign_content, read_marker, write_marker


def pebuild_tree(root: Path, kind: str = "pxe") -> Path:
    (root / "Boot/x64").mkdir(parents=True)
    (root / "Boot/x64/pxeboot.n12").write_bytes(b"nbp")
    (root / "conf").mkdir()
    (root / "conf/dnsmasq.conf").write_text("port=0\n")
    os.utime(root, (1_700_000_000, 1_700_000_000))
    write_marker(root, kind)
    return root


def test_marker_lists_the_tree_and_keeps_the_root_time(tmp_path: Path) -> None:
    root = pebuild_tree(tmp_path / "pxe")
    marker = json.loads((root / MARKER).read_text())
    assert marker["tool"] == "pebuild" and marker["kind"] == "pxe" and marker["marker_version"] == 1
    assert marker["dirs"] == ["Boot", "Boot/x64", "conf"]
    assert [f["path"] for f in marker["files"]] == ["Boot/x64/pxeboot.n12", "conf/dnsmasq.conf"]
    import hashlib

    assert marker["files"][0]["sha256"] == hashlib.sha256(b"nbp").hexdigest()
    assert marker["files"][0]["size"] == 3
    assert root.stat().st_mtime == 1_700_000_000
    assert read_marker(root) == marker
    assert not foreign_content(root, marker).items


def test_known_hashes_are_used_when_sizes_match(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "a").write_bytes(b"12345")
    write_marker(root, "media", {"a": {"size": 5, "sha256": "f" * 64}})
    assert read_marker(root)["files"][0]["sha256"] == "f" * 64  # type: ignore[index]


def test_user_file_refused_force_allowed(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "thesis.txt").write_text("x")
    out = Output("pxe", d, TREE)
    with pytest.raises(OutputError) as info:
        check_replaceable(out, force=False)
    msg = str(info.value)
    assert msg.startswith(f"{d}: is not a tree pebuild wrote (no {MARKER}) and holds thesis.txt")
    assert "--force" in msg
    check_replaceable(out, force=True)


def test_empty_directory_and_missing_path_are_fine(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    check_replaceable(Output("pxe", tmp_path / "empty", TREE), force=False)
    check_replaceable(Output("pxe", tmp_path / "absent", TREE), force=False)


@pytest.mark.parametrize(
    ("change", "found"),
    [
        (lambda r: (r / "extra.txt").write_text("mine"), "extra.txt"),
        (lambda r: (r / "Boot/mine").mkdir(), "Boot/mine/"),
        (lambda r: (r / "conf/dnsmasq.conf").write_text("port=53\n"), "conf/dnsmasq.conf (changed)"),
        (lambda r: (r / "link").symlink_to("/etc/passwd"), "link (link)"),
    ],
    ids=["file", "dir", "edited", "symlink"],
)
def test_anything_pebuild_did_not_write_is_found(tmp_path: Path, change, found: str) -> None:  # type: ignore[no-untyped-def]
    root = pebuild_tree(tmp_path / "pxe")
    change(root)
    with pytest.raises(OutputError, match="holds what pebuild did not write") as info:
        check_replaceable(Output("pxe", root, TREE), force=False)
    assert found in str(info.value)


def test_same_content_new_mtime_is_still_ours_and_deleted_files_do_not_matter(tmp_path: Path) -> None:
    root = pebuild_tree(tmp_path / "pxe")
    os.utime(root / "conf/dnsmasq.conf", (1, 1))  # touched, same bytes: the hash decides
    (root / "Boot/x64/pxeboot.n12").unlink()
    check_replaceable(Output("pxe", root, TREE), force=False)


def test_other_kind_and_foreign_marker(tmp_path: Path) -> None:
    root = pebuild_tree(tmp_path / "t", kind="media")
    with pytest.raises(OutputError, match="is a pebuild media tree, not a pxe tree"):
        check_replaceable(Output("pxe", root, TREE), force=False)
    (root / MARKER).write_text(json.dumps({"tool": "other"}))
    with pytest.raises(OutputError, match="is not a tree pebuild wrote"):
        check_replaceable(Output("media", root, TREE), force=False)


def test_links_need_force(tmp_path: Path) -> None:
    (tmp_path / "real.iso").write_bytes(b"x")
    (tmp_path / "latest.iso").symlink_to("real.iso")
    with pytest.raises(OutputError, match="symbolic link"):
        check_replaceable(Output("iso", tmp_path / "latest.iso"), force=False)
    check_replaceable(Output("iso", tmp_path / "latest.iso"), force=True)
    (tmp_path / "plain.iso").write_bytes(b"old")  # a file is replaced by a file
    check_replaceable(Output("iso", tmp_path / "plain.iso"), force=False)


def test_a_huge_foreign_tree_is_not_walked_to_the_end(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    for i in range(50):
        (root / f"d{i:02d}").mkdir(parents=True)
        (root / f"d{i:02d}" / "f").write_text("x")
    found = foreign_content(root, None)
    assert len(found.items) == 4 and found.more
    assert str(found) == "d00/, d01/, d02/, d03/ and more"  # a foreign directory is named once


def test_big_files_without_a_known_hash_are_judged_by_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pebuild.outputs import owner

    monkeypatch.setattr(owner, "HASH_LIMIT", 4)
    root = tmp_path / "t"
    root.mkdir()
    (root / "boot.wim").write_bytes(b"0123456789")
    (root / "BCD").write_bytes(b"bcd")
    write_marker(root, "pxe")
    files = {f["path"]: f for f in read_marker(root)["files"]}  # type: ignore[index]
    assert files["boot.wim"]["sha256"] is None and files["BCD"]["sha256"] is not None
    check_replaceable(Output("pxe", root, TREE), force=False)
    os.utime(root / "boot.wim", (1, 1))  # same bytes, but nothing to prove it: treated as changed
    with pytest.raises(OutputError, match=r"boot\.wim \(changed\)"):
        check_replaceable(Output("pxe", root, TREE), force=False)
