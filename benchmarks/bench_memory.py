"""Benchmark: does memory stay flat over 10^5 - 10^6 schedules of one exploration?

One ``sim.explore`` call on a small passing scenario (two tasks updating a ``@sim.tracked`` counter
under a ``trio.Lock``; about 10 steps, so every run is judged: vector clocks, the required-order
and data-race checks) with ``strategy="random"`` and no failures, so no run should be retained.
``on_progress`` samples the resident set size (``VmRSS`` from /proc/self/status; ``ru_maxrss`` for
the peak) every few thousand schedules, and the number of live Python objects at each power of ten.
Memory is flat when RSS stops growing after warm-up: we report the growth from 10^3 schedules to
the end, and the growth per 10^5 schedules over the second half of the run (a leak shows there).

A second, shorter run uses ``dfs`` on 3 tasks x 4 checkpoints (756,756 interleavings), where every
schedule is a new interleaving: it shows what the exploration keeps per *distinct* schedule (for
``Result.distinct_orders``; since 2fe118d an 8-byte digest per order, capped at 100,000 — so this
run goes to 200,000 schedules, past the cap).

The full size is 10^6 schedules; the rate is measured first and the projected time printed. The
run goes to 10^6 if the projection fits the time budget (``--budget``, default 750 s), else to the
largest multiple of 10^3 that fits, and says so. ``--quick`` uses 10^3 / 10^4 (with ``--budget``
small, as the smoke test runs it, 10^3 only).

    python benchmarks/bench_memory.py           # full (about 13 minutes on a quiet machine)
    python benchmarks/bench_memory.py --quick   # smoke size
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
import classic

import sim


def locked_counter() -> classic.Scenario:
    async def scenario() -> None:
        counter = classic.Cell()
        lock = trio.Lock()

        async def increment() -> None:
            async with lock:
                seen = counter.value
                await trio.sleep(0)
                counter.value = seen + 1

        await classic._run_all(increment, increment)
        assert counter.value == 2

    return classic._named(scenario, "memory-locked-counter")


def checkpoints(tasks: int, steps: int) -> classic.Scenario:
    async def scenario() -> None:
        async def worker() -> None:
            for _ in range(steps):
                await trio.sleep(0)

        await classic._run_all(*([worker] * tasks))

    return classic._named(scenario, f"memory-{tasks}x{steps}")


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rate(scenario, strategy: str, schedules: int) -> float:
    with _common.Stopwatch() as watch:
        sim.explore(scenario, strategy=strategy, max_schedules=schedules, shrink=False)
    return schedules / watch.wall


def run(scenario, strategy: str, schedules: int, every: int) -> dict[str, object]:
    samples: list[tuple[int, int, float]] = []
    objects: dict[int, int] = {}
    start = time.perf_counter()
    decade = 1000

    def progress(done: int, failures: int) -> None:
        nonlocal decade
        if done % every == 0 or done == schedules:
            samples.append((done, rss_kib(), time.perf_counter() - start))
        if done == decade:
            objects[done] = len(gc.get_objects())
            decade *= 10

    gc.collect()
    before = rss_kib()
    result = sim.explore(
        scenario,
        strategy=strategy,
        max_schedules=schedules,
        shrink=False,
        on_progress=progress,
    )
    elapsed = time.perf_counter() - start
    after = rss_kib()
    at_1000 = next((rss for done, rss, _ in samples if done >= 1000), samples[0][1])
    half = [s for s in samples if s[0] >= schedules // 2]
    slope = None  # too short a span to extrapolate
    if len(half) >= 2 and half[-1][0] - half[0][0] >= 10_000:
        slope = (half[-1][1] - half[0][1]) / (half[-1][0] - half[0][0]) * 100_000
    return {
        "strategy": strategy,
        "schedules": result.schedules_run,
        "failures": len(result.failures),
        "distinct_orders": result.distinct_orders,
        "seconds": elapsed,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_at_1000_kib": at_1000,
        "growth_after_1000_kib": after - at_1000,
        "growth_per_100k_second_half_kib": slope,
        "peak_rss_kib": peak_kib(),
        "live_objects_at": objects,
        "samples": samples,
    }


def mib(kib: float) -> str:
    return f"{kib / 1024:,.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke size (10^3 / 10^4)")
    parser.add_argument("--budget", type=float, default=750.0, help="seconds for the main run")
    parser.add_argument("--dfs-schedules", type=int, default=200_000)
    args = parser.parse_args(argv)
    info = _common.machine()
    _common.console.print(_common.machine_line(info))
    scenario = locked_counter()
    sizes = (1_000, 10_000) if args.quick else (100_000, 1_000_000)

    per_second = rate(scenario, "random", 300 if args.quick else 3000)
    projected = {size: size / per_second for size in sizes}
    fits = [size for size in sizes if projected[size] <= args.budget]
    affordable = max(1_000, int(per_second * args.budget) // 1_000 * 1_000)
    target = max(fits) if fits else min(affordable, sizes[-1])
    note = (
        f"ran the full size {target:,}"
        if target == sizes[-1]
        else f"ran {target:,} schedules: {sizes[-1]:,} would take ~{projected[sizes[-1]]:,.0f} s, "
        f"over the {args.budget:.0f} s budget"
    )
    _common.console.print(
        f"rate {per_second:,.0f} schedules/s; projected "
        + ", ".join(f"{size:,}: {seconds:,.0f} s" for size, seconds in projected.items())
        + f"; {note}"
    )
    main_run = run(scenario, "random", target, every=max(100, target // 50))
    dfs_n = 300 if args.quick else args.dfs_schedules
    dfs_run = run(checkpoints(3, 4), "dfs", dfs_n, every=max(100, dfs_n // 20))

    rows = []
    for label, r in (
        ("random, locked counter (passing)", main_run),
        ("dfs, 3 tasks x 4 ckpts (every schedule new)", dfs_run),
    ):
        marks = {
            done: rss
            for done, rss, _ in r["samples"]
            if done in (1_000, 10_000, 100_000, 1_000_000) or done == r["schedules"]
        }
        rows.append(
            (
                label,
                f"{r['schedules']:,}",
                f"{r['distinct_orders']:,}",
                f"{r['seconds']:,.0f} s",
                ", ".join(f"{k:,}: {mib(v)}" for k, v in marks.items()),
                mib(r["rss_after_kib"]),
                mib(r["growth_after_1000_kib"]),
                "—"
                if r["growth_per_100k_second_half_kib"] is None
                else f"{r['growth_per_100k_second_half_kib'] / 1024:,.2f} MiB",
            )
        )
    _common.table(
        "Resident memory over one exploration (VmRSS)",
        [
            "run",
            "schedules",
            "distinct orders",
            "time",
            "RSS at",
            "RSS at end",
            "growth since 10^3",
            "per 10^5 (2nd half)",
        ],
        rows,
    )
    for label, r in (("random", main_run), ("dfs", dfs_run)):
        _common.console.print(
            f"live Python objects ({label}): "
            + ", ".join(f"{k:,}: {v:,}" for k, v in r["live_objects_at"].items())
        )
    _common.write_json(
        "memory",
        {
            "machine": info,
            "quick": args.quick,
            "rate_schedules_per_s": per_second,
            "projected_seconds": projected,
            "budget_s": args.budget,
            "size_note": note,
            "random": main_run,
            "dfs": dfs_run,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
