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
kinds = ["race"]
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
    assert re.search(r"✓ race found \(race\) .*racesim replay rs1\.", rows["before_wiring"])
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
    assert lines[0].startswith("replaying before_wiring (scenarios/before_wiring.toml), token rs1.")
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
    one = explore_json(main, "--workers", "1", "--report-dir", "r1")
    two = explore_json(main, "--workers", "2", "--report-dir", "r2")
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
    token = re.search(r"racesim replay (rs1\.[a-z0-9.]+)", found.stdout)
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
