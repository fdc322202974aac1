"""GcWatch: the heap alive at start is out of the cyclic collector's reach, later garbage is not, and every
collection is counted."""

from __future__ import annotations

import gc
import weakref

from vaesynth.live.gcwatch import GcWatch


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _cycle() -> weakref.ref:
    return weakref.ref(Node())


def test_gcwatch_freezes_the_start_up_heap_and_collects_later_cycles():
    watch = GcWatch()
    gc.collect()
    before = _cycle()  # unreachable but alive until a collection walks it
    n_alive = len(gc.get_objects())
    watch.start()
    try:
        assert watch.frozen >= n_alive  # the whole heap, the cycle included, is frozen
        after = _cycle()
        gc.collect()
        assert before() is not None  # frozen: a full collection did not walk it
        assert after() is None  # created after start: collected as usual
        info = watch.info()
        assert info["collections"][2] == 1
        assert info["longest_ms"] > 0.0
    finally:
        watch.stop()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert before() is None  # handed back to the collector by stop


def test_gcwatch_stop_is_idempotent_and_stops_counting():
    watch = GcWatch()
    watch.start()
    watch.stop()
    watch.stop()
    gc.collect()
    assert watch.info()["collections"] == [0, 0, 0]
