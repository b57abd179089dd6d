"""pebuild.interrupts: SIGINT/SIGTERM held back inside deferred(), delivered at its end unless consumed."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from pebuild import interrupts


@pytest.fixture(autouse=True)
def term_is_an_interrupt() -> Iterator[None]:
    old = signal.signal(signal.SIGTERM, interrupts.raise_interrupt)  # as the CLI sets it
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
        interrupts.consume()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_waits_for_the_end_of_the_block(sig: int) -> None:
    reached = []
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), sig)
        assert interrupts.pending()
        reached.append("after the signal")
    assert reached and not interrupts.pending()


def test_consumed_when_the_work_landed() -> None:
    with interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupts.consume()
    assert not interrupts.pending()


def test_check_stops_at_a_safe_point() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        interrupts.check()
        pytest.fail("went past the safe point")


def test_nested_blocks_deliver_once_at_the_outermost_end() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
        steps.append("inner ended without raising")
    assert steps == ["inner ended without raising"]


def test_an_error_in_the_block_wins_over_the_pending_signal() -> None:
    with pytest.raises(ValueError), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        raise ValueError("the real failure")
    assert not interrupts.pending()


def test_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts.deferred():
        assert signal.getsignal(signal.SIGINT) not in before
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_outside_the_main_thread_nothing_changes() -> None:
    seen = []

    def worker() -> None:
        with interrupts.deferred():
            seen.append(signal.getsignal(signal.SIGINT))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [signal.default_int_handler]
