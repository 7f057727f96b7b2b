"""The typed application key under which handlers find their :class:`Emulator`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from otel_genesys.emulator.server import Emulator

EMULATOR: web.AppKey[Emulator] = web.AppKey("otel_genesys.emulator")


def emulator_of(request: web.Request) -> Emulator:
    """The emulator serving ``request``."""
    return request.app[EMULATOR]
