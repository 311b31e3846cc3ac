"""Per-operation cost of the metrics (README: "Metrics and traces"): CPU time of
schema.execute of a named trivial query, with the step that counts and times each operation
(schema/extensions.py end_operation, as schema/execution.py calls it) as built and replaced by
a no-op, in interleaved rounds; then the counter and histogram update alone. CPU time, not
wall time, so that other load on the machine counts less. Run with PROMETHEUS_MULTIPROC_DIR
set to an empty directory for the multiprocess figures.

    PYTHONPATH=. python bench/metrics_overhead.py
"""

import asyncio
import statistics
import time

from rapport import metrics
from schema import execution, schema

QUERY = "query Probe { __typename }"
N = 5000


async def run(n: int) -> float:
    t = time.process_time()
    for _ in range(n):
        r = await schema.execute(QUERY)
    assert r.errors is None
    return (time.process_time() - t) / n * 1e6


async def main() -> None:
    measured = execution.end_operation
    await run(2000)
    on, off = [], []
    for _ in range(7):
        execution.end_operation = measured
        on.append(await run(N))
        execution.end_operation = lambda *a: None
        off.append(await run(N))
    execution.end_operation = measured
    with_, without = statistics.median(on), statistics.median(off)
    print(
        f"with metrics: median {with_:.1f} us/op; without: {without:.1f} us/op; "
        f"difference {with_ - without:.2f} us"
    )
    # the record itself
    t = time.process_time()
    for _ in range(100000):
        metrics.record_operation("Probe", "query", "ok", 0.001)
    print(f"record_operation alone: {(time.process_time() - t) / 100000 * 1e6:.2f} us")


if __name__ == "__main__":
    asyncio.run(main())
