"""How precisely does the emulator honour an injected pong delay?

Starts ``otel-genesys emulator`` as a separate process, connects an
independent client (the ``websockets`` sync client), sets a fixed pong delay
through the admin API and measures, for JSON pings and RFC 6455 control
pings, the error ``rtt - requested_delay``. The 0 ms row is the baseline (the
loopback round trip plus both ends' overhead), included in every other row.
The last two columns are the server's own part, from its counters: how late
its timer sent each delayed pong (``delay_overshoot_ms`` p50 and p99).

    .venv/bin/python bench/emulator_delay_accuracy.py [--pings 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

from websockets.sync.client import connect

DELAYS_MS = (0.0, 1.0, 5.0, 50.0)


def _admin(base_url: str, method: str, path: str, body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def _post(base_url: str, path: str, form: str | None, headers: dict[str, str]) -> dict[str, str]:
    req = urllib.request.Request(base_url + path, data=(form or "").encode(), method="POST",
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=5) as resp:
        out: dict[str, str] = json.loads(resp.read())
        return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=300, help="pings per delay and kind")
    args = parser.parse_args()

    proc = subprocess.Popen([sys.executable, "-m", "otel_genesys", "emulator", "--port", "0"],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().split()[-1]
        import base64

        basic = base64.b64encode(b"otel-genesys-demo:demo-secret").decode()
        token = _post(base_url, "/oauth/token", "grant_type=client_credentials", {
            "Authorization": "Basic " + basic,
            "Content-Type": "application/x-www-form-urlencoded"})["access_token"]
        channel = _post(base_url, "/api/v2/notifications/channels", None,
                        {"Authorization": "Bearer " + token})
        print(f"emulator {base_url}, {args.pings} pings per row, python {sys.version.split()[0]}")
        print(f"{'delay':>7} {'kind':>8} {'p50 err':>9} {'p99 err':>9} {'max err':>9}"
              f" {'min err':>9} {'srv p50':>9} {'srv p99':>9}")
        with connect(channel["connectUri"], max_size=None) as ws:
            for delay_ms in DELAYS_MS:
                spec = {"pong_delay": f"fixed:{delay_ms}ms"} if delay_ms else {}
                for kind in ("json", "control"):
                    _admin(base_url, "POST", "/__emulator__/reset")  # counters per row
                    _admin(base_url, "PUT", "/__emulator__/faults", spec)
                    errors = []
                    for i in range(args.pings):
                        started = time.perf_counter_ns()
                        if kind == "json":
                            ws.send('{"message":"ping"}')
                            while "pong" not in str(ws.recv()):
                                pass
                        else:
                            ws.ping(b"%d" % i).wait(5)
                        rtt_ms = (time.perf_counter_ns() - started) / 1e6
                        errors.append(rtt_ms - delay_ms)
                        time.sleep(0.002)
                    counters = _admin(base_url, "GET", "/__emulator__/counters")
                    assert isinstance(counters, dict)
                    over = counters["global"]["delay_overshoot_ms"]
                    srv = (f" {over['p50']:>7.3f}ms {over['p99']:>7.3f}ms" if over["count"]
                           else f" {'-':>9} {'-':>9}")
                    print(f"{delay_ms:>5.0f}ms {kind:>8} {statistics.median(errors):>7.3f}ms"
                          f" {_percentile(errors, 0.99):>7.3f}ms {max(errors):>7.3f}ms"
                          f" {min(errors):>7.3f}ms{srv}", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
