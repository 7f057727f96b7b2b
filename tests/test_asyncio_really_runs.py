"""Guards house rule 7: async tests must really run, not be silently skipped."""

import asyncio

_entered: list[bool] = []


async def test_event_loop_is_entered() -> None:
    await asyncio.sleep(0)
    _entered.append(True)
    assert asyncio.get_running_loop().is_running()


def test_previous_async_test_ran() -> None:
    assert _entered == [True], "the async test above did not run: pytest-asyncio is not active"
