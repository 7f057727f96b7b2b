"""Garbage-collector tuning for a long-running probe process.

Why: a full (generation 2) collection walks every tracked object. After
start-up the process holds tens of thousands of long-lived objects (modules,
the OTel SDK, config, per-target state) that will never be garbage, so each
gen-2 pass re-walks them for nothing and the pause lands on the event loop,
inflating the very RTT being measured (DESIGN.md measured pauses up to
300 ms). Two remedies, applied once start-up is done:

- ``gc.freeze()`` moves everything alive now into a permanent generation the
  collector skips;
- higher thresholds make young collections rarer, so the per-probe allocation
  churn (records, spans built on the telemetry thread) is collected in fewer,
  still short, passes.

Reference cycles are still collected; only the schedule changes.
"""

from __future__ import annotations

import gc

DEFAULT_THRESHOLDS = (50_000, 20, 100)
"""gen0 allocations before a young collection, then gen1/gen2 ratios."""


def gc_tune(
    thresholds: tuple[int, int, int] = DEFAULT_THRESHOLDS, *, freeze: bool = True
) -> tuple[int, int, int]:
    """Collect once, freeze survivors (optional) and raise thresholds. Returns the old ones.

    Call it after start-up (config loaded, providers and monitors created),
    before the first probe.
    """
    previous = gc.get_threshold()
    if freeze:
        gc.collect()
        gc.freeze()
    gc.set_threshold(*thresholds)
    return (previous[0], previous[1], previous[2])
