"""The ``run --live`` table, rendered to text, and the start-up progress lines."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable

import aiohttp
import pytest
from ops_helpers import closed_port_target, emulator_target, eventually, ok_count
from rich.console import Console

from otel_genesys.agent.live import (
    LIVE_COLUMNS,
    LiveRow,
    LiveView,
    fitted_table,
    fmt_ms,
    live_rows,
    live_table,
    render_live,
    waiting_for,
    watch_startup,
)
from otel_genesys.agent.monitor import ConnectionMonitor
from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.sink import NullSink
from otel_genesys.emulator import Emulator
from otel_genesys.emulator.faults import FaultSpec


def _row(**kw: object) -> LiveRow:
    base: dict[str, object] = {
        "target": "prod-eu",
        "mode": "notification",
        "state": "connected",
        "detail": None,
        "sent": 120,
        "last_rtt_ns": 41_203_100,
        "p50_rtt_ns": 40_100_000,
        "p99_rtt_ns": 123_456_789,
        "jitter_ns": 812_300,
        "stability": 0.9975,
        "timeouts": 3,
        "reconnects": 2,
        "last_error": None,
        "token_remaining_s": 3_598.2,
        "degraded_share": 0.025,
        "first_of_target": True,
    }
    base.update(kw)
    return LiveRow(**base)  # type: ignore[arg-type]


def _text(table: object, width: int = 200) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


def _line(text: str, *needles: str) -> str:
    lines = [ln for ln in text.splitlines() if all(n in ln.split() for n in needles)]
    assert len(lines) == 1, (needles, text)
    return lines[0]


def test_table_shows_every_column_for_a_row() -> None:
    text = _text(live_table([_row()]))
    header = text.splitlines()[1] if "target" in text.splitlines()[1] else text.splitlines()[0]
    for column in ("target", "mode", "state", "p50", "p99", "jitter", "stability", "token"):
        assert column in header
    line = _line(text, "prod-eu")
    cells = line.split()
    # sent, last, p50, p99, jitter, stability, timeouts, reconnects, token, degraded
    assert cells[:3] == ["prod-eu", "notification", "connected"]
    assert cells[3:13] == [
        "120",
        "41.203",
        "40.100",
        "123.5",
        "0.812",
        "99.8%",
        "3",
        "2",
        "59m58s",
        "2.5%",
    ]


def test_target_wide_cells_appear_once_per_target() -> None:
    rows = [
        _row(mode="control", reconnects=4, last_error="network error: reset"),
        _row(mode="notification", first_of_target=False, reconnects=4),
    ]
    text = _text(live_table(rows))
    first = _line(text, "control")
    second = _line(text, "notification")
    assert "prod-eu" in first and "prod-eu" not in second
    assert "connected" in first and "connected" not in second
    assert "network error: reset" in first and "network" not in second


def test_a_waiting_target_shows_what_it_waits_for_and_dashes() -> None:
    row = _row(
        state="connecting",
        detail="waiting for token from login.mypurecloud.ie…",
        sent=0,
        last_rtt_ns=None,
        p50_rtt_ns=None,
        p99_rtt_ns=None,
        jitter_ns=None,
        stability=None,
        timeouts=0,
        token_remaining_s=None,
        degraded_share=None,
    )
    line = _line(_text(live_table([row])), "prod-eu")
    assert "waiting for token from login.mypurecloud.ie…" in line
    assert line.split()[3:8] == ["0", "-", "-", "-", "-"]


@pytest.mark.parametrize(("remaining", "shown"), [(-5.0, "expired"), (90_000.0, "25h00m")])
def test_token_countdown(remaining: float, shown: str) -> None:
    assert shown in _line(_text(live_table([_row(token_remaining_s=remaining)])), "prod-eu")


def test_narrow_terminals_drop_columns_instead_of_wrapping() -> None:
    error = "waiting for token from login.mypurecloud.ie…"
    rows = [_row(last_error=error), _row(mode="control", first_of_target=False)]
    seen_columns = []
    for width in (80, 100, 120, 160, 200):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        table = fitted_table(rows, console)
        seen_columns.append(len(table.columns))
        text = _text(table, width=width)
        body = [ln for ln in text.splitlines() if "prod-eu" in ln]
        assert len(body) == 1, text  # one line per row: nothing wrapped
        assert "123.5" in body[0]  # p99 always stays
        assert "waiting for" in body[0]  # the error shrinks, it does not vanish
        assert all(len(ln.rstrip()) <= width for ln in text.splitlines())
    assert seen_columns == sorted(seen_columns)
    assert seen_columns[0] < len(LIVE_COLUMNS) == seen_columns[-1]
    assert error in _text(fitted_table(rows, Console(file=io.StringIO(), width=200)), 200)
    tiny = Console(file=io.StringIO(), width=50, color_system=None)
    assert all(len(ln.rstrip()) <= 50 for ln in _text(fitted_table(rows, tiny), 50).splitlines())


async def test_renders_an_agent_monitoring_the_emulator(
    emulator: Emulator, agents: Callable[..., Agent], free_port: int
) -> None:
    agent = agents([emulator_target(emulator), closed_port_target(free_port, "dead")])
    await agent.start()
    await eventually(
        lambda: all(s.counters.ok >= 3 for s in agent.monitors[0].snapshots().values()),
        what="three OK probes per mode",
    )
    await eventually(lambda: agent.monitors[1].status.reconnects >= 1, what="a failed dial")

    text = render_live(agent, width=200)
    snaps = agent.monitors[0].snapshots()
    control = _line(text, "emulator")
    notification = _line(text, "notification")
    assert control.split()[:3] == ["emulator", "control", "connected"]
    assert notification.split()[0] == "notification"
    for line, mode in ((control, "control"), (notification, "notification")):
        snap = next(v for k, v in snaps.items() if k.value == mode)
        assert fmt_ms(snap.p99_rtt_ns) in line.split()
        assert "100.0%" in line.split()
    assert "23h5" in control  # the emulator's token lives a day
    dead = _line(text, "dead")
    assert "reconnecting" in dead.split()
    assert "reconnecting after: network error" in dead
    assert "1/2 connected" in text
    # One row per target and mode, nothing else in the body.
    rows = live_rows(agent)
    assert [(r.target, r.mode) for r in rows] == [
        ("emulator", "control"),
        ("emulator", "notification"),
        ("dead", "control"),
    ]


async def test_live_view_draws_to_a_console_until_cancelled(
    emulator: Emulator, agents: Callable[..., Agent]
) -> None:
    agent = agents([emulator_target(emulator)])
    await agent.start()
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True, color_system=None)
    streams: list[object] = []
    view = LiveView(agent, console=console, refresh_s=0.05, relog=streams.append)
    task = asyncio.create_task(view.run())
    await eventually(lambda: ok_count(agent) >= 2)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "connected" in out.getvalue()
    assert "emulator" in out.getvalue()
    assert len(streams) == 2 and streams[-1] is None  # logging pointed back afterwards


async def test_waiting_for_describes_each_phase(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        target = emulator_target(emulator)
        monitor = ConnectionMonitor(target, session=session, sink=NullSink())
        assert waiting_for(monitor) == "waiting for token from 127.0.0.1…"
        monitor.status.token_expires_at_ns = 1
        assert waiting_for(monitor) == "opening channel and connecting to 127.0.0.1…"
        monitor.status.last_error = "rate limited (429)"
        from otel_genesys.core.events import ConnectionState

        monitor.status.state = ConnectionState.RECONNECTING
        assert waiting_for(monitor) == "reconnecting after: rate limited (429)"
        monitor.status.state = ConnectionState.FAILED
        assert waiting_for(monitor) == "needs an operator: rate limited (429)"
        monitor.status.state = ConnectionState.CONNECTED
        assert waiting_for(monitor) is None


async def test_start_up_progress_is_logged_after_a_second_of_silence(
    emulator: Emulator, agents: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    emulator.faults.set_global(FaultSpec(handshake_delay_s=0.6))
    agent = agents([emulator_target(emulator, "slow")])
    caplog.set_level(logging.INFO, logger="otel_genesys.agent")
    await agent.start()
    await asyncio.wait_for(watch_startup(agent, after_s=0.2, poll_s=0.02), 5.0)
    waiting = [r for r in caplog.records if "connecting to 127.0.0.1" in r.getMessage()]
    assert waiting, caplog.text
    assert all(getattr(r, "target", None) == "slow" for r in waiting)
    connected = [r for r in caplog.records if "connected after" in r.getMessage()]
    assert len(connected) == 1 and getattr(connected[0], "target", None) == "slow"


async def test_no_progress_lines_when_connecting_is_quick(
    emulator: Emulator, agents: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    agent = agents([emulator_target(emulator)])
    caplog.set_level(logging.INFO, logger="otel_genesys.agent")
    await agent.start()
    await asyncio.wait_for(watch_startup(agent, after_s=1.0, poll_s=0.02), 5.0)
    assert not [r for r in caplog.records if "waiting" in r.getMessage()]
