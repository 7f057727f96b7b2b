"""An aiohttp application served on 127.0.0.1 at a free port, for socket tests."""

from __future__ import annotations

import ssl

from aiohttp import web


async def serve(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Start ``app`` on 127.0.0.1 (port chosen by the OS; over TLS with ``ssl_context``);
    the caller cleans the runner up."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port
