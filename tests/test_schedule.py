"""Schedules and tokens: round trips, versioning, fingerprints, damaged input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim
from sim._schedule import Decision, Schedule, decode, token_fingerprint

decisions = st.lists(
    st.builds(Decision, st.integers(0, 300), st.sampled_from(["main", "worker", "agent-u1#2"])),
    max_size=60,
)


@given(decisions, st.sampled_from(["free", "batch"]), st.booleans())
def test_token_round_trips_decisions_mode_and_time(
    items: list[Decision], mode: str, explore_time: bool
) -> None:
    schedule = Schedule(tuple(items), mode=mode, explore_time=explore_time)
    token = schedule.encode("abc123")
    assert token.startswith("rs1.abc123.")
    assert token == token.strip() and "=" not in token and "+" not in token
    back = decode(token, "abc123")
    assert back.indices == schedule.indices
    assert [d.task for d in back.decisions] == [d.task for d in schedule.decisions]
    assert (back.mode, back.explore_time) == (mode, explore_time)


def test_token_for_another_scenario_version_is_refused() -> None:
    token = Schedule((Decision(1, "b"),)).encode("old0000000")
    with pytest.raises(sim.TokenMismatch, match="re-run 'racesim explore'"):
        decode(token, "new1111111")
    assert token_fingerprint(token) == "old0000000"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("hello", "not a racesim token"),
        ("rs9.abc.aaaa", "not supported"),
        ("rs1.abc.!!!!", "damaged"),
        ("rs1.abc.", "not a racesim token"),
    ],
)
def test_malformed_tokens_get_a_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(sim.TokenError, match=fragment):
        decode(text)


def test_truncated_token_is_reported_as_damaged() -> None:
    token = Schedule(tuple(Decision(i % 3, f"t{i % 3}") for i in range(40))).encode("fp")
    with pytest.raises(sim.TokenError, match="damaged"):
        decode(token[:-7], "fp")


def test_preemptions_count_switches_away_from_a_runnable_task() -> None:
    schedule = Schedule((Decision(1, "b", 2, 0), Decision(0, "a", 2, None), Decision(0, "a", 2, 0)))
    assert schedule.preemptions == 1
