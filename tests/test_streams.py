"""Bytes carry causality: stream happens-before, and delivery of in-memory streams as a decision."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import sim
from sim._happens_before import Clocks
from sim._run import run_once
from sim.strategies import DfsStrategy, DporStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

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


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    await listeners[0].aclose()
    return client, server


async def over_loopback_tcp() -> None:
    client, server = await tcp_pair()
    async with client, server:
        await websocket_like(lambda: (client, server))


async def over_a_socketpair() -> None:
    left, right = trio.socket.socketpair()
    async with trio.SocketStream(left) as client, trio.SocketStream(right) as server:
        await websocket_like(lambda: (client, server))


async def over_stapled_memory_channels() -> None:
    class Channel(trio.abc.Stream):  # bytes over a pair of memory channels
        def __init__(self, send: trio.MemorySendChannel, receive: trio.MemoryReceiveChannel):
            self.send, self.receive = send, receive

        async def send_all(self, data: bytes) -> None:
            await self.send.send(bytes(data))

        async def receive_some(self, max_bytes: int | None = None) -> bytes:
            return await self.receive.receive()

        async def wait_send_all_might_not_block(self) -> None:
            await trio.lowlevel.checkpoint()

        async def send_eof(self) -> None:
            await self.send.aclose()

        async def aclose(self) -> None:
            await self.send.aclose()
            await self.receive.aclose()

    up_send, up_receive = trio.open_memory_channel(4)
    down_send, down_receive = trio.open_memory_channel(4)
    await websocket_like(lambda: (Channel(up_send, down_receive), Channel(down_send, up_receive)))


@pytest.mark.parametrize("strategy", ["dfs", "dpor"])
@pytest.mark.parametrize(
    "scenario", [over_loopback_tcp, over_a_socketpair, over_stapled_memory_channels]
)
def test_request_reply_over_sockets_and_channels_is_ordered(
    strategy: str, scenario: Callable[[], Awaitable[None]]
) -> None:
    result = sim.explore(scenario, strategy=strategy, requires=CHAIN, max_schedules=3000)
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


# -- dpor against dfs on generated programs that talk over memory streams --------------------------


@sim.tracked
class Flag:
    def __init__(self) -> None:
        self.value = 0


@attrs.frozen
class StreamProgram:
    """Two to three tasks on the two ends of a memory stream pair, plus one tracked cell."""

    delivery: tuple[bool, bool] | None  #: explore_delivery(partial, breaks), or trio's delivery
    tasks: tuple[tuple[tuple[str, int], ...], ...]  #: per task: (op, argument); ends alternate

    def interleavings(self) -> int:
        """A rough bound on dfs's schedules: every stream op is about three steps; with delivery
        decisions each link is one more task (a piece per send, two when partial) plus a break."""
        steps = [
            1 + sum({"send": 3, "recv": 3, "close": 2, "sleep": 1}.get(op, 0) for op, _ in ops)
            for ops in self.tasks
        ]
        if self.delivery is not None:
            for side in range(2):
                sends = sum(op == "send" for ops in self.tasks[side::2] for op, _ in ops)
                closes = sum(op == "close" for ops in self.tasks[side::2] for op, _ in ops)
                steps.append(sends * (1 + self.delivery[0]) + closes)
                steps.extend([1] if self.delivery[1] else [])
        return math.factorial(sum(steps)) // math.prod(map(math.factorial, steps))

    def scenario(self, finals: list[object]) -> Callable[[], Awaitable[None]]:
        async def scenario() -> None:
            if self.delivery is not None:
                sim.explore_delivery(partial=self.delivery[0], breaks=self.delivery[1])
            ends = trio.testing.memory_stream_pair()
            flag = Flag()
            logs: list[list[object]] = [[] for _ in self.tasks]

            async def task(number: int) -> None:
                end, log = ends[number % 2], logs[number]
                for op, argument in self.tasks[number]:
                    try:
                        if op == "send":
                            await end.send_all(bytes([97 + number]) * argument)
                        elif op == "recv":
                            log.append(bytes(await end.receive_some(argument)))
                        elif op == "close":
                            await end.send_stream.aclose()
                        elif op == "write":
                            flag.value = argument
                        elif op == "read":
                            log.append(flag.value)
                        elif op == "sleep":
                            await trio.sleep(0)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        log.append(type(exc).__name__)

            async with trio.open_nursery() as nursery:
                for number in range(len(self.tasks)):
                    nursery.start_soon(task, number, name=f"t{number}")
            finals.append((flag.value, tuple(map(tuple, logs))))
            assert flag.value != 2 or not logs[1], "flag 2 with data at t1"

        scenario.__racesim_fingerprint__ = "generated-streams"  # type: ignore[attr-defined]
        return scenario


@st.composite
def stream_programs(draw: st.DrawFn) -> StreamProgram:
    op = st.sampled_from(["send", "send", "recv", "recv", "close", "write", "read", "sleep"])
    delivery = draw(st.none() | st.tuples(st.booleans(), st.booleans()))
    # Keep dfs exhaustive within its budget: delivery decisions multiply the interleavings.
    count = 2 if delivery is not None else draw(st.integers(2, 3))
    longest = 2 if delivery is not None or count == 3 else 3
    size = st.integers(1, 3) if delivery is None or not delivery[0] else st.integers(1, 2)
    tasks = tuple(
        tuple((draw(op), draw(size)) for _ in range(draw(st.integers(1, longest))))
        for _ in range(count)
    )
    program = StreamProgram(delivery, tasks)
    assume(program.interleavings() <= 2000)
    return program


def stream_outcomes(program: StreamProgram, strategy: object, limit: int = 120) -> tuple[set, bool]:
    finals: list[object] = []
    scenario = program.scenario(finals)
    seen: set[object] = set()
    runs = 0
    while runs < limit and strategy.new_execution():  # type: ignore[attr-defined]
        finals.clear()
        outcome = run_once(scenario, strategy)  # type: ignore[arg-type]
        strategy.execution_finished(outcome.trace, outcome.schedule)  # type: ignore[attr-defined]
        runs += 1
        detail = outcome.message if outcome.kind not in (None, "assertion") else None
        seen.add((finals[0] if finals else None, outcome.kind, detail))
    return seen, bool(getattr(strategy, "exhausted", False))


COMPARED: list[StreamProgram] = []


@settings(
    deadline=None,
    max_examples=130,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(program=stream_programs())
def dpor_matches_dfs(program: StreamProgram) -> None:
    expected, dfs_done = stream_outcomes(program, DfsStrategy())
    assume(dfs_done)
    found, dpor_done = stream_outcomes(program, DporStrategy())
    assert dpor_done
    assert found == expected
    COMPARED.append(program)


def test_dpor_reaches_every_outcome_dfs_reaches_over_memory_streams() -> None:
    COMPARED.clear()
    dpor_matches_dfs()
    assert len(COMPARED) >= 100
    deciding = [p for p in COMPARED if p.delivery is not None]
    assert len(deciding) >= 20  # delivery decisions, partial pieces and breaks are compared too
    assert any(p.delivery[0] for p in deciding) and any(p.delivery[1] for p in deciding)  # type: ignore[index]
