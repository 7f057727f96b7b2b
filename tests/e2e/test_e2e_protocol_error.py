"""Close 1002 (protocol error): the failure says what was sent and read, secrets masked."""

from __future__ import annotations

from otel_genesys.agent.failures import describe_frame
from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.events import AuditKind
from otel_genesys.emulator import Emulator
from tests.e2e.e2e_helpers import Collector, generic_target, wait_until

TOKEN = "tok-e2e-1002-should-never-show"


async def test_close_1002_reports_the_last_frames_without_the_token() -> None:
    broken = '{"type":"subscribe","token":"' + TOKEN + '","connectionId":"c1"'  # no brace
    async with Emulator() as emu:
        sink = Collector()
        agent = Agent([generic_target(emu.realtime_url, first_message=broken)], sink=sink)
        await agent.start()
        await wait_until(lambda: bool(sink.attrs(AuditKind.CONNECTION_LOST)))
        await agent.stop()
        assert emu.counters.total.closes_by_code.get(1002, 0) >= 1
    lost = sink.attrs(AuditKind.CONNECTION_LOST)[0]
    assert lost["cause"] == "close_1002"
    message = str(lost["message"])
    assert "last text sent: " in message and '"type":"subscribe"' in message, message
    assert '"token":"***"' in message and TOKEN not in message, message
    assert "last text received: nothing" in message
    status = agent.monitors[0].status
    assert status.last_error is not None and TOKEN not in status.last_error


def test_describe_frame_masks_json_and_cuts_long_text() -> None:
    text = '{"a": 1, "auth": {"Authorization": "Bearer x", "api_key": "k"}, "l": [{"secret": 1}]}'
    shown = describe_frame(text)
    assert "Bearer" not in shown and '"k"' not in shown and '"secret": "***"' in shown
    assert describe_frame("x" * 5000).endswith("(5000 chars)")
    assert len(describe_frame("x" * 5000)) < 260
    assert describe_frame(b"\x01\x02") == "a 2-byte ping frame"
