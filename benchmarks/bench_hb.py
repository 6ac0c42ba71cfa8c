"""Benchmark: happens-before graph, vector clocks, order queries and check_order on a big trace.

Builds a synthetic trace (default 10,000 steps of 8 tasks with random wake-ups, lock traffic, data
accesses and notes), then times: the networkx graph, the vector clocks, 10,000 random step/note
order queries, and ``check_order`` on a small required order. Prints a table and writes JSON to
``reports/bench/hb.json``. Target: clocks + queries under 0.5 s.

    python benchmarks/bench_hb.py            # full size
    python benchmarks/bench_hb.py --size 200 # smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import networkx as nx  # noqa: E402

from sim._happens_before import Clocks, check_order, happens_before_graph  # noqa: E402
from sim._order import Order  # noqa: E402
from sim._trace import Access, Note, Step, TaskInfo, Trace  # noqa: E402

LABELS = ("a", "b", "c", "d")


def synthetic_trace(size: int, n_tasks: int, rng: random.Random) -> Trace:
    """``size`` steps: task 0 spawns the others in its first step; every later step touches
    locks (acquire/release), tracked data, may wake another task and may record notes."""
    tasks = tuple(
        TaskInfo(i, f"task-{i}", 0 if i else None, 0 if i else None) for i in range(n_tasks)
    )
    counts = [0] * n_tasks
    steps = []
    for seq in range(size):
        task = 0 if seq == 0 else rng.randrange(n_tasks)
        accesses: list[Access] = []
        if rng.random() < 0.3:
            accesses.append(Access(f"Lock#{rng.randrange(4)}", "", "acquire"))
        if rng.random() < 0.3:
            accesses.append(Access(f"Lock#{rng.randrange(4)}", "", "release"))
        if rng.random() < 0.5:
            kind = "write" if rng.random() < 0.4 else "read"
            accesses.append(Access(f"Data#{rng.randrange(16)}", "value", kind))
        woke = ()
        if rng.random() < 0.2:
            other = rng.randrange(n_tasks)
            woke = (other,) if other != task else ()
        notes = tuple(
            Note(
                rng.choice(LABELS),
                (("run", f"r{rng.randrange(4)}"),),
                task,
                seq,
                p,
                f"bench.py:{seq}",
            )
            for p in range(rng.choice((0, 0, 1, 2)))
        )
        steps.append(
            Step(
                seq=seq,
                task=task,
                index=counts[task],
                location=f"bench.py:{seq}",
                accesses=tuple(accesses),
                woke=woke,
                spawned=tuple(range(1, n_tasks)) if seq == 0 else (),
                notes=notes,
            )
        )
        counts[task] += 1
    return Trace(tasks=tasks, steps=tuple(steps))


def run(size: int, n_tasks: int, n_queries: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    trace = synthetic_trace(size, n_tasks, rng)
    notes = trace.notes
    pairs = [(rng.randrange(size), rng.randrange(size)) for _ in range(n_queries // 2)]
    note_pairs = [(rng.choice(notes), rng.choice(notes)) for _ in range(n_queries - len(pairs))]
    order = Order.chain("a", "b", "c", per="run") | Order.edge("a", "d", per="run")

    timings: dict[str, float] = {}
    start = time.perf_counter()
    graph = happens_before_graph(trace)
    timings["graph build"] = time.perf_counter() - start

    start = time.perf_counter()
    clocks = Clocks.of(trace)
    timings["clocks build"] = time.perf_counter() - start

    start = time.perf_counter()
    before = sum(clocks.step_before(a, b) for a, b in pairs)
    before += sum(clocks.note_before(n, m) for n, m in note_pairs)
    timings[f"{n_queries} queries"] = time.perf_counter() - start

    start = time.perf_counter()
    verdicts = check_order(trace, order, clocks, graph=graph)
    timings["check_order"] = time.perf_counter() - start
    timings["clocks + queries"] = timings["clocks build"] + timings[f"{n_queries} queries"]
    timings["total"] = sum(
        timings[k] for k in ("graph build", "clocks build", f"{n_queries} queries", "check_order")
    )
    return {
        "schema": 1,
        "benchmark": "hb",
        "size": size,
        "tasks": n_tasks,
        "queries": n_queries,
        "seed": seed,
        "graph_nodes": graph.number_of_nodes(),
        "graph_edges": graph.number_of_edges(),
        "notes": len(notes),
        "queries_true": before,
        "verdicts": [[v.rule, v.group, v.status] for v in verdicts],
        "timings_s": {key: round(value, 6) for key, value in timings.items()},
        "target_clocks_plus_queries_s": 0.5,
        "python": platform.python_version(),
        "networkx": nx.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="steps in the trace")
    parser.add_argument("--tasks", type=int, default=8, help="model tasks")
    parser.add_argument("--queries", type=int, default=10_000, help="order queries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "hb.json")
    args = parser.parse_args(argv)

    result = run(args.size, args.tasks, args.queries, args.seed)
    print(
        f"happens-before: {result['size']} steps, {result['tasks']} tasks, "
        f"{result['notes']} notes, {result['graph_nodes']} nodes, {result['graph_edges']} edges"
    )
    timings = result["timings_s"]
    assert isinstance(timings, dict)
    width = max(len(key) for key in timings)
    for key, seconds in timings.items():
        print(f"  {key:<{width}}  {seconds * 1000:9.1f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
