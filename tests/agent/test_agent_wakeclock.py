"""The stamping event loop: a pong's arrival is the loop's wake-up, over real sockets.

The pong server runs on its own thread and event loop (127.0.0.1), so it answers
while the client's loop is held. The client holds its loop between the wake-up
that reports the pong and the callback that parses it; the arrival the tap sees
must be the wake-up, not the parse.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import statistics
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from otel_genesys.agent import wakeclock
from otel_genesys.agent.monitor import ConnectionMonitor
from otel_genesys.agent.pongtap import PongTap
from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.outcome import Confidence, Outcome, ProbeMode
from otel_genesys.emulator import DelaySpec, Emulator, FaultSpec
from tests.e2e.e2e_helpers import (
    Collector,
    assert_each_ping_settled_once,
    generic_target,
    notification_target,
    wait_until,
)
from tests.support.loopback import serve


@pytest.fixture(autouse=True, scope="module")
def _host_stamps_on() -> Iterator[None]:
    """One stamped socket open for the whole module, stamped once: Linux turns receive
    stamps on for the host a moment after the first socket asks for them and off after
    the last one closes, and a test's data must not fall in that moment."""
    if not sys.platform.startswith("linux"):
        yield
        return
    with _stamped_pair() as (client, peer):
        _until_stamped(client, peer)
        yield


@contextmanager
def _stamped_pair() -> Iterator[tuple[wakeclock.StampedSocket, socket.socket]]:
    """A stamped client socket connected to a plain peer on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = wakeclock._stamped(socket.create_connection(server.getsockname()))
        peer, _ = server.accept()
        with client, peer:
            assert isinstance(client, wakeclock.StampedSocket)
            yield client, peer


@contextmanager
def _pong_server(tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """An aiohttp WebSocket server answering pings (autoping) on a thread of its own;
    over TLS with ``tls`` (certificate, key)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _msg in ws:
            pass
        return ws

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/ws", ws_handler)
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
        runner, p = await serve(app, context)
        port.append(p)
        ready.set()
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(start())
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10.0)
    try:
        yield f"{'ws' if tls is None else 'wss'}://127.0.0.1:{port[0]}/ws"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)


async def _pong_seen_while_the_loop_is_held(
    url: str, hold_s: float, *, before_wait: bool = False
) -> tuple[int, int, int]:
    """Ping, let the pong land in the socket, and hold the loop for ``hold_s``: after the
    wake-up that reports it (default), or before the loop's next wait, so that the pong
    comes while the loop is busy. The tap's clock is the monitor's (`_arrival_ns`) on the
    stamping loop. Returns (sent, arrival the tap was given, parse time)."""
    loop = asyncio.get_running_loop()
    stamps = wakeclock.loop_stamps(loop)
    seen: asyncio.Future[tuple[int, int]] = loop.create_future()

    def on_pong(_payload: bytes, arrival: int) -> None:
        if not seen.done():
            seen.set_result((arrival, time.perf_counter_ns()))

    async with aiohttp.ClientSession() as http, http.ws_connect(
        url, autoping=False, ssl=False
    ) as ws:
        monitor = ConnectionMonitor(generic_target(url), session=http, sink=Collector())
        clock = (
            time.perf_counter_ns
            if stamps is None
            else functools.partial(monitor._arrival_ns, stamps, wakeclock.rx_stamps(ws))
        )
        tap = PongTap.attach(ws, on_pong, lambda _text, _now: None, clock)
        assert tap is not None
        reader = asyncio.create_task(tap.wait())  # arms the tap, as the monitor's reader does
        await asyncio.sleep(0.05)
        sent = monitor._last_send_ns = time.perf_counter_ns()
        await ws.ping(b"probe")
        if before_wait:
            time.sleep(hold_s)  # noqa: ASYNC251 - busy while the pong comes; the wait follows
        else:
            time.sleep(0.005)  # noqa: ASYNC251 - the pong reaches the socket while the loop is held
            # Runs first in the next loop iteration: after the wait that reports the pong,
            # before the callback that parses it.
            loop.call_soon(time.sleep, hold_s)
        arrival, parsed = await asyncio.wait_for(seen, 5.0)
        reader.cancel()
        tap.detach()
    return sent, arrival, parsed


def test_the_arrival_is_the_wake_up_that_reported_the_pong_not_its_parse() -> None:
    hold = 0.04
    with _pong_server() as url:
        sent, arrival, parsed = wakeclock.run(_pong_seen_while_the_loop_is_held(url, hold))
    assert parsed - sent >= hold * 1e9  # the parse came after the hold ...
    assert arrival - sent < hold * 1e9 / 2  # ... the arrival before it
    assert arrival >= sent


def test_on_a_plain_loop_the_arrival_is_read_at_the_parse() -> None:
    hold = 0.04
    with _pong_server() as url:
        sent, arrival, _parsed = asyncio.run(_pong_seen_while_the_loop_is_held(url, hold))
    assert arrival - sent >= hold * 1e9  # what the stamping loop removes


linux_only = pytest.mark.skipif(sys.platform != "linux", reason="kernel receive stamps: Linux")


@linux_only
def test_a_pong_that_came_while_the_loop_was_busy_has_the_kernels_arrival() -> None:
    """The loop is busy (not waiting) when the pong comes: the wake-up that reports it
    is after the hold, the kernel's receive stamp is not."""
    hold = 0.04
    with _pong_server() as url:
        sent, arrival, parsed = wakeclock.run(
            _pong_seen_while_the_loop_is_held(url, hold, before_wait=True)
        )
    assert parsed - sent >= hold * 1e9
    assert sent <= arrival < sent + hold * 1e9 / 2


def test_without_kernel_stamps_that_pong_has_the_late_wake_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The contrast: the same run with the loop's wake-up alone (what kernel stamps
    remove)."""
    monkeypatch.setattr(wakeclock, "KERNEL_STAMPS", False)
    hold = 0.04
    with _pong_server() as url:
        sent, arrival, _parsed = wakeclock.run(
            _pong_seen_while_the_loop_is_held(url, hold, before_wait=True)
        )
    assert arrival - sent >= hold * 1e9


@linux_only
def test_tls_links_have_kernel_stamps_too(self_signed: tuple[Path, Path]) -> None:
    """Over TLS (asyncio reads into the TLS layer's buffer: ``recv_into``): the pong's
    arrival is still the kernel's stamp."""
    hold = 0.04
    with _pong_server(self_signed) as url:
        assert url.startswith("wss://")
        sent, arrival, parsed = wakeclock.run(
            _pong_seen_while_the_loop_is_held(url, hold, before_wait=True)
        )
    assert parsed - sent >= hold * 1e9
    assert sent <= arrival < sent + hold * 1e9 / 2


def _until_stamped(client: wakeclock.StampedSocket, peer: socket.socket) -> None:
    """Exchange bytes until one arrives stamped. Linux turns receive stamps on for the
    whole host a moment after the first socket asks for them (deferred work), and again
    after the last one that had them closed: data that came in between has none."""
    deadline = time.monotonic() + 5.0
    while True:
        peer.sendall(b"w")
        assert client.recv(64) == b"w"
        if client.rx_ns() or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    assert client.rx_ns(), "no receive stamp within 5 s"


@linux_only
def test_a_stamped_socket_keeps_the_receive_time_of_the_newest_data_read() -> None:
    """Plain sockets on 127.0.0.1: the stamp is when the data came, not when it was
    read; ``recv`` and ``recv_into`` both keep it; two sends read at once give the
    second's."""
    with _stamped_pair() as (client, peer):
        assert client.rx_ns() == 0  # nothing read yet (the module keeps the host stamping)
        sent = time.perf_counter_ns()
        peer.sendall(b"one")
        time.sleep(0.05)
        assert client.recv(64) == b"one"
        read = time.perf_counter_ns()
        assert sent <= client.rx_ns() < read - 40_000_000

        peer.sendall(b"a")
        time.sleep(0.02)
        second = time.perf_counter_ns()
        peer.sendall(b"b")
        time.sleep(0.03)
        buf = bytearray(64)
        assert client.recv_into(buf) == 2 and bytes(buf[:2]) == b"ab"
        assert second <= client.rx_ns() < time.perf_counter_ns() - 20_000_000


@linux_only
@pytest.mark.parametrize("read", ["recv", "recv_into"])
def test_a_read_of_unstamped_data_leaves_no_stamp_behind(read: str) -> None:
    """Data that came without a stamp (here: stamps turned off on the socket; in the
    field, the moment before the host turns them on) clears the stamp, so the older
    data's stamp is not taken for it."""
    with _stamped_pair() as (client, peer):
        _until_stamped(client, peer)
        client.setsockopt(socket.SOL_SOCKET, wakeclock._SO_TIMESTAMPNS or 0, 0)
        peer.sendall(b"late")
        time.sleep(0.02)
        if read == "recv":
            assert client.recv(64) == b"late"
        else:
            buf = bytearray(64)
            assert client.recv_into(buf) == 4
        assert client.rx == b"" and client.rx_ns() == 0


@pytest.mark.parametrize("mode", [ProbeMode.CONTROL, ProbeMode.NOTIFICATION])
def test_the_agent_on_the_stamping_loop_reads_the_delay_the_server_adds(mode: ProbeMode) -> None:
    """End to end: the agent as `otel-genesys run` runs it (on `wakeclock.run`) against
    the emulator, first with no delay, then delaying every pong by 30 ms. Every RTT is at
    least the delay and near it; none is read before its ping left (the guard against a
    wake-up older than the ping), and every ping settles once."""
    delay_s = 0.03

    async def main() -> tuple[list[float], list[float]]:
        assert wakeclock.loop_stamps(asyncio.get_running_loop()) is not None
        async with Emulator() as emu:
            sink = Collector()
            target = notification_target(emu, modes={mode}, timeout_ns=1_000_000_000)
            agent = Agent([target], sink=sink)
            await agent.start()
            try:
                await wait_until(lambda: len(sink.by(mode, Outcome.OK)) >= 10, 10.0)
                monitor = agent.monitors[0]
                assert monitor._stamps is not None  # it took the loop's wake-ups ...
                link = monitor._link
                assert link is not None
                if sys.platform == "linux":  # ... and its socket keeps the kernel's stamps
                    assert wakeclock.rx_stamps(link.ws) is not None
                plain = [o.rtt_ns / 1e6 for o in sink.by(mode, Outcome.OK)]  # type: ignore[operator]
                start = len(sink.outcomes)
                emu.faults.set_global(FaultSpec(pong_delay=DelaySpec.fixed(delay_s)))
                await wait_until(lambda: len(sink.by(mode, Outcome.OK)) >= start + 20, 10.0)
            finally:
                await agent.stop()
            assert_each_ping_settled_once(sink, agent)
            delayed = [o.rtt_ns / 1e6 for o in sink.outcomes[start + 2:]
                       if o.ok and o.rtt_ns is not None]  # fmt: skip
            return plain, delayed

    plain, delayed = wakeclock.run(main())
    assert min(plain) > 0 and statistics.median(plain) < 5.0
    assert len(delayed) >= 15
    assert min(delayed) >= delay_s * 1e3
    assert statistics.median(delayed) < delay_s * 1e3 + 5.0


async def test_a_wake_up_older_than_the_last_ping_is_not_taken_as_a_pong_arrival() -> None:
    """The guard: a pong parsed in the wake-up in which its ping left (the socket was
    readable for other data, the pong came in meanwhile) must not get an arrival before
    its ping; the clock is read then."""
    async with aiohttp.ClientSession() as session:
        monitor = ConnectionMonitor(
            generic_target("ws://127.0.0.1:9/ws"), session=session, sink=Collector()
        )
        stamps = wakeclock.StampingSelector()
        try:
            stamps.woke_ns = 1_000
            monitor._last_send_ns = 500  # the ping left before the wake-up: it is the arrival
            assert monitor._arrival_ns(stamps, None) == 1_000
            monitor._last_send_ns = 2_000  # a ping left after the wake-up: the clock instead
            before = time.perf_counter_ns()
            assert monitor._arrival_ns(stamps, None) >= before
        finally:
            stamps.close()


async def test_a_kernel_stamp_outside_the_last_ping_and_now_is_not_taken() -> None:
    """The kernel's stamp is the arrival only between the monitor's last ping and now
    (a stamp before the ping belongs to older data; one after now means the wall clock
    stepped); otherwise the wake-up rule applies."""
    async with aiohttp.ClientSession() as session:
        monitor = ConnectionMonitor(
            generic_target("ws://127.0.0.1:9/ws"), session=session, sink=Collector()
        )
        stamps = wakeclock.StampingSelector()
        rx = wakeclock.StampedSocket()
        try:

            def stamp_at(perf_ns: int) -> None:  # a receive stamp at that perf_counter time
                wall = perf_ns + time.time_ns() - time.perf_counter_ns()
                rx.rx = struct.pack("@ll", wall // 1_000_000_000, wall % 1_000_000_000)

            now = time.perf_counter_ns()
            stamps.woke_ns = now - 1_000_000
            monitor._last_send_ns = now - 5_000_000
            stamp_at(now - 3_000_000)  # between the ping and now: the arrival
            assert abs(monitor._arrival_ns(stamps, rx) - (now - 3_000_000)) < 200_000
            assert monitor._stamped_arrival  # told to the session with the pong
            stamp_at(now - 8_000_000)  # before the ping: the wake-up instead
            assert monitor._arrival_ns(stamps, rx) == now - 1_000_000
            assert not monitor._stamped_arrival
            stamp_at(now + 10_000_000_000)  # after now: the wake-up instead
            assert monitor._arrival_ns(stamps, rx) == now - 1_000_000
            rx.rx = b""  # no stamp: the wake-up
            assert monitor._arrival_ns(stamps, rx) == now - 1_000_000
        finally:
            rx.close()
            stamps.close()


async def _blocked_in_flight(pings: int) -> tuple[list[Confidence], list[float], list[int]]:
    """The agent against the emulator delaying every pong by 60 ms; 10 ms after each ping
    leaves, the loop is blocked for 25 ms (a fine stall tick falls due inside it). The
    pong comes after the block. Returns each OK sample's confidence, RTT (ms) and the
    loop lag found in its window (ns); the stall limit is the default 1 ms."""
    async with Emulator() as emu:
        emu.faults.set_global(FaultSpec(pong_delay=DelaySpec.fixed(0.06)))
        sink = Collector()
        target = notification_target(emu, modes={ProbeMode.CONTROL}, lag_limit_ns=1_000_000)
        agent = Agent([target], sink=sink)
        await agent.start()
        monitor = agent.monitors[0]

        async def blocker() -> None:
            seen = 0
            while True:
                await asyncio.sleep(0.001)
                if monitor._last_send_ns != seen:
                    seen = monitor._last_send_ns
                    await asyncio.sleep(0.01)
                    time.sleep(0.025)  # noqa: ASYNC251 - the stall under test

        task = asyncio.create_task(blocker())
        try:
            await wait_until(lambda: len(sink.by(ProbeMode.CONTROL, Outcome.OK)) >= pings, 20.0)
        finally:
            task.cancel()
            await agent.stop()
        ok = sink.by(ProbeMode.CONTROL, Outcome.OK)[1:]  # the first may precede the blocker
        rtts = [o.rtt_ns / 1e6 for o in ok]  # type: ignore[operator]
        return [o.confidence for o in ok], rtts, [o.loop_lag_ns for o in ok]


@linux_only
def test_a_stall_while_the_ping_is_in_flight_does_not_degrade_a_kernel_stamped_pong() -> None:
    """The kernel stamped the pong: the loop's stall before it came did not move the
    RTT, and the sample stays trusted (its window ends when the ping was written)."""
    confidences, rtts, lags = wakeclock.run(_blocked_in_flight(8))
    assert len(confidences) >= 7
    assert all(c is Confidence.TRUSTED for c in confidences), (confidences, lags)
    assert max(lags) < 1_000_000
    assert min(rtts) >= 60.0 and statistics.median(rtts) < 70.0


def test_on_a_plain_loop_the_same_stall_degrades_the_sample() -> None:
    """The contrast: read in the callback, the pong could have been delayed by the
    stall, so the sample is flagged."""
    confidences, _rtts, lags = asyncio.run(_blocked_in_flight(8))
    assert sum(c is Confidence.DEGRADED for c in confidences) >= len(confidences) // 2, lags
    assert max(lags) >= 5_000_000
