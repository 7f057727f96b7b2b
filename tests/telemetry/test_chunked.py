"""EncodingQueue: records encoded in chunks by the thread that records them."""

from __future__ import annotations

import threading

from otel_genesys.telemetry.chunked import EncodingQueue


class _Log:
    """encode/count/ship that remember which thread encoded what."""

    def __init__(self) -> None:
        self.encoded_by: list[str] = []
        self.shipped: list[tuple[int, ...]] = []

    def encode(self, records: list[int]) -> tuple[int, ...]:
        self.encoded_by.append(threading.current_thread().name)
        return tuple(records)

    def ship(self, chunks: list[tuple[int, ...]]) -> None:
        self.shipped.extend(chunks)


def _queue(log: _Log, **kw: object) -> EncodingQueue[int, tuple[int, ...]]:
    return EncodingQueue(log.encode, len, log.ship, name="test-chunks", **kw)  # type: ignore[arg-type]


def test_full_chunks_are_encoded_by_the_caller_and_leftovers_by_the_worker_in_order() -> None:
    log = _Log()
    q = _queue(log, chunk=4, interval_s=60.0, wake_at=100)
    q.start()
    try:
        for i in range(10):
            q.put(i)
        me = threading.current_thread().name
        assert log.encoded_by == [me, me] and len(q) == 10 and log.shipped == []
        assert q.flush(5.0)
        assert log.shipped == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
        assert log.encoded_by[2] == "test-chunks" and len(q) == 0
    finally:
        assert q.stop(5.0)
    assert q.dropped == 0 and q.errors == 0


def test_put_never_waits_for_the_lock_and_a_later_put_encodes_what_waited() -> None:
    log = _Log()
    q = _queue(log, chunk=2, interval_s=60.0, wake_at=100)
    with q.lock:  # as if the worker were encoding leftovers
        putter = threading.Thread(target=lambda: [q.put(i) for i in range(5)], daemon=True)
        putter.start()
        putter.join(5.0)  # a put that waited for the lock would still be waiting
        assert not putter.is_alive()
        assert log.encoded_by == [] and len(q) == 5
    q.put(5)  # the lock is free: every full chunk waiting is encoded now
    assert len(log.encoded_by) == 3
    assert q.flush(5.0)  # no worker thread: drained here
    assert log.shipped == [(0, 1), (2, 3), (4, 5)]


def test_a_full_queue_drops_the_oldest_chunk_and_counts_each_record() -> None:
    log = _Log()
    q = _queue(log, chunk=2, maxlen=6, interval_s=60.0, wake_at=100)  # three chunks at most
    for i in range(10):
        q.put(i)
    assert q.dropped == 4 and len(q) == 6
    assert q.flush(5.0)
    assert log.shipped == [(4, 5), (6, 7), (8, 9)]


def test_records_after_stop_and_failed_encodes_are_counted() -> None:
    log = _Log()
    failing = {"on": True}

    def encode(records: list[int]) -> tuple[int, ...]:
        if failing["on"]:
            raise RuntimeError("boom")
        return tuple(records)

    q: EncodingQueue[int, tuple[int, ...]] = EncodingQueue(encode, len, log.ship, chunk=2)
    q.put(1)
    q.put(2)  # the encode raises: both records lost, counted, nothing raised here
    assert q.dropped == 2
    failing["on"] = False
    q.put(3)
    assert q.stop(5.0)
    q.put(4)
    assert log.shipped == [(3,)] and q.dropped == 3


def test_stop_ships_the_records_short_of_a_chunk() -> None:
    log = _Log()
    q = _queue(log, chunk=4, interval_s=60.0, wake_at=100)
    q.start()
    for i in range(3):
        q.put(i)
    assert q.stop(5.0)  # no flush before: the worker's last pass takes them
    assert log.shipped == [(0, 1, 2)] and q.dropped == 0
