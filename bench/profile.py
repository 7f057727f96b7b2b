"""Reading a py-spy profile: where the agent's CPU goes, by thread and by function.

py-spy's ``--format raw --threads`` output is one collapsed stack per line,
``thread (tid): name;frame;frame;… COUNT``, idle threads left out, so
counts are proportional to CPU time. :func:`summarise` turns it into the
shares the report prints.
"""

from __future__ import annotations

import collections
import re
from typing import Any

_LINE_NO = re.compile(r":\d+\)$")
_THREAD = re.compile(r"^thread \(\d+\)(?::(.*))?$")

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("probe metrics: in-house aggregation (per probe)", ("ProbeMetrics.record",)),
    ("probe spans: OTLP bytes (per sampled probe)", ("ProbeSpanEncoder.probe_span",
                                                     "ProbeSpanEncoder.request")),
    ("OTel metrics: record (rare instruments)", ("Histogram.record", "Counter.add")),
    ("OTel spans: create/end (set-up and audit spans)", ("Tracer.start_span", "Span.end",
                                                         "_Span.end")),
    ("OTLP encode: SDK spans", ("encode_spans",)),
    ("OTLP encode: metrics", ("encode_metrics",)),
    ("metric collection (export period)", ("MetricReader.collect",)),
    ("gRPC send", ("_blocking_unary_unary", "_UnaryUnaryMultiCallable.__call__")),
    ("probe loop: ConnectionMonitor._probe_loop", ("ConnectionMonitor._probe_loop",)),
    ("pong path: PongTap.feed_data, ConnectionMonitor._read", ("PongTap.feed_data",
                                                               "ConnectionMonitor._read")),
    ("alarms: AlarmClock._fire", ("AlarmClock._fire",)),
    ("measurement core: ProbeSession", ("ProbeSession.send", "ProbeSession.pong",
                                        "ProbeSession.expire")),
    ("stall watch ticker", ("StallWatch._tick",)),
    ("asyncio selector (epoll)", ("EpollSelector.select",)),
)
"""Named slices of the profile: a sample counts once per group it passes through."""


def summarise(raw: str, top: int = 15) -> dict[str, Any]:
    """Shares per thread, per named group (inclusive) and the top self-time functions.

    >>> s = summarise("thread (1): MainThread;f (a.py:1);g (b.py:2) 3\\n"
    ...               "thread (2): worker;h (c.py:3) 1\\n")
    >>> s["samples"], s["threads"][0]
    (4, ('MainThread', 0.75))
    >>> s["self"][0]
    ('g (b.py:2)', 0.75)
    >>> summarise("thread (7);main (a.py:1) 2\\n")["threads"]
    [('(unnamed)', 1.0)]
    """
    threads: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    groups: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        line = line.strip()
        if not line or " " not in line:
            continue
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = stack.split(";")
        total += count
        head = _THREAD.match(frames[0])
        # A thread sampled before it had a name reads "thread (TID)" with no ": name".
        name = (head.group(1) or "(unnamed)").strip() if head else "?"
        # Worker threads carry numbered names; fold them.
        threads[re.sub(r"[-_]\d+(_\d+)?$", "", name)] += count
        body = frames[1:] if head else frames
        if body:
            own[body[-1]] += count
        names = {_LINE_NO.sub(")", f).split(" (", 1)[0] for f in body}
        for label, needles in GROUPS:
            if any(needle in names for needle in needles):
                groups[label] += count
    if total == 0:
        return {"samples": 0, "threads": [], "groups": [], "self": []}
    return {
        "samples": total,
        "threads": [(t, n / total) for t, n in threads.most_common()],
        "groups": [(g, groups[g] / total) for g, _ in GROUPS],
        "self": [(f, n / total) for f, n in own.most_common(top)],
    }
