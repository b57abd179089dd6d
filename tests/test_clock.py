from __future__ import annotations

import pytest

from pebuild.clock import build_time, from_filetime, parse_date, stable_guid, to_filetime
from pebuild.errors import UsageError


def test_source_date_epoch_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build_time() == 1700000000
    assert build_time(5) == 5
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(UsageError):
        build_time()


def test_filetime_round_trip() -> None:
    assert to_filetime(0) == 116444736000000000
    assert from_filetime(to_filetime(1700000000)) == 1700000000


def test_parse_date() -> None:
    assert parse_date("1970-01-01T00:00:10Z") == 10
    assert parse_date("1970-01-01T00:00:10") == 10
    assert parse_date("42") == 42
    with pytest.raises(UsageError):
        parse_date("yesterday")


def test_stable_guid_is_stable() -> None:
    assert stable_guid("a", 1) == stable_guid("a", 1)
    assert stable_guid("a", 1) != stable_guid("a", 2)
