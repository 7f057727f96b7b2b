"""The admin API under ``/__emulator__/``: faults, counters and lifecycle triggers.

Served to loopback peers only (the check is in the server's middleware and
uses the TCP peer address, never a forwarded header).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from otel_genesys.emulator.appkey import emulator_of
from otel_genesys.emulator.envelopes import error_response, json_response
from otel_genesys.emulator.faults import FaultSpec, parse_duration
from otel_genesys.errors import ConfigError

if TYPE_CHECKING:
    from otel_genesys.emulator.server import Emulator

PREFIX = "/__emulator__"


def _emu(request: web.Request) -> Emulator:
    return emulator_of(request)


async def _body(request: web.Request) -> Mapping[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError("the body must be a JSON object")
    return data


def _bad(exc: ConfigError) -> web.Response:
    return error_response(400, "bad.request", "; ".join(exc.problems))


def _faults_view(emu: Emulator) -> dict[str, Any]:
    return {
        "global": emu.faults.global_spec.to_json(),
        "channels": {k: v.to_json() for k, v in emu.faults.overrides().items()},
        "token_429_left": emu.faults.token_429_left,
    }


async def health(request: web.Request) -> web.Response:
    """``GET /__emulator__/health``."""
    return json_response({"status": "ok"})


async def counters(request: web.Request) -> web.Response:
    """``GET /__emulator__/counters``: global and per-target counters."""
    return json_response(_emu(request).counters.snapshot())


async def overshoots(request: web.Request) -> web.Response:
    """``GET /__emulator__/overshoots[?since=N]``: per delayed pong, in send order, how late
    the emulator's timer sent it; ``DELETE`` forgets them and restarts the numbering at 0.

    GET gives ``{"first", "next", "lost", "overshoot_ms": [...], "delay_ms": [...],
    "received_s": [...]}``: entry ``i`` of each list is pong number ``first + i``.
    """
    total = _emu(request).counters.total
    if request.method == "DELETE":
        return json_response({"cleared": total.clear_overshoots()})
    raw = request.query.get("since", "0")
    try:
        since = int(raw)
    except ValueError:
        since = -1
    if since < 0:
        return error_response(400, "bad.request", "since must be a non-negative integer")
    return json_response(total.overshoots_since(since))


async def reset(request: web.Request) -> web.Response:
    """``POST /__emulator__/reset``: every fault cleared, every counter zeroed."""
    emu = _emu(request)
    emu.faults.clear()
    emu.counters.reset()
    return json_response({"reset": True})


async def global_faults(request: web.Request) -> web.Response:
    """``GET/PUT/PATCH/DELETE /__emulator__/faults``.

    PUT replaces the global spec (missing keys → healthy defaults), PATCH
    changes only the keys given, DELETE clears every fault (global and per target).
    """
    emu = _emu(request)
    try:
        if request.method == "PUT":
            emu.faults.set_global(FaultSpec.from_json(await _body(request)))
        elif request.method == "PATCH":
            emu.faults.set_global(
                FaultSpec.from_json(await _body(request), base=emu.faults.global_spec))
        elif request.method == "DELETE":
            emu.faults.clear()
    except ConfigError as exc:
        return _bad(exc)
    return json_response(_faults_view(emu))


async def channel_faults(request: web.Request) -> web.Response:
    """``GET/PUT/PATCH/DELETE /__emulator__/channels/{id}/faults`` (id may be a realtime
    ``connectionId``); PATCH starts from the target's current spec (or the global one)."""
    emu = _emu(request)
    key = request.match_info["channel_id"]
    try:
        if request.method == "PUT":
            emu.faults.set_channel(key, FaultSpec.from_json(await _body(request)))
        elif request.method == "PATCH":
            base = emu.faults.channel_spec(key) or emu.faults.global_spec
            emu.faults.set_channel(key, FaultSpec.from_json(await _body(request), base=base))
        elif request.method == "DELETE":
            emu.faults.clear_channel(key)
    except ConfigError as exc:
        return _bad(exc)
    spec = emu.faults.channel_spec(key)
    return json_response({"id": key, "override": spec.to_json() if spec else None,
                          "effective": emu.faults.effective(key)[0].to_json()})


async def list_channels(request: web.Request) -> web.Response:
    """``GET /__emulator__/channels``: every live channel and open realtime connection."""
    return json_response({"entities": _emu(request).describe_targets()})


def _seconds(body: Mapping[str, Any], key: str, default: float) -> float:
    try:
        return parse_duration(body.get(key, default))
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _int(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer")
    return value


async def close_channel(request: web.Request) -> web.Response:
    """``POST /__emulator__/channels/{id}/close`` ``{"code": 1000, "after_s": 0, "reason": ""}``."""
    emu = _emu(request)
    try:
        body = await _body(request)
        code = _int(body, "code", 1000)
        after_s = _seconds(body, "after_s", 0.0)
        FaultSpec(close_code=code)  # validates the code
    except ConfigError as exc:
        return _bad(exc)
    conn = emu.find_conn(request.match_info["channel_id"])
    if conn is None:
        return error_response(409, "not.connected", "No open socket for this id.")
    conn.close_later(after_s, code, str(body.get("reason", ""))[:120])
    return json_response({"scheduled": True, "code": code, "after_s": after_s})


async def socket_closing(request: web.Request) -> web.Response:
    """``POST /__emulator__/channels/{id}/socket_closing`` ``{"lead_s": …, "code": 1001}``:
    send ``v2.system.socket_closing`` now, close after ``lead_s``."""
    emu = _emu(request)
    try:
        body = await _body(request)
        lead_s = _seconds(body, "lead_s", emu.config.socket_closing_lead_s)
        code = _int(body, "code", 1001)
        FaultSpec(close_code=code)
    except ConfigError as exc:
        return _bad(exc)
    conn = emu.find_conn(request.match_info["channel_id"])
    if conn is None:
        return error_response(409, "not.connected", "No open socket for this id.")
    conn.announce_closing(lead_s, code)
    return json_response({"scheduled": True, "lead_s": lead_s, "code": code})


async def reset_channel(request: web.Request) -> web.Response:
    """``POST /__emulator__/channels/{id}/reset`` ``{"after_s": 0}``: TCP RST, no close frame."""
    emu = _emu(request)
    try:
        after_s = _seconds(await _body(request), "after_s", 0.0)
    except ConfigError as exc:
        return _bad(exc)
    conn = emu.find_conn(request.match_info["channel_id"])
    if conn is None:
        return error_response(409, "not.connected", "No open socket for this id.")
    if after_s > 0:
        conn.reset_later(after_s)
    else:
        conn.reset()
    return json_response({"scheduled": True, "after_s": after_s})


async def issue_token(request: web.Request) -> web.Response:
    """``POST /__emulator__/tokens`` ``{"client_id": …}``: a token without the OAuth round trip."""
    emu = _emu(request)
    try:
        body = await _body(request)
    except ConfigError as exc:
        return _bad(exc)
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or emu.config.client(client_id) is None:
        return error_response(400, "bad.request", "client_id must name a configured client")
    return json_response({"access_token": emu.issue_token(client_id), "token_type": "bearer"})


def add_routes(app: web.Application) -> None:
    """Register every admin route."""
    r = app.router
    r.add_get(f"{PREFIX}/health", health)
    r.add_get(f"{PREFIX}/counters", counters)
    r.add_post(f"{PREFIX}/reset", reset)
    r.add_route("GET", f"{PREFIX}/overshoots", overshoots)
    r.add_route("DELETE", f"{PREFIX}/overshoots", overshoots)
    r.add_get(f"{PREFIX}/channels", list_channels)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        r.add_route(method, f"{PREFIX}/faults", global_faults)
        r.add_route(method, f"{PREFIX}/channels/{{channel_id}}/faults", channel_faults)
    r.add_post(f"{PREFIX}/channels/{{channel_id}}/close", close_channel)
    r.add_post(f"{PREFIX}/channels/{{channel_id}}/socket_closing", socket_closing)
    r.add_post(f"{PREFIX}/channels/{{channel_id}}/reset", reset_channel)
    r.add_post(f"{PREFIX}/tokens", issue_token)
