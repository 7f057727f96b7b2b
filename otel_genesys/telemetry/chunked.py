"""Records encoded in chunks by the thread that records them; a worker only ships.

Why: the export process's pipe carries pickled records. When a worker thread
pickled each batch, it held the GIL for about a millisecond per thousand
records, and the event loop, which needs the GIL back every time it returns
from a socket call, waited behind it inside its ping→pong windows. The bench
measured it at 10,000 connections (docs/performance.md, *Where the pickling
runs*): pickling batches on a thread tripled the lateness p99 of the same
agent with nothing pickled, while the same pickling done by the recording
thread itself, a chunk of :data:`CHUNK_RECORDS` at a time, cost no lateness.

So :meth:`EncodingQueue.put` appends the record, and when a full chunk is
waiting, encodes it right there (about 0.3 ms for 256 outcomes: 1.19 µs an
outcome in ``python -m bench.telemetry_cost``) and queues the result for the worker. The
worker wakes every interval, or once ``wake_at`` chunks wait, encodes what is
left over (a quiet agent never fills a chunk), and hands the chunks on in
order; writing bytes to a pipe releases the GIL.

Guarantees, as :class:`~otel_genesys.telemetry.offload.OffloadWorker`'s:
``put`` never blocks (the chunk lock is only ever *tried* by it: a record
that finds it busy waits for the next put or the worker) and never raises;
memory is bounded (records waiting in chunks are capped, the oldest chunk is
dropped first, every record in it counted); records keep their order.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from otel_genesys.telemetry.offload import OffloadWorker

_log = logging.getLogger(__name__)

R = TypeVar("R")
C = TypeVar("C")

CHUNK_RECORDS = 256
"""Records encoded at once by a recording thread: about 0.3 ms of outcomes."""


class EncodingQueue(Generic[R, C]):
    """A bounded record queue whose records are encoded ``chunk`` at a time.

    ``encode(records)`` turns a list of records into one chunk (or ``None`` to
    skip it, having counted the loss itself); ``count(chunk)`` says how many
    records a chunk stands for; ``ship(chunks)`` gets the chunks, in order, on
    the worker thread. ``encode`` always runs under :attr:`lock`, so it may keep
    state that ``ship`` then reads under the same lock.

    >>> shipped = []
    >>> q = EncodingQueue(tuple, len, shipped.extend, chunk=2, interval_s=0.01)
    >>> q.start(); [q.put(i) for i in range(5)] and None; q.flush(1.0)
    True
    >>> shipped, q.stop(1.0)
    ([(0, 1), (2, 3), (4,)], True)
    """

    def __init__(
        self,
        encode: Callable[[list[R]], C | None],
        count: Callable[[C], int],
        ship: Callable[[list[C]], None],
        *,
        maxlen: int = 65_536,
        chunk: int = CHUNK_RECORDS,
        interval_s: float = 1.0,
        wake_at: int = 4,
        name: str = "otel-genesys-telemetry-chunks",
    ) -> None:
        self._encode = encode
        self._count = count
        self._ship = ship
        self._chunk = max(1, chunk)
        self._maxlen = max(1, maxlen)
        self._records: collections.deque[R] = collections.deque()
        self.lock = threading.Lock()
        """Held while a chunk is encoded and queued (and by ``ship`` for state it shares)."""
        self._dropped = 0
        """Shed by ``put`` (the recording thread)."""
        self._lost = 0
        """Reported by ``encode`` and ``ship``."""
        self._closed = False
        self._worker: OffloadWorker[C] = OffloadWorker(
            self._hand_over,
            maxlen=max(1, self._maxlen // self._chunk),
            interval_s=interval_s,
            idle_interval_s=interval_s,
            wake_at=max(1, wake_at),
            prepare=self._encode_leftovers,
            weight=count,
            name=name,
        )

    # ------------------------------------------------------------------ producer side

    def put(self, record: R) -> None:
        """Queue ``record``; encode a chunk here when one is full. Never blocks or raises."""
        if self._closed:
            self._dropped += 1
            return
        records = self._records
        if len(records) >= self._maxlen:
            self._dropped += 1  # nothing could encode for a whole queue's worth: shed
            return
        records.append(record)
        if len(records) >= self._chunk and self.lock.acquire(blocking=False):
            try:
                self._encode_full()
            finally:
                self.lock.release()

    def put_many(self, records: list[R]) -> None:
        """Queue ``records`` in order, as ``put`` would one by one."""
        for record in records:
            self.put(record)

    def wake(self) -> None:
        """Have the worker encode and ship what waits now (never blocks)."""
        self._worker.wake()

    def __len__(self) -> int:
        return len(self._records) + sum(map(self._count, self._worker.snapshot()))

    @property
    def dropped(self) -> int:
        """Records lost here: a full queue, evicted chunks, after close, and those
        ``encode`` or ``ship`` reported with :meth:`count_lost`."""
        return self._dropped + self._lost + self._worker.dropped

    def count_lost(self, records: int) -> None:
        """Count records that ``encode`` or ``ship`` could not pass on."""
        self._lost += records

    @property
    def errors(self) -> int:
        """Worker passes whose encoding or shipping raised."""
        return self._worker.errors

    # ------------------------------------------------------------------ encoding

    def _encode_full(self) -> None:
        """Encode every full chunk waiting (lock held)."""
        records, chunk = self._records, self._chunk
        while len(records) >= chunk:
            self._encode_one([records.popleft() for _ in range(chunk)])

    def _encode_leftovers(self) -> None:
        """The worker's turn: every record waiting, full chunk or not."""
        with self.lock:
            self._encode_full()
            records = self._records
            if records:
                self._encode_one([records.popleft() for _ in range(len(records))])

    def _encode_one(self, records: list[R]) -> None:
        try:
            encoded = self._encode(records)
        except Exception:
            self._lost += len(records)
            _log.debug("telemetry chunk not encoded", exc_info=True)
            return
        if encoded is not None:
            self._worker.put(encoded)

    # ------------------------------------------------------------------ worker side

    def _hand_over(self, chunks: list[C]) -> None:
        if chunks:
            self._ship(chunks)

    @property
    def alive(self) -> bool:
        return self._worker.alive

    def start(self) -> None:
        self._worker.start()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything put before this call has been shipped."""
        return self._worker.flush(timeout_s)

    def stop(self, timeout_s: float) -> bool:
        """Refuse new records, ship what waits, stop the worker. True if it finished."""
        self._closed = True
        self._encode_leftovers()  # queued before the worker refuses new chunks
        return self._worker.stop(timeout_s)
