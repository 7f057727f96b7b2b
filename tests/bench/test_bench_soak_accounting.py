"""The soak's heap-block verdict: net of the metric series it adds, and no more."""

from __future__ import annotations

import math

import pytest

from bench import soak


def test_one_new_series_costs_a_measured_handful_of_blocks() -> None:
    per_series = soak.blocks_per_series(targets=100)
    assert math.isfinite(per_series)
    # An entry in the reader state and the series' attribute set (an AttrSet and its
    # values tuple; the names are shared): a few blocks, never zero, never hundreds.
    assert 1.0 <= per_series <= 60.0, per_series


def _memory(blocks: list[int], series: list[int], large: list[int] | None = None) -> soak.Memory:
    memory = soak.Memory(cycles=len(blocks), warmup=0.0)
    memory.samples = [(i, 100.0, b) for i, b in enumerate(blocks)]
    memory.series_samples = series
    memory.large_samples = large if large is not None else [0] * len(blocks)
    return memory


def test_growth_explained_by_new_series_passes_and_the_raw_growth_is_still_shown() -> None:
    # +2,000 blocks (2 %) while 200 series at 10 blocks each were added.
    memory = _memory([100_000] * 3 + [101_000] * 3 + [102_000] * 3, [0] * 3 + [100] * 3 + [200] * 3)
    result = memory.result("socket", 9, 1.0, limit_pct=1.0, per_series=10.0)
    assert result.blocks_growth_pct == pytest.approx(2.0)
    assert result.series_early == 0 and result.series_late == 200
    assert result.blocks_net_growth_pct == pytest.approx(0.0)
    assert result.ok


def test_growth_beyond_the_series_fails() -> None:
    memory = _memory([100_000] * 3 + [102_000] * 3, [0] * 3 + [50] * 3)
    result = memory.result("socket", 6, 1.0, limit_pct=1.0, per_series=10.0)
    assert result.blocks_net_growth_pct == pytest.approx(1.5)
    assert not result.ok


def test_without_series_the_net_growth_is_the_raw_growth() -> None:
    memory = _memory([100_000] * 3 + [100_500] * 3, [0] * 6)
    result = memory.result("core", 6, 1.0, limit_pct=1.0)
    assert result.blocks_net_growth_pct == result.blocks_growth_pct == pytest.approx(0.5)
    assert result.ok


def test_counts_passing_256_are_subtracted_one_block_each() -> None:
    memory = _memory([100_000] * 3 + [101_500] * 3, [10] * 6, [0] * 3 + [1_200] * 3)
    result = memory.result("socket", 6, 1.0, limit_pct=1.0, per_series=10.0)
    assert result.large_counts_early == 0 and result.large_counts_late == 1_200
    assert result.blocks_net_growth_pct == pytest.approx(0.3)
    assert result.ok


def test_the_export_process_rss_is_judged_late_against_early_too() -> None:
    flat = _memory([100_000] * 6, [0] * 6)
    flat.export_samples = [80.0, 80.4, 79.8, 80.2, 80.1, 80.3]
    result = flat.result("socket", 6, 1.0, limit_pct=1.0)
    assert result.export_rss_early_mib == pytest.approx(80.2)
    assert result.export_growth_pct == pytest.approx(0.0, abs=0.5)
    assert result.ok

    growing = _memory([100_000] * 6, [0] * 6)
    growing.export_samples = [80.0, 80.0, 81.0, 81.0, 82.0, 82.0]
    result = growing.result("socket", 6, 1.0, limit_pct=1.0)
    assert result.export_growth_pct == pytest.approx(2.5)
    assert not result.ok  # the agent's own memory is flat; the export process's is not

    without = _memory([100_000] * 6, [0] * 6)
    assert without.result("socket", 6, 1.0, limit_pct=1.0).export_growth_pct == 0.0


def test_the_collector_down_endpoint_refuses_connections() -> None:
    import socket
    from urllib.parse import urlsplit

    from bench.soak import _refused_endpoint

    with _refused_endpoint() as endpoint:
        url = urlsplit(endpoint)
        assert url.hostname == "127.0.0.1" and url.port
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.settimeout(5)
            client.connect(("127.0.0.1", url.port))


def test_the_export_process_anonymous_memory_and_threads_are_reported_not_judged() -> None:
    memory = _memory([100_000] * 6, [0] * 6)
    memory.export_samples = [80.0] * 6
    memory.export_anon = [40.0, 40.2, 41.0, 41.0, 42.0, 42.2]
    memory.export_threads = [11, 11, 12, 11, 13, 11]
    result = memory.result("socket", 6, 1.0, limit_pct=1.0)
    assert (result.export_anon_early_mib, result.export_anon_late_mib) == (40.1, 42.1)
    assert result.export_threads == (11, 13)
    assert result.ok  # judged on RSS alone, which is flat here

    without = _memory([100_000] * 6, [0] * 6).result("socket", 6, 1.0, limit_pct=1.0)
    assert (without.export_anon_late_mib, without.export_threads) == (0.0, (0, 0))


def test_an_export_process_sample_reads_rss_its_anonymous_part_and_threads() -> None:
    import threading

    import psutil

    memory = soak.Memory(cycles=1, warmup=0.0)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        memory.sample_export(psutil.Process())  # this process stands in for the export one
    finally:
        stop.set()
        worker.join()
    (rss,), (anon,), (threads,) = (memory.export_samples, memory.export_anon,
                                   memory.export_threads)
    assert 0.0 < anon < rss  # code and libraries are file-backed: never all anonymous
    assert threads >= 2
