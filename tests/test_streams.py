"""Bytes carry causality: stream happens-before, and delivery of in-memory streams as a decision."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import trio
import trio.testing

import sim
from sim._happens_before import Clocks

CHAIN = sim.Order.chain("client_sent", "server_got", "client_got")


async def websocket_like(pair: object = trio.testing.memory_stream_pair) -> None:
    client, server = pair()  # type: ignore[operator]

    async def serve() -> None:
        request = b""
        while len(request) < 5:
            request += await server.receive_some()
        sim.note("server_got")
        await server.send_all(b"ack:" + request)

    async def call() -> None:
        sim.note("client_sent")
        await client.send_all(b"hello")
        reply = b""
        while len(reply) < 9:
            reply += await client.receive_some()
        sim.note("client_got")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        nursery.start_soon(call)


@pytest.mark.parametrize("strategy", ["dfs", "dpor"])
def test_request_reply_over_a_memory_stream_is_ordered(strategy: str) -> None:
    result = sim.explore(websocket_like, strategy=strategy, requires=CHAIN, max_schedules=5000)
    assert result.exhausted
    assert result.failures == []


def test_request_reply_over_a_lockstep_stream_is_ordered() -> None:
    result = sim.explore(
        lambda: websocket_like(trio.testing.lockstep_stream_pair),
        strategy="dfs",
        requires=CHAIN,
        max_schedules=5000,
    )
    assert result.exhausted
    assert result.failures == []


def test_request_reply_with_delivery_decisions_is_ordered() -> None:
    async def scenario() -> None:
        sim.explore_delivery(breaks=False)
        await websocket_like()

    result = sim.explore(scenario, strategy="dpor", requires=CHAIN, max_schedules=5000)
    assert result.exhausted
    assert result.failures == []


async def two_messages() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()

    async def write() -> None:
        sim.note("before_first")
        await send.send_all(b"ab")
        await trio.lowlevel.checkpoint()  # a step boundary: the note is not part of the send's step
        sim.note("between")
        await send.send_all(b"cd")

    async def read() -> None:
        assert await receive.receive_some(1) == b"a"
        sim.note("read_first")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        nursery.start_soon(read)


def test_a_read_is_ordered_after_the_send_of_its_bytes_and_not_after_later_sends() -> None:
    traces = []

    class Collect(sim.strategies.DfsStrategy):  # type: ignore[name-defined]
        def execution_finished(self, trace, schedule):  # type: ignore[no-untyped-def]
            traces.append(trace)
            super().execution_finished(trace, schedule)

    result = sim.explore(two_messages, strategy=Collect(), max_schedules=5000)
    assert result.exhausted and result.failures == []
    later_but_unordered = 0
    for trace in traces:
        clocks = Clocks.of(trace)
        notes = {note.label: note for note in trace.notes}
        first, between, read = notes["before_first"], notes["between"], notes["read_first"]
        assert clocks.note_before(first, read)  # the bytes carry the order, buffered or not
        assert not clocks.note_before(between, read)
        later_but_unordered += between.step < read.step
    assert later_but_unordered > 0  # runs where the second send came first exist, yet unordered


async def partial_read() -> None:
    sim.explore_delivery(breaks=False)
    client, server = trio.testing.memory_stream_pair()

    async def serve() -> None:
        message = await server.receive_some()
        assert message == b"hello", f"partial read: {bytes(message)!r}"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        nursery.start_soon(client.send_all, b"hello")


async def disconnect_in_flight() -> None:
    sim.explore_delivery(partial=False)
    client, server = trio.testing.memory_stream_pair()
    got: list[bytes] = []

    async def serve() -> None:
        while data := await server.receive_some():
            got.append(bytes(data))

    async def call() -> None:
        try:
            await client.send_all(b"order")
            await client.send_all(b"commit")
        except trio.BrokenResourceError:
            return  # the client noticed: nothing is lost silently
        await client.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        nursery.start_soon(call)
    assert b"".join(got) in (b"", b"ordercommit"), f"server saw half a transaction: {got}"


@pytest.mark.parametrize("strategy", ["dpor", "random"])
@pytest.mark.parametrize("scenario", [partial_read, disconnect_in_flight])
def test_delivery_bugs_are_found_and_their_tokens_replay(strategy: str, scenario: object) -> None:
    result = sim.explore(scenario, strategy=strategy, max_schedules=2000, seed=3)  # type: ignore[arg-type]
    assert result.failures, f"{strategy} missed the bug in {result.schedules_run} schedules"
    failure = result.failures[0]
    assert failure.kind == "assertion"
    replayed = sim.replay(scenario, failure.token)  # type: ignore[arg-type]
    assert replayed.failure is not None
    assert replayed.failure.message == failure.message
    assert replayed.trace == failure.trace


def test_without_delivery_decisions_trio_delivers_at_once() -> None:
    async def whole() -> None:
        client, server = trio.testing.memory_stream_pair()

        async def serve() -> None:
            assert await server.receive_some() == b"hello"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            nursery.start_soon(client.send_all, b"hello")

    result = sim.explore(whole, strategy="dfs", max_schedules=5000)
    assert result.exhausted
    assert result.failures == []


def test_delivery_token_replays_in_another_process_with_another_hash_seed() -> None:
    result = sim.explore(partial_read, strategy="dpor", max_schedules=2000)
    failure = result.failures[0]
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import sim
        from test_streams import partial_read
        run = sim.replay(partial_read, {failure.token!r})
        print(run.failure.message.splitlines()[0])
        print(run.trace.order())
        """
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [failure.message.splitlines()[0], str(failure.trace.order())]
    assert "link1" in failure.trace.order()
