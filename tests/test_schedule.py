"""Schedules and tokens: round trips, versioning, fingerprints, damaged input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim
from sim._schedule import (
    Anchored,
    Decision,
    Schedule,
    Site,
    decode,
    decode_any,
    label_key,
    token_fingerprint,
    token_version,
)

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


# -- rs2: anchored decisions, the code that ran, the failure it showed -----------------------------
sites = st.builds(
    Site,
    st.sampled_from(["registry.py", "bridge.py", "?"]),
    st.integers(0, 5000),
    st.integers(0, 2**24),
)
anchored_decisions = st.lists(
    st.builds(
        Decision,
        st.integers(0, 300),
        st.sampled_from(["main", "requests-u1", "reconnect-u1#2"]),
        site=st.none() | sites,
        to_site=st.none() | sites,
        label=st.sampled_from(["", "bridge_wired", "emit:agent_started"]),
    ),
    max_size=40,
)
code_tables = st.lists(st.tuples(st.integers(0, 255), st.integers(0, 2**16 - 1)), max_size=12)


@given(anchored_decisions, code_tables, st.sampled_from(["", "assertion", "race"]), st.booleans())
def test_rs2_token_round_trips_anchors_code_and_failure(
    items: list[Decision], code: list[tuple[int, int]], kind: str, batch: bool
) -> None:
    schedule = Schedule(tuple(items), mode="batch" if batch else "free")
    sealed = Anchored("ident12345", schedule, tuple(code), kind, 0xDEADBEEF)
    token = sealed.encode()
    assert token.startswith("rs2.ident12345.")
    assert "=" not in token and "+" not in token and token == token.lower()
    back = decode_any(token, "ident12345")
    assert back.code == tuple(code) and (back.kind, back.signature) == (kind, 0xDEADBEEF)
    assert back.schedule.mode == schedule.mode
    for got, want in zip(back.schedule.decisions, items, strict=True):
        assert (got.index, got.task, got.site, got.to_site, got.label) == (
            want.index,
            want.task,
            want.site,
            want.to_site,
            label_key(want.label),  # a token keeps a one-byte hash of the label
        )


def test_rs2_token_for_another_scenario_is_refused_and_names_parameters() -> None:
    token = Anchored("aaaaaaaaaa", Schedule((Decision(0, "a"),))).encode()
    with pytest.raises(sim.TokenMismatch, match="other parameters"):
        decode(token, "bbbbbbbbbb")
    with pytest.raises(sim.TokenError, match="damaged"):
        decode(token[:-5], "aaaaaaaaaa")


def test_rs1_tokens_still_decode() -> None:
    token = Schedule((Decision(1, "b"), Decision(0, "a"))).encode("old0000000")
    assert token_version(token) == "rs1"
    assert decode(token, "old0000000").indices == (1, 0)


@given(anchored_decisions, st.integers(0, 10_000), st.integers(0, 31))
def test_a_damaged_rs2_token_is_a_token_error_never_a_crash(
    items: list[Decision], where: int, flip: int
) -> None:
    token = Anchored("ident12345", Schedule(tuple(items)), ((1, 2),), "race", 7).encode()
    head, payload = token.rsplit(".", 1)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    position = where % len(payload)
    damaged = payload[:position] + alphabet[flip] + payload[position + 1 :]
    with contextlib.suppress(sim.TokenError):
        decode_any(f"{head}.{damaged}", "ident12345")
