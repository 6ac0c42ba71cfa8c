"""The ``racesim`` command (sim.cli).

Every exit code and every bad-input case runs as a user runs it: a subprocess in a project
directory. The rest (tables, JSON, shards, workers, reports) calls ``sim.cli.main`` in process,
which is the same code without the interpreter start-up. The fixture scenarios are tiny workloads
of the bundled system (a few to a few hundred schedules each), written into a temporary project so
every test owns its scenarios/ and reports/.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

from sim import cli
from sim._run import run_once
from sim._scenario import load_scenario
from sim._schedule import Decision, Schedule
from sim.strategies import RandomStrategy

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    Main = Callable[..., tuple[int, str, str]]

_WORKLOAD = """
[workload]
users = 1
agents_per_user = 1
tools_per_agent = 0
thinking_steps = 0
concurrent_wiring = true
"""

RACE = f"""
[scenario]
description = "fixture: a request that arrives before the wiring"
system = "agent_registry"
variant = "legacy"
expect = "race"
{_WORKLOAD}
[explore]
strategy = "dfs"
preemption_bound = 1
max_schedules = 500
max_failures = 3

[expect_failure]
kinds = ["race"]
"""

CLEAN = f"""
[scenario]
description = "fixture: the remediated wiring, clean"
system = "agent_registry"
variant = "remediated"
expect = "clean"
{_WORKLOAD}
[explore]
strategy = "dfs"
preemption_bound = 1
max_schedules = 500
"""

#: A workload whose only failure is a violated required order (a reconnect during the run).
ORDER = """
[scenario]
description = "fixture: a reconnect during the run reorders the events"
system = "agent_registry"
variant = "legacy"
expect = "race"

[workload]
users = 1
agents_per_user = 1
tools_per_agent = 0
thinking_steps = 0
reconnects = 1

[explore]
strategy = "dfs"
preemption_bound = 1
max_schedules = 500
races = false

[expect_failure]
kinds = ["order"]
"""

RANDOM = f"""
[scenario]
description = "fixture: the same race, found by random scheduling"
system = "agent_registry"
variant = "legacy"
expect = "race"
{_WORKLOAD}
[explore]
strategy = "random"
seed = 0
max_schedules = 200
max_failures = 1

[expect_failure]
kinds = ["assertion"]
"""

#: What the ``racesim`` console script runs.
MAIN = "import sys; from sim.cli import main; sys.exit(main())"
NAMES = ["after_wiring", "before_wiring", "before_wiring_random"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with scenarios/ holding a race, a clean and a randomised scenario."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "before_wiring.toml").write_text(RACE)
    (scenarios / "after_wiring.toml").write_text(CLEAN)
    (scenarios / "before_wiring_random.toml").write_text(RANDOM)
    return tmp_path


def racesim(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def main(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Main:
    """``racesim ARGS`` in this process (fast), in the project directory: (exit code, out, err).
    Exit codes and bad input are tested through a real subprocess (``racesim``) instead."""
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the command adds the project root to it

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def explore_json(main: Main, *args: str) -> dict:
    code, out, err = main("explore", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def outcomes(run: dict) -> list[tuple[str, str, str | None]]:
    return [
        (r["scenario"]["name"], r["verdict"], r["failure"] and r["failure"]["token"])
        for r in run["results"]
    ]


def assert_bad_input(done: subprocess.CompletedProcess[str], *phrases: str) -> None:
    """Exit 2, one line on stderr naming the problem, no traceback."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("racesim: error: ")
    assert "Traceback" not in done.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


# -- exit codes, as a subprocess -----------------------------------------------------------------
def test_explore_exits_0_when_every_verdict_is_as_expected_and_writes_reports(
    project: Path,
) -> None:
    done = racesim(project, "explore")
    assert done.returncode == 0, done.stdout + done.stderr
    header = done.stdout.splitlines()[0].split()
    assert header == ["scenario", "variant", "expected", "verdict", "schedules", "time", "replay"]
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[2:5]}
    assert set(rows) == set(NAMES)
    assert "✓ clean" in rows["after_wiring"]
    assert re.search(r"✓ race found \(race\) .*racesim replay rs[12]\.", rows["before_wiring"])
    assert "3 scenarios: 3 as expected, 0 not as expected" in done.stdout
    for name in NAMES:
        files = {p.name for p in (project / "reports" / name).iterdir()}
        expected = {"result.json", "report.html"} | ({"hb.dot"} if "before" in name else set())
        assert files == expected
    assert (project / "reports" / "run.json").is_file()
    assert (project / "reports" / "index.html").is_file()
    progress = [line for line in done.stderr.splitlines() if line.startswith("racesim: [")]
    assert len(progress) == 3  # not a terminal: one quiet line per scenario
    assert progress[0].startswith("racesim: [1/3] after_wiring: clean after ")


def test_explore_exits_1_when_a_verdict_is_not_as_expected(project: Path) -> None:
    (project / "scenarios" / "before_wiring.toml").write_text(
        RACE.replace('expect = "race"', 'expect = "clean"').split("[expect_failure]")[0]
    )
    done = racesim(project, "explore", "--junit", "junit.xml")
    assert done.returncode == 1, done.stderr
    assert "NOT as expected: before_wiring expected clean, got race found (" in done.stdout
    root = ET.parse(project / "junit.xml").getroot()
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed == ["before_wiring"]


def test_replay_of_a_printed_token_exits_1_when_the_failure_reproduces(
    project: Path, main: Main
) -> None:
    failure = explore_json(main, "scenarios/before_wiring.toml")["results"][0]["failure"]
    assert failure["replay_command"] == f"racesim replay {failure['token']}"
    done = racesim(project, *failure["replay_command"].split()[1:])
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("replaying before_wiring (scenarios/before_wiring.toml), token rs2.")
    assert f"[{failure['kind']}] {failure['message']}" in done.stdout
    header = next(line for line in lines if line.startswith("step"))
    for task in failure["trace"]["tasks"]:
        assert task["name"] in header
    assert "the failure reproduces (exit 1)" in done.stdout
    replayed = json.loads(
        (project / "reports" / "before_wiring" / "replay" / "result.json").read_text()
    )
    assert replayed["failure"]["trace"] == failure["trace"]
    assert replayed["verdict"] == "failure reproduced"


def test_replay_exits_0_when_the_run_passes_now(project: Path) -> None:
    scenario = load_scenario(project / "scenarios" / "after_wiring.toml")
    strategy = RandomStrategy(4)
    strategy.new_execution()
    fn, _ = scenario.build()
    outcome = run_once(fn, strategy, seed=4)
    assert outcome.kind is None
    done = racesim(project, "replay", outcome.schedule.encode(scenario.fingerprint))
    assert done.returncode == 0, done.stderr
    assert "the run passes now" in done.stdout


def test_explore_shows_a_live_progress_bar_on_a_terminal(project: Path) -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "LINES": "40", "TERM": "xterm"}
    with subprocess.Popen(
        [sys.executable, "-c", MAIN, "explore"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=120) == 0
    os.close(leader)
    screen = b"".join(chunks).decode(errors="replace")
    assert "scenarios" in screen and "/s" in screen and "failures" in screen
    assert "racesim: [1/3]" not in screen  # the bar replaces the plain lines


# -- bad input: exit 2, one sentence, no traceback ---------------------------------------------
def test_missing_file_is_bad_input(project: Path) -> None:
    assert_bad_input(racesim(project, "explore", "nope.toml"), "nope.toml", "check the path")


def test_malformed_toml_is_bad_input(project: Path) -> None:
    (project / "scenarios" / "broken.toml").write_text("[scenario\ndescription = ")
    assert_bad_input(racesim(project, "explore"), "broken.toml", "invalid TOML")


def test_unknown_strategy_flag_is_bad_input(project: Path) -> None:
    assert_bad_input(
        racesim(project, "explore", "--strategy", "psychic"), "unknown strategy 'psychic'", "dfs"
    )


def test_unknown_strategy_in_a_file_is_bad_input(project: Path) -> None:
    (project / "scenarios" / "odd.toml").write_text(
        CLEAN.replace('strategy = "dfs"', 'strategy = "psychic"')
    )
    assert_bad_input(racesim(project, "list"), "odd.toml", "[explore] strategy", "psychic")


@pytest.mark.parametrize(
    ("token", "phrase"),
    [
        ("garbage", "is not a racesim token"),
        ("rs9.abcdef.payload", "token format 'rs9' is not supported"),
    ],
)
def test_unknown_token_format_is_bad_input(project: Path, token: str, phrase: str) -> None:
    assert_bad_input(racesim(project, "replay", token), phrase)


def test_damaged_token_is_bad_input(project: Path) -> None:
    fingerprint = load_scenario(project / "scenarios" / "before_wiring.toml").fingerprint
    assert_bad_input(racesim(project, "replay", f"rs1.{fingerprint}.0189!"), "damaged")


def test_token_of_another_scenario_version_is_bad_input(project: Path) -> None:
    path = project / "scenarios" / "before_wiring.toml"
    token = Schedule((Decision(0, "main"),)).encode(load_scenario(path).fingerprint)
    path.write_text(path.read_text().replace("max_schedules = 500", "max_schedules = 400"))
    assert_bad_input(
        racesim(project, "replay", token),
        "belongs to no current scenario version",
        "racesim explore",
    )


def test_replay_divergence_is_bad_input(project: Path) -> None:
    fingerprint = load_scenario(project / "scenarios" / "before_wiring.toml").fingerprint
    token = Schedule((Decision(7, "ghost"),)).encode(fingerprint)
    assert_bad_input(
        racesim(project, "replay", token), "no longer fits scenario before_wiring", "explore again"
    )


def test_replaying_a_file_without_a_seed_is_bad_input(project: Path) -> None:
    assert_bad_input(racesim(project, "replay", "scenarios/before_wiring.toml"), "--seed N")


def test_replaying_with_a_strategy_that_ignores_seeds_is_bad_input(project: Path) -> None:
    done = racesim(
        project, "replay", "scenarios/before_wiring.toml", "--seed", "1", "--strategy", "dfs"
    )
    assert_bad_input(done, "does not use a seed")


@pytest.mark.parametrize(
    ("flag", "value", "phrase"),
    [
        ("--shard", "3/2", "out of range"),
        ("--shard", "one/two", "is not i/N"),
        ("--workers", "0", "--workers must be >= 1, got 0"),
        ("--max-schedules", "lots", "is not a whole number"),
        ("--time", "-1", "must be > 0 seconds"),
    ],
)
def test_bad_flag_values_are_bad_input(project: Path, flag: str, value: str, phrase: str) -> None:
    assert_bad_input(racesim(project, "explore", flag, value), flag, phrase)


def test_no_scenarios_directory_is_bad_input(tmp_path: Path) -> None:
    assert_bad_input(racesim(tmp_path, "explore"), "no scenarios/ directory", "project root")


def test_report_of_a_missing_json_is_bad_input(project: Path) -> None:
    assert_bad_input(racesim(project, "report", "missing.json"), "does not exist")


def test_report_of_something_else_is_bad_input(project: Path) -> None:
    (project / "notes.json").write_text('{"hello": 1}')
    assert_bad_input(racesim(project, "report", "notes.json"), "is not a racesim result")


# -- internal errors (in process: nothing a user can do triggers one) ----------------------------
def test_internal_errors_say_please_report_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setitem(cli._COMMANDS, "list", broken)
    assert cli.main(["list"]) == 3
    err = capsys.readouterr().err
    assert "internal error in racesim — please report" in err
    assert "RuntimeError: boom" in err


# -- explore, in process -------------------------------------------------------------------------
def test_a_clean_scenario_that_promises_exhaustion_fails_when_not_exhausted(
    project: Path, main: Main
) -> None:
    (project / "scenarios" / "after_wiring.toml").write_text(
        CLEAN.replace("max_schedules = 500", "max_schedules = 1")
    )
    code, out, _ = main("explore", "scenarios/after_wiring.toml")
    assert code == 1
    assert "✗ clean (not exhausted)" in out


def test_a_budget_given_on_the_command_line_does_not_promise_exhaustion(main: Main) -> None:
    run = explore_json(main, "--max-schedules", "1", "scenarios/after_wiring.toml")
    assert outcomes(run) == [("after_wiring", "clean (not exhausted)", None)]
    assert run["results"][0]["settings"]["promises_exhaustion"] is False


def test_command_line_flags_override_the_files_explore_settings(main: Main) -> None:
    run = explore_json(
        main,
        "--strategy",
        "random",
        "--seed",
        "7",
        "--max-schedules",
        "5",
        "--mode",
        "batch",
        "scenarios/after_wiring.toml",
    )
    settings = run["results"][0]["settings"]
    assert (settings["strategy"], settings["seed"], settings["max_schedules"]) == ("random", 7, 5)
    assert settings["mode"] == "batch"
    assert run["results"][0]["stats"]["schedules_run"] == 5


def test_json_output_is_one_document_on_stdout_with_the_table_on_stderr(main: Main) -> None:
    code, out, err = main("explore", "--json")
    assert code == 0
    run = json.loads(out)
    assert (run["schema"], run["schema_version"], run["ok"]) == ("racesim.run", 1, True)
    assert run["command"] == "racesim explore --json"
    assert [r["scenario"]["name"] for r in run["results"]] == NAMES
    assert "3 as expected, 0 not as expected" in err


def test_workers_do_not_change_verdicts_or_tokens(main: Main) -> None:
    one = explore_json(main, "--workers", "1", "--report-dir", "r1", "--no-database")
    two = explore_json(main, "--workers", "2", "--report-dir", "r2", "--no-database")
    assert outcomes(one) == outcomes(two)
    assert [r["stats"]["schedules_run"] for r in one["results"]] == [
        r["stats"]["schedules_run"] for r in two["results"]
    ]


def test_shards_partition_the_sorted_scenarios_and_together_cover_the_whole_run(
    main: Main,
) -> None:
    whole = explore_json(main)
    first = explore_json(main, "--shard", "1/2", "--report-dir", "s1")
    second = explore_json(main, "--shard", "2/2", "--report-dir", "s2")
    assert (first["shard"], second["shard"]) == ("1/2", "2/2")
    assert outcomes(first) and outcomes(second)
    assert not {o[0] for o in outcomes(first)} & {o[0] for o in outcomes(second)}
    assert sorted(outcomes(first) + outcomes(second)) == sorted(outcomes(whole))


def test_a_shard_beyond_the_scenarios_is_empty_not_an_error(main: Main) -> None:
    run = explore_json(main, "--shard", "4/4")
    assert run["results"] == [] and run["ok"]


def test_junit_has_a_case_per_scenario(project: Path, main: Main) -> None:
    code, _, _ = main("explore", "--junit", "out/junit.xml")
    assert code == 0
    root = ET.parse(project / "out" / "junit.xml").getroot()
    assert sorted(c.get("name") for c in root.iter("testcase")) == NAMES
    assert root.get("failures") == "0"


# -- replay, in process ----------------------------------------------------------------------------
def test_replay_prints_the_violated_order_and_its_explanation(project: Path, main: Main) -> None:
    (project / "scenarios" / "reconnect.toml").write_text(ORDER)
    failure = explore_json(main, "scenarios/reconnect.toml")["results"][0]["failure"]
    assert failure["kind"] == "order"
    code, out, _ = main("replay", failure["token"])
    assert code == 1
    bad = next(v for v in failure["verdicts"] if v["status"] != "ordered")
    assert "violated order:" in out
    assert f"- {bad['status']}: {bad['rule']}" in out
    assert bad["explanation"] in out


def test_replay_of_a_seed_reproduces_the_randomised_failure(main: Main) -> None:
    run = explore_json(main, "scenarios/before_wiring_random.toml")
    failure = run["results"][0]["failure"]
    assert failure["seed_command"] == (
        f"racesim replay scenarios/before_wiring_random.toml --seed {failure['seed']} "
        "--strategy random"
    )
    code, out, _ = main(*failure["seed_command"].split()[1:])
    assert code == 1
    assert f"seed {failure['seed']} with strategy random" in out
    assert f"[{failure['kind']}]" in out


def test_replay_of_a_seed_whose_run_passes_exits_0(main: Main) -> None:
    code, out, _ = main("replay", "scenarios/after_wiring.toml", "--seed", "3")
    assert code == 0
    assert "the run passes now" in out


def test_replay_finds_the_scenario_in_another_directory(project: Path, main: Main) -> None:
    (project / "scenarios").rename(project / "elsewhere")
    (project / "scenarios").mkdir()
    run = explore_json(main, "elsewhere/before_wiring.toml")
    command = run["results"][0]["failure"]["replay_command"]
    assert command.endswith(" --scenarios elsewhere")
    assert main(*command.split()[1:])[0] == 1


# -- list and report, in process -------------------------------------------------------------------
def test_list_shows_each_scenario_with_description_variant_and_expectation(main: Main) -> None:
    code, out, _ = main("list")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("before_wiring "))
    assert row.split()[1:3] == ["legacy", "race"]
    assert "fixture: a request that arrives before the wiring" in row


def test_list_shows_reported_races(project: Path, main: Main) -> None:
    reported = project / "scenarios" / "reported"
    reported.mkdir()
    (reported / "lost_events.toml").write_text(
        'scenario = "../before_wiring.toml"\nstrategy = "dfs"\n'
        'token = "rs1.abc.def"\nkind = "race"\nmessage_contains = "data race"\n'
    )
    code, out, _ = main("list")
    assert code == 0
    assert re.search(r"lost_events\s+before_wiring\s+race\s+dfs\s+rs1\.abc\.def", out)


def test_report_redraws_the_html_from_saved_json(project: Path, main: Main) -> None:
    assert main("explore")[0] == 0
    page = project / "reports" / "before_wiring" / "report.html"
    original = page.read_text()
    page.unlink()
    assert main("report", "reports/run.json")[0] == 0
    assert page.read_text() == original
    assert main("report", "reports/before_wiring/result.json", "--out", "again")[0] == 0
    assert (project / "again" / "report.html").read_text() == original


def test_replay_of_a_pytest_token_hands_it_to_the_test_that_recorded_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntrio_mode = true\n")
    (tmp_path / "test_counter.py").write_text(
        "import pytest, trio, sim\n"
        "@sim.tracked\n"
        "class C:\n"
        "    def __init__(self): self.value = 0\n"
        "@pytest.mark.racesim(strategy='dfs', races=False)\n"
        "async def test_lost():\n"
        "    c = C()\n"
        "    async def inc():\n"
        "        v = c.value\n"
        "        await trio.sleep(0)\n"
        "        c.value = v + 1\n"
        "    async with trio.open_nursery() as n:\n"
        "        n.start_soon(inc)\n"
        "        n.start_soon(inc)\n"
        "    assert c.value == 2\n"
    )
    found = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1
    token = re.search(r"racesim replay (rs[12]\.[a-z0-9.]+)", found.stdout)
    assert token is not None, found.stdout
    replayed = subprocess.run(
        [sys.executable, "-m", "sim.cli", "replay", token.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "test_counter.py::test_lost" in replayed.stdout
    assert "1 failed" in replayed.stdout


# -- your own code: target = module:function, [tool.racesim] ------------------------------------
#: A user's package outside system_under_test/: a read-modify-write counter with a window between
#: the read and the write (the lost update every reader of the issue tried first).
USER_CODE = """
import trio


class Counter:
    def __init__(self):
        self.value = 0


async def bump(counter):
    value = counter.value
    await trio.lowlevel.checkpoint()
    counter.value = value + 1


async def writers(n: int = 2) -> None:
    \"\"\"n tasks increment one counter.\"\"\"
    counter = Counter()
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(bump, counter)
    assert counter.value == n, f"lost update: {counter.value}"


async def two_writers() -> None:
    await writers(2)


async def independent(n: int = 3, steps: int = 3) -> None:
    \"\"\"n tasks that checkpoint and share nothing: clean, with many interleavings.\"\"\"
    async def work():
        for _ in range(steps):
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(work)


async def rare() -> None:
    \"\"\"Fails only when one task takes all its six steps before the other takes its first.\"\"\"
    started = []

    async def first():
        started.append(True)
        await trio.lowlevel.checkpoint()

    async def second():
        for _ in range(6):
            await trio.lowlevel.checkpoint()
        assert started, "second finished before first started"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(first)
        nursery.start_soon(second)


async def hungry() -> None:
    raise MemoryError()  # what a workload too large for the machine ends in


def not_async() -> None:
    pass
"""


def lost_update_values(n: int) -> set[int]:
    """Brute force, independently of racesim: every final counter value when n tasks each read,
    yield once, then write — all interleavings of n two-step sequences."""
    import itertools

    values = set()
    steps = [(task, step) for task in range(n) for step in ("read", "write")]
    for order in itertools.permutations(steps):
        if any(order.index((t, "read")) > order.index((t, "write")) for t in range(n)):
            continue
        counter, seen = 0, {}
        for task, step in order:
            if step == "read":
                seen[task] = counter
            else:
                counter = seen[task] + 1
        values.add(counter)
    return values


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    """A project of a user's own: the package myapp/, checks/ of scenario files, and a
    pyproject.toml whose [tool.racesim] points at them."""
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "checks.py").write_text(USER_CODE)
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "three_writers.toml").write_text(
        '[scenario]\ntarget = "myapp.checks:writers"\nexpect = "race"\n'
        '[params]\nn = 3\n[expect_failure]\nkinds = ["assertion"]\nmentions = ["lost update"]\n'
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.racesim]\nscenarios = ["checks"]\ninstrument = ["myapp"]\nstrategy = "dfs"\n'
        "max_schedules = 300\n"
    )
    return tmp_path


def test_a_target_in_a_users_package_is_explored_from_its_scenario_file(
    user_project: Path,
) -> None:
    done = racesim(user_project, "explore", "--json")
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["scenario"]["name"] == "three_writers"
    assert result["verdict"] == "race found (assertion)"
    # The brute-force reference says 3 writers can end at 1 or 2; racesim's message is one of them.
    wrong = lost_update_values(3) - {3}
    assert wrong == {1, 2}
    message = result["failure"]["message"]
    assert any(message.endswith(f"lost update: {value}") for value in wrong), message
    assert result["settings"]["strategy"] == "dfs"  # from [tool.racesim]
    assert result["settings"]["instrument"] == ["myapp"]


def test_module_function_is_explored_without_a_file_and_its_replay_command_works(
    user_project: Path,
) -> None:
    done = racesim(user_project, "explore", "myapp.checks:two_writers", "--json")
    assert done.returncode == 1, done.stderr  # expected clean without a file: a lost update
    (result,) = json.loads(done.stdout)["results"]
    assert result["scenario"]["expect"] == "clean"
    assert result["failure"]["message"].endswith("lost update: 1")
    command = result["failure"]["replay_command"]
    assert command.startswith("racesim replay myapp.checks:two_writers rs2.")
    replayed = racesim(user_project, *command.split()[1:])
    assert replayed.returncode == 1, replayed.stderr
    assert "lost update: 1" in replayed.stdout and "the failure reproduces" in replayed.stdout


def test_a_token_from_the_command_line_target_replays_with_sim_replay(
    user_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = racesim(user_project, "explore", "myapp.checks:two_writers", "--json")
    token = json.loads(done.stdout)["results"][0]["failure"]["token"]
    monkeypatch.syspath_prepend(str(user_project))
    import importlib

    import sim

    module = importlib.import_module("myapp.checks")
    run = sim.replay(module.two_writers, token)
    assert run.failure is not None and run.failure.message.endswith("lost update: 1")


@pytest.mark.parametrize(
    ("spec", "phrases"),
    [
        ("myapp.nothere:f", ["no module named 'myapp.nothere'", "PYTHONPATH"]),
        ("myapp.checks:missing", ["has no attribute 'missing'"]),
        ("myapp.checks:not_async", ["is not an async function"]),
        ("myapp.checks:writers_x", ["has no attribute"]),
    ],
)
def test_a_bad_target_is_bad_input(user_project: Path, spec: str, phrases: list[str]) -> None:
    assert_bad_input(racesim(user_project, "explore", spec), *phrases)


def test_params_that_do_not_fit_the_signature_are_bad_input(user_project: Path) -> None:
    (user_project / "checks" / "three_writers.toml").write_text(
        '[scenario]\ntarget = "myapp.checks:writers"\n[params]\ncount = 3\n'
    )
    assert_bad_input(racesim(user_project, "explore"), "three_writers.toml", "[params]")


def test_budgets_follow_flags_then_env_then_file_then_pyproject(user_project: Path) -> None:
    checks = user_project / "checks"
    (checks / "three_writers.toml").unlink()
    (checks / "free.toml").write_text('[scenario]\ntarget = "myapp.checks:independent"\n')
    (checks / "own.toml").write_text(
        '[scenario]\ntarget = "myapp.checks:independent"\n[explore]\nmax_schedules = 11\n'
    )

    def budgets(*args: str, env: dict[str, str] | None = None) -> dict[str, int]:
        done = subprocess.run(
            [sys.executable, "-c", MAIN, "explore", "--json", *args],
            check=False,
            cwd=user_project,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
        )
        assert done.returncode in (0, 1), done.stderr  # 1: dfs promised exhaustion, not reached
        return {
            r["scenario"]["name"]: r["stats"]["schedules_run"]
            for r in json.loads(done.stdout)["results"]
        }

    # clean but far from exhausted (3 tasks x 3 checkpoints): every budget is used up exactly
    assert budgets() == {"free": 300, "own": 11}  # pyproject, then the file's own
    assert budgets(env={"RACESIM_MAX_SCHEDULES": "7"}) == {"free": 7, "own": 7}
    assert budgets("--max-schedules", "5", env={"RACESIM_MAX_SCHEDULES": "7"}) == {
        "free": 5,
        "own": 5,
    }


@pytest.mark.parametrize(
    ("table", "phrases"),
    [
        ("instrument = ['my app']", ["[tool.racesim] instrument", "not a module or package name"]),
        ("instrument = 'myapp'", ["must be a list of non-empty strings"]),
        ("strategy = 'psychic'", ["unknown strategy 'psychic'"]),
        ("max_schedules = 0", ["[tool.racesim] max_schedules", ">= 1"]),
        ("time_budget = -1", ["time budget must be a number of seconds > 0"]),
        ("colour = 'red'", ["unknown key", "valid keys are scenarios"]),
    ],
)
def test_bad_tool_racesim_is_bad_input(user_project: Path, table: str, phrases: list[str]) -> None:
    (user_project / "pyproject.toml").write_text(f"[tool.racesim]\n{table}\n")
    assert_bad_input(racesim(user_project, "explore"), "pyproject.toml", *phrases)


# -- bad input that used to reach exit 3 -------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_scenario_file_not_in_utf8_is_bad_input(project: Path, encoding: str) -> None:
    text = CLEAN.replace("the remediated wiring", "the remediated wiring, café")
    (project / "scenarios" / "after_wiring.toml").write_bytes(text.encode(encoding))
    assert_bad_input(racesim(project, "list"), "after_wiring.toml", "not UTF-8", "re-save it")


@pytest.mark.parametrize(
    ("variable", "value", "phrases"),
    [
        ("RACESIM_MAX_SCHEDULES", "abc", ["RACESIM_MAX_SCHEDULES='abc' is not a whole number"]),
        (
            "RACESIM_MAX_STEPS",
            "0",
            ["RACESIM_MAX_STEPS=0", "max_steps must be a whole number >= 1"],
        ),
        ("RACESIM_SHRINK_RUNS", "x", ["RACESIM_SHRINK_RUNS='x' is not a whole number"]),
        ("RACESIM_TIME", "-3", ["RACESIM_TIME=-3", "> 0"]),
    ],
)
def test_bad_environment_values_are_bad_input_before_anything_runs(
    project: Path, variable: str, value: str, phrases: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MAIN, "explore"],
        check=False,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, variable: value},
    )
    assert_bad_input(done, *phrases)
    assert not (project / "reports").exists()


def test_an_unwritable_junit_path_is_bad_input_before_the_first_schedule(project: Path) -> None:
    done = racesim(project, "explore", "--junit", "scenarios/before_wiring.toml/junit.xml")
    assert_bad_input(done, "--junit", "cannot be written")
    assert done.stdout == ""  # nothing explored, no table lost
    assert not (project / "reports").exists()


@pytest.mark.parametrize(
    ("damage", "phrases"),
    [
        (lambda d: d["results"][0].update(matches="yes") or d, ["damaged racesim result"]),
        (lambda d: d["results"][0].update(stats=[]) or d, ["damaged racesim result"]),
        (
            lambda d: (
                [step.update(task=99) for step in d["results"][1]["failure"]["trace"]["steps"]]
                and d
            ),
            ["damaged racesim result"],
        ),
    ],
)
def test_a_damaged_run_json_is_bad_input(
    project: Path, main: Main, damage: Callable[[dict], dict], phrases: list[str]
) -> None:
    assert main("explore")[0] == 0
    path = project / "reports" / "run.json"
    data = json.loads(path.read_text())
    assert data["results"][1]["scenario"]["name"] == "before_wiring"
    path.write_text(json.dumps(damage(data)))
    assert_bad_input(racesim(project, "report", "reports/run.json"), *phrases)


def test_a_run_json_that_is_not_utf8_is_bad_input(project: Path) -> None:
    (project / "run.json").write_bytes(b'{"schema": "racesim.run", "x": "\xff\xfe"}')
    assert_bad_input(racesim(project, "report", "run.json"), "not UTF-8")


def test_a_negative_time_budget_through_the_api_is_a_value_error() -> None:
    import sim

    async def scenario() -> None:
        pass

    with pytest.raises(ValueError, match="time budget must be a number of seconds > 0"):
        sim.explore(scenario, time_budget=-1)
    with pytest.raises(ValueError, match="max_schedules must be a whole number >= 1"):
        sim.explore(scenario, max_schedules=0)


def test_version_and_help_for_every_option() -> None:
    from sim.cli._parse import _parser

    done = subprocess.run(
        [sys.executable, "-c", MAIN, "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and re.fullmatch(r"racesim \S.*\n", done.stdout), done.stdout
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"racesim {name} {action.option_strings or action.dest}"
        if name != "list":
            assert "examples:" in (sub.epilog or ""), name


# -- reported races ------------------------------------------------------------------------------
def reported_file(project: Path, message_contains: str, kind: str = "race") -> Path:
    done = racesim(project, "explore", "scenarios/before_wiring.toml", "--json")
    failure = json.loads(done.stdout)["results"][0]["failure"]
    folder = project / "scenarios" / "reported"
    folder.mkdir(exist_ok=True)
    path = folder / "before_wiring.toml"
    path.write_text(
        'scenario = "../before_wiring.toml"\nstrategy = "dfs"\npreemption_bound = 1\n'
        f'token = "{failure["token"]}"\nkind = "{kind}"\n'
        f"message_contains = {json.dumps(message_contains)}\n"
    )
    return path


def test_a_reported_file_replays_its_token_to_the_same_failure(project: Path) -> None:
    reported_file(project, "data race")
    done = racesim(project, "replay", "scenarios/reported/before_wiring.toml")
    assert done.returncode == 1, done.stderr
    assert "the failure reproduces (exit 1)" in done.stdout


def test_a_changed_failure_is_told_apart_from_the_recorded_one(project: Path) -> None:
    reported_file(project, "lost update", kind="assertion")
    done = racesim(project, "replay", "scenarios/reported/before_wiring.toml")
    assert done.returncode == 4, done.stderr
    assert "a different failure:" in done.stdout
    assert "records a assertion failure" in done.stdout or "records an" in done.stdout


def test_explore_on_a_reported_file_finds_it_again(project: Path) -> None:
    reported_file(project, "data race")
    done = racesim(project, "explore", "scenarios/reported/before_wiring.toml", "--json")
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["scenario"]["name"] == "reported/before_wiring"
    assert result["verdict"] == "race found (race)"
    assert result["settings"]["preemption_bound"] == 1


# -- selection, sharding, report sets --------------------------------------------------------------
def test_k_selects_by_name_and_x_stops_at_the_first_wrong_verdict(
    project: Path, main: Main
) -> None:
    run = explore_json(main, "-k", "random")
    assert [r["scenario"]["name"] for r in run["results"]] == ["before_wiring_random"]
    run = explore_json(main, "-k", "not random")
    assert [r["scenario"]["name"] for r in run["results"]] == ["after_wiring", "before_wiring"]
    (project / "scenarios" / "after_wiring.toml").write_text(
        CLEAN.replace('variant = "remediated"', 'variant = "legacy"')
    )
    code, out, _ = main("explore", "-x", "--json")
    assert code == 1
    assert [r["scenario"]["name"] for r in json.loads(out)["results"]] == ["after_wiring"]


def test_two_files_with_one_stem_get_distinct_report_directories(project: Path, main: Main) -> None:
    other = project / "more"
    other.mkdir()
    (other / "before_wiring.toml").write_text(CLEAN)
    _, out, _ = main("explore", "--json", "scenarios/before_wiring.toml", "more")
    names = sorted(r["scenario"]["name"] for r in json.loads(out)["results"])
    assert names == ["more/before_wiring", "scenarios/before_wiring"]
    for name in ("more_before_wiring", "scenarios_before_wiring"):
        assert (project / "reports" / name / "result.json").is_file()


def test_shards_write_their_own_sets_and_merge_into_the_whole_run(
    project: Path, main: Main
) -> None:
    whole = explore_json(main, "--report-dir", "whole")
    explore_json(main, "--shard", "1/2")
    explore_json(main, "--shard", "2/2")
    shards = [f"reports/shard-{i}-of-2/run.json" for i in (1, 2)]
    code, _, err = main("report", "--merge", *shards, "--out", "merged")
    assert code == 0, err
    merged = json.loads((project / "merged" / "run.json").read_text())
    assert outcomes(merged) == outcomes(whole)
    for result in merged["results"]:
        assert (project / "merged" / result["scenario"]["name"] / "report.html").is_file()


def test_a_sampled_strategy_that_finds_nothing_within_its_budget_cannot_tell(
    user_project: Path,
) -> None:
    (user_project / "checks" / "rare.toml").write_text(
        '[scenario]\ntarget = "myapp.checks:rare"\nexpect = "race"\n'
    )
    sampled = ("--strategy", "random", "--seed", "0", "--max-schedules", "1")
    done = racesim(user_project, "explore", "checks/rare.toml", "--json", *sampled)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["failure"] is None
    assert result["verdict"] == "not found within 1 schedule"
    assert result["matches"] is None
    assert "? not found within 1 schedule" in done.stderr  # the table, on stderr with --json
    assert "cannot tell" in done.stderr
    # the file's own settings are calibrated to find its race: missing it there is wrong
    (user_project / "checks" / "rare.toml").write_text(
        '[scenario]\ntarget = "myapp.checks:rare"\nexpect = "race"\n'
        '[explore]\nstrategy = "random"\nseed = 0\nmax_schedules = 1\n'
    )
    own = racesim(user_project, "explore", "checks/rare.toml", "--json")
    assert own.returncode == 1
    assert json.loads(own.stdout)["results"][0]["verdict"] == "no race found"
    # dfs exhausts the same scenario and finds the race: the sampled verdict was not "clean"
    found = racesim(
        user_project,
        "explore",
        "checks/rare.toml",
        "--strategy",
        "dfs",
        "--max-schedules",
        "100",
        "--json",
    )
    assert json.loads(found.stdout)["results"][0]["verdict"] == "race found (assertion)"


def test_report_set_keeps_files_racesim_did_not_write(project: Path, main: Main) -> None:
    (project / "reports" / "bench").mkdir(parents=True)
    (project / "reports" / "bench" / "strategies.json").write_text("{}")
    assert main("explore", "scenarios/after_wiring.toml")[0] == 0
    assert main("explore", "scenarios/before_wiring.toml")[0] == 0
    entries = {p.name for p in (project / "reports").iterdir()}
    assert entries == {"bench", "before_wiring", "index.html", "run.json", ".racesim-report"}


# -- Ctrl-C ------------------------------------------------------------------------------------
def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as file:
                if marker.encode() in file.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def test_ctrl_c_with_two_workers_stops_every_worker_and_leaves_a_consistent_report_set(
    project: Path,
) -> None:
    import signal
    import time
    import uuid

    assert racesim(project, "explore").returncode == 0  # a complete previous set
    for name in ("slow_a", "slow_b", "slow_c"):
        (project / "scenarios" / f"{name}.toml").write_text(
            CLEAN.replace('strategy = "dfs"', 'strategy = "random"').replace(
                "max_schedules = 500", "max_schedules = 10000000"
            )
        )
    marker = f"RACESIM_TEST_{uuid.uuid4().hex}"
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "explore", "--workers", "2"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, marker: "1"},
    )
    assert process.stderr is not None
    finished = 0
    while finished < 3:  # the three quick scenarios finish; the slow ones keep both workers busy
        line = process.stderr.readline()
        assert line, "racesim ended before it was interrupted"
        finished += line.startswith("racesim: [")
    time.sleep(1.0)
    assert len(_processes_with(marker)) >= 3  # the command and its two workers
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = process.communicate(timeout=30)
    took = time.monotonic() - started
    assert process.returncode == 2, err
    assert "Traceback" not in err
    assert _processes_with(marker) == []
    print(f"exit after SIGINT: {took:.2f} s")
    run = json.loads((project / "reports" / "run.json").read_text())
    assert run["interrupted"] is True
    names = [r["scenario"]["name"] for r in run["results"]]
    assert len(names) == 3 and not any(name.startswith("slow") for name in names)
    entries = {p.name for p in (project / "reports").iterdir() if p.is_dir()}
    assert entries == set(names)  # this run's set, nothing of the previous one mixed in
    for result in run["results"]:
        saved = json.loads(
            (project / "reports" / result["scenario"]["name"] / "result.json").read_text()
        )
        assert saved["verdict"] == result["verdict"]
    assert "replay before_wiring: racesim replay rs2." in out  # tokens of what finished
    assert "interrupted" in err


# -- the failure database ----------------------------------------------------------------------
def test_the_failure_database_replays_a_stored_failure_first(project: Path, main: Main) -> None:
    first = explore_json(main, "scenarios/before_wiring.toml")["results"][0]
    assert first["stats"]["schedules_run"] > 1
    database = project / ".racesim"
    assert (database / ".gitignore").read_text().splitlines()[-1] == "*"
    (stored,) = (database / "failures").iterdir()
    tokens = [entry["token"] for entry in json.loads(stored.read_text())]
    assert first["failure"]["token"] in tokens
    again = explore_json(main, "scenarios/before_wiring.toml")["results"][0]
    assert again["stats"]["schedules_run"] == len(tokens)  # only the stored tokens ran
    assert again["stats"]["strategy"].startswith("failure database")
    assert again["failure"]["token"] == first["failure"]["token"]
    assert again["verdict"] == first["verdict"]
    fresh = explore_json(main, "scenarios/before_wiring.toml", "--no-database")["results"][0]
    assert fresh["stats"]["schedules_run"] == first["stats"]["schedules_run"]


def test_a_stored_token_that_passes_now_is_deleted(project: Path, main: Main) -> None:
    explore_json(main, "scenarios/before_wiring.toml")
    (stored,) = (project / ".racesim" / "failures").iterdir()
    scenario = load_scenario(project / "scenarios" / "after_wiring.toml")
    strategy = RandomStrategy(4)
    strategy.new_execution()
    fn, _ = scenario.build()
    passing = run_once(fn, strategy, seed=4)
    assert passing.kind is None
    target = project / ".racesim" / "failures" / f"{scenario.fingerprint}.json"
    target.write_text(
        json.dumps(
            [
                {
                    "token": passing.schedule.encode(scenario.fingerprint),
                    "kind": "race",
                    "message": "m",
                }
            ]
        )
    )
    result = explore_json(main, "scenarios/after_wiring.toml")["results"][0]
    assert result["verdict"] == "clean"
    assert not target.exists()
    assert stored.exists()


def test_last_failed_and_failed_first_use_the_last_runs_wrong_verdicts(
    project: Path, main: Main
) -> None:
    wrong = project / "scenarios" / "before_wiring_random.toml"  # last in name order
    wrong.write_text(RANDOM.replace('expect = "race"', 'expect = "clean"').split("[expect_")[0])
    assert main("explore")[0] == 1
    code, out, _ = main("explore", "--last-failed", "--json")
    assert code == 1
    assert [r["scenario"]["name"] for r in json.loads(out)["results"]] == ["before_wiring_random"]
    code, out, err = main("explore", "--failed-first", "--json")
    order = [line.split("] ")[1].split(":")[0] for line in err.splitlines() if "] " in line]
    assert order == ["before_wiring_random", "after_wiring", "before_wiring"]
    assert [r["scenario"]["name"] for r in json.loads(out)["results"]] == NAMES  # table sorted
    wrong.write_text(RANDOM)
    assert main("explore", "--last-failed")[0] == 0
    code, _, err = main("explore", "--last-failed")
    assert code == 0 and "no verdict was wrong last time; running every scenario" in err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_workload_that_runs_out_of_memory_is_bad_input_not_a_found_race(
    user_project: Path, workers: str
) -> None:
    (user_project / "checks" / "hungry.toml").write_text(
        '[scenario]\ntarget = "myapp.checks:hungry"\nexpect = "race"\n'
    )
    done = racesim(user_project, "explore", "--workers", workers)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after the progress lines of the run
    assert last.startswith("racesim: error: ") and "hungry.toml" in last
    assert "ran out of memory (MemoryError)" in last and "make it smaller" in last
    assert not (user_project / "reports").exists()
