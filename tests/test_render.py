"""The column-per-task rendering of traces (sim._render)."""

from __future__ import annotations

from sim._render import render_trace
from sim._trace import Access, Note, Step, TaskInfo, Trace

TASKS = (
    TaskInfo(0, "main", None, None),
    TaskInfo(1, "producer", 0, 0),
    TaskInfo(2, "consumer", 0, 0),
)


def _trace(steps: int = 3) -> Trace:
    rows = [
        Step(0, 0, 0, "app.py:10", spawned=(1, 2)),
        Step(1, 1, 0, "app.py:20", accesses=(Access("Box#1", "item", "write"),)),
        Step(
            2,
            2,
            0,
            "exit",
            accesses=(Access("Box#1", "item", "read"), Access("Lock#1", "", "acquire")),
            notes=(Note("taken", (("n", 1),), 2, 2, 0, "app.py:31"),),
        ),
    ]
    rows += [Step(seq, 1, seq, f"app.py:{seq}") for seq in range(3, steps)]
    return Trace(TASKS, tuple(rows[:steps]))


def test_each_step_sits_in_its_tasks_column() -> None:
    header, *rows = render_trace(_trace()).splitlines()
    for row, task, location in zip(
        rows, ("main", "producer", "consumer"), ("app.py:10", "app.py:20", "exit"), strict=True
    ):
        assert row.index(location) == header.index(task)


def test_notes_show_data_accesses_events_and_spawns_but_not_trio_objects() -> None:
    rows = render_trace(_trace()).splitlines()
    assert rows[1].endswith("spawn producer, consumer")
    assert rows[2].endswith("write Box#1.item")
    assert rows[3].endswith("note taken (n=1); read Box#1.item")
    assert "Lock#1" not in "\n".join(rows)


def test_marked_steps_carry_their_label() -> None:
    rows = render_trace(_trace(), {1: "race", 2: "race"}).splitlines()
    assert rows[2].endswith("write Box#1.item  <-- race")
    assert rows[3].endswith("<-- race")
    assert "<--" not in rows[1]


def test_long_traces_keep_both_ends_and_count_what_is_left_out() -> None:
    rows = render_trace(_trace(steps=30), max_rows=10).splitlines()
    assert len(rows) == 1 + 10 + 1
    assert rows[1].lstrip().startswith("0 ")
    assert rows[-1].lstrip().startswith("29 ")
    assert rows[6].strip() == "...  (20 steps not shown)"
