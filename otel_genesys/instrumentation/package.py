"""What the instrumentation hooks into (read by ``opentelemetry-instrument``'s dependency check).

``websockets`` is deliberately absent: it is optional and instrumented only when
importable, so an app that uses aiohttp alone is still instrumented.
"""

from __future__ import annotations

_instruments: tuple[str, ...] = ("aiohttp >= 3.9",)
"""Required libraries, in requirements.txt form."""

_optional: tuple[str, ...] = ("websockets >= 13.0",)
"""Libraries instrumented when importable (the asyncio client appeared in 13.0)."""

_supports_metrics = True
