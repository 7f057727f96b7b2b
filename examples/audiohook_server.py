"""A minimal AudioHook server on aiohttp — no OpenTelemetry in it — to run under
``opentelemetry-instrument``::

    opentelemetry-instrument python examples/audiohook_server.py --port 8077

Genesys (the WebSocket client) sends ``open``, ``ping``, ``close`` … messages
and binary audio; this server answers ``open`` with ``opened``, every ``ping``
with a ``pong`` whose ``clientseq`` is the ping's ``seq``, and ``close`` with
``closed``. The instrumentation reads each ping's ``parameters.rtt`` (the round
trip Genesys measured) and times the ping→pong turnaround, with no code here.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from aiohttp import WSMsgType, web


class Session:
    """One AudioHook session's server-side sequence numbers."""

    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.seq = 0

    def reply(self, kind: str, clientseq: int, parameters: dict[str, Any]) -> str:
        self.seq += 1
        return json.dumps(
            {
                "version": "2",
                "id": self.id,
                "type": kind,
                "seq": self.seq,
                "clientseq": clientseq,
                "parameters": parameters,
            }
        )


async def audiohook(request: web.Request) -> web.WebSocketResponse:
    """The AudioHook WebSocket handler."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    session: Session | None = None
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            continue  # audio frames
        try:
            data = json.loads(msg.data)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        session = session or Session(str(data.get("id", "")))
        seq = data.get("seq", 0)
        kind = data.get("type")
        if kind == "open":
            await ws.send_str(session.reply("opened", seq, {"startPaused": False, "media": []}))
        elif kind == "ping":
            await ws.send_str(session.reply("pong", seq, {}))
        elif kind == "close":
            await ws.send_str(session.reply("closed", seq, {}))
            await ws.close()
    return ws


def make_app(path: str = "/audiohook") -> web.Application:
    """The aiohttp application serving AudioHook at ``path``."""
    app = web.Application()
    app.router.add_get(path, audiohook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8077)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
