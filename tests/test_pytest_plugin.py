"""The pytest plugin, driven through ``pytester`` on small test files written per test.

Most sessions run in-process (fast); the cross-process replay runs in a subprocess on purpose.
"""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET

import pytest

INI = """
[pytest]
addopts = --strict-markers
trio_mode = true
xfail_strict = true
filterwarnings = error
"""

COUNTER = """
import pytest
import trio

import sim


@sim.tracked
class Counter:
    def __init__(self):
        self.value = 0


async def increment(counter):
    seen = counter.value
    await trio.sleep(0)
    counter.value = seen + 1
"""

RACY = """
@pytest.mark.racesim(strategy="dfs", races=False)
async def test_lost_update():
    counter = Counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(increment, counter)
        nursery.start_soon(increment, counter)
    assert counter.value == 2
"""

LOCKED = """
@pytest.mark.racesim(strategy="dfs")
async def test_locked():
    counter = Counter()
    lock = trio.Lock()

    async def locked_increment():
        async with lock:
            await increment(counter)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(locked_increment)
        nursery.start_soon(locked_increment)
    assert counter.value == 2
"""

TOKEN = re.compile(r"--racesim-replay (rs[12]\.[0-9a-f]+\.[a-z2-7]+)")


def _write(pytester: pytest.Pytester, *parts: str, ini: str = INI, name: str = "test_racy") -> None:
    pytester.makeini(ini)
    pytester.makepyfile(**{name: "\n".join(textwrap.dedent(part) for part in (COUNTER, *parts))})


def _token(result: pytest.RunResult) -> str:
    found = TOKEN.search(result.stdout.str())
    assert found is not None, result.stdout.str()
    return found.group(1)


def _interleaving(result: pytest.RunResult) -> str:
    text = result.stdout.str()
    start = text.index("interleaving (one column per task")
    return text[start : text.index("\n\n", start)]


def test_racy_test_fails_with_shrunk_trace_explanation_and_replay_commands(
    pytester: pytest.Pytester,
) -> None:
    _write(pytester, RACY)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    token = _token(result)
    result.stdout.fnmatch_lines(
        [
            "racesim: assertion in schedule * of * explored (strategy dfs*)",
            "AssertionError: assert 1 == 2",
            "interleaving (one column per task: where each step stopped):",
            "step  main * increment * increment#2 * notes",
            "   0  test_racy.py:* spawn increment, increment#2",
            "traceback:",
            '  File "*test_racy.py", line *, in test_lost_update',
            "replay exactly this schedule with:",
            f"  pytest test_racy.py::test_lost_update --racesim-replay {token}",
            f"  racesim replay {token}",
        ]
    )
    assert "Traceback" not in result.stdout.str().split("traceback:")[0]
    assert "racesim exploration" not in result.stdout.str()  # statistics only with -v


def test_replay_token_fails_identically_on_the_first_schedule(pytester: pytest.Pytester) -> None:
    _write(pytester, RACY, LOCKED, "async def test_unmarked():\n    pass\n")
    explored = pytester.runpytest("-v")
    token = _token(explored)

    replayed = pytester.runpytest("-v", "--racesim-replay", token)
    replayed.assert_outcomes(failed=1, deselected=2)
    assert _token(replayed) == token
    assert _interleaving(replayed) == _interleaving(explored)
    replayed.stdout.fnmatch_lines(
        [
            "racesim: assertion in the replayed schedule",
            "AssertionError: assert 1 == 2",
            f"test_racy.py::test_lost_update: replayed 1 schedule, failed: token {token}",
        ]
    )


def test_replay_selects_the_parametrized_case_its_token_was_printed_for(
    pytester: pytest.Pytester,
) -> None:
    _write(
        pytester,
        RACY.replace(
            "async def test_lost_update():",
            "@pytest.mark.parametrize('tasks', [2, 3])\nasync def test_lost_update(tasks):",
        )
        .replace("        nursery.start_soon(increment, counter)\n", "")
        .replace(
            "    async with trio.open_nursery() as nursery:\n",
            "    async with trio.open_nursery() as nursery:\n"
            "        for _ in range(tasks):\n"
            "            nursery.start_soon(increment, counter)\n",
        )
        .replace("== 2", "== tasks"),
    )
    explored = pytester.runpytest()
    explored.assert_outcomes(failed=2)
    tokens = TOKEN.findall(explored.stdout.str())
    assert len(set(tokens)) == 2
    replayed = pytester.runpytest("--racesim-replay", tokens[1])
    replayed.assert_outcomes(failed=1, deselected=1)
    replayed.stdout.fnmatch_lines(
        ["  pytest 'test_racy.py::test_lost_update[[]3[]]' --racesim-replay *"]
    )


def test_replay_reproduces_in_a_fresh_process(pytester: pytest.Pytester) -> None:
    _write(pytester, RACY)
    explored = pytester.runpytest()
    token = _token(explored)
    replayed = pytester.runpytest_subprocess("--racesim-replay", token)
    replayed.assert_outcomes(failed=1)
    assert _interleaving(replayed) == _interleaving(explored)


def test_replay_passes_once_the_race_is_fixed_without_changing_the_schedule(
    pytester: pytest.Pytester,
) -> None:
    # The same test node and source, but the system under test (a helper outside the test) is
    # fixed: the token still names the test, the decisions still apply, and the run now passes.
    _write(pytester, RACY)
    token = _token(pytester.runpytest())
    source = (pytester.path / "test_racy.py").read_text()
    fixed = source.replace(
        "    seen = counter.value\n    await trio.sleep(0)\n    counter.value = seen + 1\n",
        "    await trio.sleep(0)\n    counter.value += 1\n",
    )
    assert fixed != source
    (pytester.path / "test_racy.py").write_text(fixed)
    pytester.runpytest("--racesim-replay", token).assert_outcomes(passed=1)


def test_token_of_an_edited_test_is_refused_with_a_usage_error(pytester: pytest.Pytester) -> None:
    _write(pytester, RACY)
    token = _token(pytester.runpytest())
    source = (pytester.path / "test_racy.py").read_text()
    (pytester.path / "test_racy.py").write_text(source.replace("== 2", "== 2, 'lost'"))
    result = pytester.runpytest("--racesim-replay", token)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*none of the 1 collected racesim test(s)*edited the test*"])


def test_correct_test_passes_and_verbose_summary_reports_exhausted(
    pytester: pytest.Pytester,
) -> None:
    _write(pytester, LOCKED)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*racesim exploration*",
            "test_racy.py::test_locked: * schedules (dfs*), exhausted, *s",
        ]
    )
    schedules = int(re.search(r"test_locked: (\d+) schedules", result.stdout.str()).group(1))
    assert schedules > 1


def test_marked_body_runs_once_per_schedule_and_unmarked_trio_test_once_under_pytest_trio(
    pytester: pytest.Pytester,
) -> None:
    _write(
        pytester,
        """
        MARKED_RUNS = []
        PLAIN_RUNS = []

        @pytest.mark.racesim(
            strategy="dfs", suppress_health_check=[sim.HealthCheck.nothing_shared]
        )
        async def test_a_marked():  # two sleepers share nothing, on purpose
            MARKED_RUNS.append(1)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.sleep, 0)
                nursery.start_soon(trio.sleep, 0)

        async def test_b_plain(autojump_clock, nursery):
            PLAIN_RUNS.append(1)
            await trio.sleep(10)
            assert trio.current_time() == 10  # pytest-trio's autojump clock drives the run

        def test_c_counts():
            assert len(PLAIN_RUNS) == 1
            assert len(MARKED_RUNS) > 1
        """,
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_marker_works_with_plain_trio_marker_without_trio_mode(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        RACY.replace("@pytest.mark.racesim", "@pytest.mark.trio\n@pytest.mark.racesim"),
        "@pytest.mark.trio\nasync def test_plain():\n    await trio.sleep(0)\n",
        ini=INI.replace("trio_mode = true\n", ""),
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    _token(result)


def test_marker_works_without_pytest_trio(pytester: pytest.Pytester) -> None:
    _write(pytester, RACY, ini=INI.replace("trio_mode = true\n", ""))
    result = pytester.runpytest("-p", "no:trio")
    result.assert_outcomes(failed=1)
    _token(result)


def test_known_race_can_be_documented_with_strict_xfail(pytester: pytest.Pytester) -> None:
    _write(
        pytester, RACY.replace("@pytest.mark.racesim", "@pytest.mark.xfail\n@pytest.mark.racesim")
    )
    pytester.runpytest().assert_outcomes(xfailed=1)


def test_sync_fixture_values_are_passed_to_every_schedule(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        """
        @pytest.fixture
        def start():
            return 40

        @pytest.mark.racesim(strategy="dfs")
        async def test_fixture_value(start):
            box = [start]

            async def add():
                await trio.sleep(0)
                box.append(1)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(add)
                nursery.start_soon(add)
            assert box[0] + len(box) - 1 == 42
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_async_fixtures_are_refused_naming_the_fixture(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        """
        @pytest.fixture
        async def connection():
            return 1

        @pytest.fixture
        def client(connection):
            return connection

        @pytest.mark.racesim(strategy="dfs")
        async def test_indirect(client):
            pass

        @pytest.mark.racesim(strategy="dfs")
        async def test_trio_nursery(nursery):
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_indirect: the test uses the async fixture 'connection'*trio.run cannot nest*",
            "*test_trio_nursery: the test uses the async fixture 'nursery'*",
        ]
    )


def test_trio_clock_fixture_is_refused(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        """
        @pytest.mark.racesim(strategy="dfs")
        async def test_clocked(autojump_clock):
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*fixture 'autojump_clock' is a trio clock*"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "@pytest.mark.racesim(strategy='dfs')\ndef test_sync():\n    pass\n",
            "@pytest.mark.racesim needs an 'async def' test*",
        ),
        (
            "@pytest.mark.racesim(strategy='dfs', bogus=1)\nasync def test_bogus():\n    pass\n",
            "unknown racesim marker argument(s) bogus; valid: strategy, *",
        ),
        (
            "from hypothesis import given, strategies as st\n"
            "@pytest.mark.racesim(strategy='dfs')\n@given(st.integers())\n"
            "async def test_given(x):\n    pass\n",
            "@pytest.mark.racesim cannot be combined with Hypothesis' @given*",
        ),
        (
            "@pytest.mark.racesim(strategy='nope')\nasync def test_nope():\n    pass\n",
            "unknown strategy 'nope'*",
        ),
        (
            "@pytest.mark.racesim(strategy='dfs', mode='wild')\nasync def test_mode():\n    pass\n",
            "mode must be 'free' or 'batch', not 'wild'",
        ),
    ],
)
def test_bad_marker_fails_the_test_with_what_to_fix(
    pytester: pytest.Pytester, source: str, message: str
) -> None:
    _write(pytester, source)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"test_racy.py::test_*: {message}"])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--racesim-seed=x", "*--racesim-seed='x': expected an integer >= 0*"),
        ("--racesim-max-schedules=0", "*--racesim-max-schedules='0': expected an integer >= 1*"),
        ("--racesim-strategy=nope", "*'nope' is not a racesim strategy; choose one of: *dfs*"),
        ("--racesim-replay=garbage", "*'garbage' is not a racesim token*"),
        ("--racesim-replay=rs1.0123456789.!!", "*payload is damaged*copy the whole token*"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, option: str, message: str) -> None:
    _write(pytester, LOCKED)
    result = pytester.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_options_override_the_marker(pytester: pytest.Pytester) -> None:
    _write(pytester, RACY.replace("races=False", "races=False, max_schedules=1"))
    tiny = pytester.runpytest()  # one schedule passes, but nothing was compared: a health check
    tiny.assert_outcomes(failed=1)
    tiny.stdout.fnmatch_lines(["*HealthCheckWarning: the budget stopped the exploration after 1*"])
    harder = pytester.runpytest("-v", "--racesim-max-schedules=50", "--racesim-strategy=random")
    harder.assert_outcomes(failed=1)
    harder.stdout.fnmatch_lines(["racesim: assertion in schedule * (strategy random*"])


def test_default_strategy_is_dpor(pytester: pytest.Pytester) -> None:
    _write(pytester, "@pytest.mark.racesim\nasync def test_default():\n    pass\n")
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["test_racy.py::test_default: 1 schedule* (dpor*"])


def test_junit_properties_carry_statistics_and_token(pytester: pytest.Pytester) -> None:
    _write(pytester, RACY, LOCKED)
    result = pytester.runpytest("--junitxml=junit.xml")
    token = _token(result)
    root = ET.parse(pytester.path / "junit.xml").getroot()
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }
    assert properties["test_locked"]["racesim_exhausted"] == "True"
    assert properties["test_locked"]["racesim_exit_reason"] == "exhausted"
    assert int(properties["test_locked"]["racesim_schedules"]) > 1
    assert "racesim_token" not in properties["test_locked"]
    assert properties["test_lost_update"]["racesim_token"] == token
    assert properties["test_lost_update"]["racesim_exit_reason"] == "failure_limit"


def test_a_test_without_any_decorator_fails_under_the_default_strategy_and_replays(
    pytester: pytest.Pytester,
) -> None:
    plain = COUNTER.replace("@sim.tracked\n", "")
    pytester.makeini(INI)
    pytester.makepyfile(
        test_plain=textwrap.dedent(plain)
        + textwrap.dedent(
            """
            @pytest.mark.racesim
            async def test_lost_update():
                counter = Counter()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(increment, counter)
                    nursery.start_soon(increment, counter)
                assert counter.value == 2, f"lost update: {counter.value}"
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["racesim: assertion in schedule * (strategy dpor*", "*lost update: 1*"]
    )
    token = _token(result)
    replayed = pytester.runpytest(f"--racesim-replay={token}")
    replayed.assert_outcomes(failed=1)
    replayed.stdout.fnmatch_lines(["*in the replayed schedule*", "*lost update: 1*"])


def test_tool_racesim_in_pyproject_gives_the_defaults_and_the_marker_wins(
    pytester: pytest.Pytester,
) -> None:
    _write(
        pytester,
        LOCKED.replace('@pytest.mark.racesim(strategy="dfs")', "@pytest.mark.racesim()"),
        RACY.replace("test_lost_update", "test_own_budget").replace(
            'strategy="dfs", races=False', "max_schedules=2, races=False, strategy='dfs'"
        ),
    )
    pytester.makepyprojecttoml('[tool.racesim]\nstrategy = "random"\nmax_schedules = 3\n')
    result = pytester.runpytest("-v")
    text = result.stdout.str()
    assert re.search(r"test_locked: 3 schedules \(random", text), text
    assert re.search(r"test_own_budget: 2 schedules \(dfs", text), text
