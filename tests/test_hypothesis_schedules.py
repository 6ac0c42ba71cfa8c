"""``sim.schedules()``: Hypothesis explores interleavings and shrinks failing ones to the minimum.

The first test is the documented pattern: a *sync* test (``schedule.run`` does its own
``trio.run``), state built inside the scenario, and the scenario run with the drawn schedule.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import trio
from hypothesis import given, settings

import sim
from sim._schedule import decode

from models import locked_update, lost_update


@given(schedule=sim.schedules())
def test_locked_update_passes_on_every_drawn_schedule(schedule) -> None:
    run = schedule.run(locked_update)
    assert run.failure is None
    assert schedule.token is not None


async def lost_event() -> None:
    event = trio.Event()

    async def waiter() -> None:
        await trio.sleep(0)
        sim.note("waiting")
        await event.wait()
        sim.note("woke")

    async def setter() -> None:
        sim.note("set")
        event.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        nursery.start_soon(setter)


WAIT_BEFORE_SET = sim.Order.edge("waiting", "set")


def failing_message(test) -> str:
    """Run a ``@given`` test that must fail; the message of the (shrunk) failure it raised."""
    with pytest.raises(AssertionError) as raised:
        test()
    return str(raised.value)


def token_in(message: str) -> str:
    found = re.search(r"racesim replay (\S+)", message)
    assert found, message
    return found.group(1)


def test_a_lost_update_is_found_and_shrunk_to_one_preemption() -> None:
    @settings(database=None, max_examples=200)
    @given(schedule=sim.schedules())
    def test(schedule) -> None:
        schedule.run(lost_update, races=False)

    message = failing_message(test)
    assert "[assertion] AssertionError: lost update" in message
    token = token_in(message)
    replayed = sim.replay(lost_update, token, races=False)
    assert replayed.failure is not None
    assert replayed.failure.kind == "assertion"
    assert replayed.schedule.preemptions == 1


def test_an_order_violation_is_found_and_shrunk_to_one_decision() -> None:
    @settings(database=None, max_examples=200)
    @given(schedule=sim.schedules())
    def test(schedule) -> None:
        schedule.run(lost_event, requires=WAIT_BEFORE_SET, races=False)

    message = failing_message(test)
    assert "required order waiting -> set" in message
    token = token_in(message)
    assert len(decode(token)) == 1
    replayed = sim.replay(lost_event, token, requires=WAIT_BEFORE_SET, races=False)
    assert replayed.failure is not None
    assert replayed.failure.kind == "order"


def test_a_drawn_schedule_shows_its_token_once_it_ran() -> None:
    seen = []

    @settings(database=None, max_examples=5)
    @given(schedule=sim.schedules())
    def test(schedule) -> None:
        assert repr(schedule) == "sim.schedules() (not run yet)"
        schedule.run(locked_update)
        assert schedule.token in repr(schedule)
        with pytest.raises(RuntimeError, match="runs once per example"):
            schedule.run(locked_update)
        seen.append(schedule.schedule)

    test()
    assert seen


def test_past_max_decisions_the_last_task_keeps_running() -> None:
    @settings(database=None, max_examples=20)
    @given(schedule=sim.schedules(max_decisions=0))
    def test(schedule) -> None:
        schedule.run(lost_update, races=False)
        assert schedule.schedule.preemptions == 0

    test()


def test_bad_arguments_say_what_is_valid() -> None:
    with pytest.raises(ValueError, match="mode must be 'free' or 'batch'"):
        sim.schedules(mode="fast")
    with pytest.raises(ValueError, match="max_decisions must be >= 0"):
        sim.schedules(max_decisions=-1)


def test_importing_sim_does_not_import_hypothesis() -> None:
    code = "import sys, sim; print('hypothesis' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
