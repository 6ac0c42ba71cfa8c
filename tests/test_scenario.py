"""Scenario files: every malformed file is a ScenarioError naming file, key and fix; fingerprints
follow content, not formatting; discovery is ordered and skips reported races."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim._scenario import (
    ExpectFailure,
    ScenarioError,
    discover,
    load_reported,
    load_scenario,
)

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

GOOD = """\
[scenario]
description = "two users"
system = "agent_registry"
variant = "legacy"
expect = "race"

[workload]
users = 2
concurrent_wiring = true

[explore]
strategy = "dfs"
max_schedules = 50
preemption_bound = 1

[expect_failure]
kinds = ["assertion"]
mentions = ["agent_started"]
"""


def write(tmp_path: Path, text: str, name: str = "case.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> ScenarioError:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    error = raised.value
    assert str(path) in str(error)
    # no chained traceback behind the user's mistake
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error


def test_good_file_loads_every_field(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD, "two_users.toml"))
    assert scenario.name == "two_users"
    assert (scenario.system, scenario.variant, scenario.expect) == (
        "agent_registry",
        "legacy",
        "race",
    )
    assert scenario.workload_dict == {"users": 2, "concurrent_wiring": True}
    assert scenario.explore_settings.max_schedules == 50
    assert scenario.explore_settings.preemption_bound == 1
    assert scenario.explore_settings.mode == "free"
    assert scenario.expect_failure == ExpectFailure(("assertion",), ("agent_started",))
    assert scenario.properties is None
    assert len(scenario.fingerprint) == 10


def test_build_tags_the_scenario_with_name_and_fingerprint(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD, "two_users.toml"))
    fn, order = scenario.build()
    assert fn.__racesim_fingerprint__ == scenario.fingerprint  # type: ignore[attr-defined]
    assert fn.__racesim_name__ == "two_users"  # type: ignore[attr-defined]
    assert "agent_started" in order.labels


def test_every_shipped_scenario_loads() -> None:
    names = [scenario.name for scenario in discover([SCENARIOS])]
    assert "legacy_shared_dispatcher_leak" in names
    assert len(names) >= 11


@pytest.mark.parametrize(
    ("replace", "by", "key", "fix"),
    [
        ('variant = "legacy"', 'variant = "legacyy"', "[scenario] variant", "use one of 'legacy'"),
        ('system = "agent_registry"', 'system = "x"', "[scenario] system", "use one of agent_"),
        ('expect = "race"', 'expect = "flaky"', "[scenario] expect", "use one of 'race', 'clean'"),
        ('expect = "race"', "expect = 1", "[scenario] expect", 'write expect = "..."'),
        ('expect = "race"', 'expect = "race"\nowner = "me"', "[scenario] owner", "valid keys are"),
        (
            'expect = "race"',
            'expect = "race"\nproperties = ["speed"]',
            "[scenario] properties",
            "use values among 'isolation'",
        ),
        ("users = 2", "users = -1", "[workload] users", "must be >= 1, got -1"),
        ("users = 2", 'users = "2"', "[workload] users", "must be an integer >= 1, got str"),
        ("users = 2", "userz = 2", "[workload] userz", "valid keys are users, agents_per_user"),
        (
            "concurrent_wiring = true",
            "concurrent_wiring = 1",
            "[workload] concurrent_wiring",
            "must be true or false",
        ),
        ("users = 2", "users = 2\nreconnects = -3", "[workload] reconnects", "must be >= 0"),
        ('strategy = "dfs"', 'strategy = "bfs"', "[explore] strategy", "use one of 'dfs'"),
        (
            "max_schedules = 50",
            'max_schedules = "50"',
            "[explore] max_schedules",
            "write max_schedules = 1 (no quotes)",
        ),
        ("max_schedules = 50", "max_schedules = 0", "[explore] max_schedules", "use a number >= 1"),
        (
            "preemption_bound = 1",
            "preemption_bound = -1",
            "[explore] preemption_bound",
            "use a number >= 0",
        ),
        ("preemption_bound = 1", "seed = -5", "[explore] seed", "use a number >= 0"),
        ("preemption_bound = 1", 'mode = "fast"', "[explore] mode", "use one of 'free', 'batch'"),
        ("preemption_bound = 1", "races = 1", "[explore] races", "write races = true"),
        ("preemption_bound = 1", "workers = 4", "[explore] workers", "valid keys are strategy"),
        (
            'kinds = ["assertion"]',
            'kinds = ["crash"]',
            "[expect_failure] kinds",
            "use values among 'assertion'",
        ),
        (
            'kinds = ["assertion"]',
            'kinds = "assertion"',
            "[expect_failure] kinds",
            'write kinds = ["..."]',
        ),
        (
            'mentions = ["agent_started"]',
            'mention = ["x"]',
            "[expect_failure] mention",
            "valid keys are kinds, mentions",
        ),
    ],
)
def test_malformed_value_names_file_key_and_fix(
    tmp_path: Path, replace: str, by: str, key: str, fix: str
) -> None:
    assert replace in GOOD
    message = str(error_of(tmp_path, GOOD.replace(replace, by, 1)))
    assert key in message
    assert fix in message


def test_bad_toml_syntax_names_the_line(tmp_path: Path) -> None:
    message = str(error_of(tmp_path, GOOD.replace('variant = "legacy"', "variant = legacy")))
    assert "invalid TOML" in message
    assert "line 4" in message
    assert "fix the syntax" in message


def test_unknown_section_lists_the_valid_ones(tmp_path: Path) -> None:
    message = str(error_of(tmp_path, GOOD + "\n[workloads]\nusers = 1\n"))
    assert "[workloads]: unknown section" in message
    assert "[scenario], [workload], [params], [explore], [expect_failure]" in message


def test_missing_required_key_names_it(tmp_path: Path) -> None:
    message = str(error_of(tmp_path, GOOD.replace('system = "agent_registry"\n', "")))
    assert "[scenario] system: missing; add it" in message


def test_missing_scenario_table_is_named(tmp_path: Path) -> None:
    message = str(error_of(tmp_path, "[workload]\nusers = 1\n"))
    assert "[scenario]: missing; add a [scenario] table" in message


def test_clean_scenario_cannot_expect_a_failure(tmp_path: Path) -> None:
    message = str(error_of(tmp_path, GOOD.replace('expect = "race"', 'expect = "clean"')))
    assert "[expect_failure]" in message
    assert 'remove [expect_failure] or set expect = "race"' in message


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file; check the path"):
        load_scenario(tmp_path / "absent.toml")


def test_fingerprint_changes_with_any_value(tmp_path: Path) -> None:
    base = load_scenario(write(tmp_path, GOOD)).fingerprint
    for replace, by in [("users = 2", "users = 3"), ("max_schedules = 50", "max_schedules = 51")]:
        changed = load_scenario(write(tmp_path, GOOD.replace(replace, by))).fingerprint
        assert changed != base


def test_fingerprint_ignores_comments_whitespace_and_key_order(tmp_path: Path) -> None:
    base = load_scenario(write(tmp_path, GOOD)).fingerprint
    reformatted = "# a comment\n" + GOOD.replace(
        "users = 2\nconcurrent_wiring = true", "concurrent_wiring   =   true\n\nusers=2"
    ).replace("[scenario]\n", "[scenario]   # the head\n")
    assert load_scenario(write(tmp_path, reformatted)).fingerprint == base


def test_discover_sorts_directories_and_skips_reported(tmp_path: Path) -> None:
    for name in ["b.toml", "a.toml", "c.toml"]:
        write(tmp_path, GOOD, name)
    (tmp_path / "notes.txt").write_text("not a scenario")
    reported = tmp_path / "reported"
    reported.mkdir()
    write(reported, "this is not a scenario", "a.toml")
    assert [s.name for s in discover([tmp_path])] == ["a", "b", "c"]


def test_discover_keeps_given_order_and_drops_repeats(tmp_path: Path) -> None:
    for name in ["a.toml", "b.toml"]:
        write(tmp_path, GOOD, name)
    found = discover([tmp_path / "b.toml", tmp_path, tmp_path / "a.toml"])
    assert [s.name for s in found] == ["b", "a"]


def test_discover_refuses_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file or directory"):
        discover([tmp_path / "nowhere"])


def test_discover_reports_the_bad_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.toml")
    bad = write(tmp_path, GOOD.replace("users = 2", "users = 0"), "b.toml")
    with pytest.raises(ScenarioError, match=str(bad)):
        discover([tmp_path])


def test_reported_race_loads_with_its_scenario(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "two_users.toml")
    reported_dir = tmp_path / "reported"
    reported_dir.mkdir()
    path = write(
        reported_dir,
        'scenario = "../two_users.toml"\nstrategy = "dfs"\n'
        'token = "rs1.abc.def"\nkind = "assertion"\nmessage_contains = "lost"\n',
        "two_users.toml",
    )
    reported = load_reported(path)
    assert reported.scenario.name == "two_users"
    assert (reported.strategy, reported.seed, reported.kind) == ("dfs", None, "assertion")


@pytest.mark.parametrize(
    ("strategy", "seed", "problem"),
    [
        ("dfs", "seed = 0\n", "does not use a seed, so a seed here replays nothing"),
        ("random", "", "missing; strategy random needs it"),
    ],
)
def test_reported_race_records_only_what_its_strategy_uses(
    tmp_path: Path, strategy: str, seed: str, problem: str
) -> None:
    write(tmp_path, GOOD, "two_users.toml")
    (tmp_path / "reported").mkdir()
    path = write(
        tmp_path / "reported",
        f'scenario = "../two_users.toml"\nstrategy = "{strategy}"\n{seed}'
        'token = "rs1.abc.def"\nkind = "assertion"\nmessage_contains = "lost"\n',
        "two_users.toml",
    )
    with pytest.raises(ScenarioError, match=problem):
        load_reported(path)


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        ('scenario = "../missing.toml"', "scenario", "relative to this file"),
        ('scenario = "../two_users.toml"\nkind = "oops"', "kind", "use one of 'assertion'"),
        ('scenario = "../two_users.toml"\ncolour = "red"', "colour", "valid keys are scenario"),
        ('scenario = "../two_users.toml"\ntoken = "abc"', "token", "paste the rs1."),
    ],
)
def test_bad_reported_file_names_key_and_fix(tmp_path: Path, text: str, key: str, fix: str) -> None:
    write(tmp_path, GOOD, "two_users.toml")
    reported_dir = tmp_path / "reported"
    reported_dir.mkdir()
    defaults = {
        "scenario": '"../two_users.toml"',
        "strategy": '"dfs"',
        "token": '"rs1.a.b"',
        "kind": '"assertion"',
        "message_contains": '"x"',
    }
    lines = dict(line.split(" = ", 1) for line in text.splitlines())
    body = "\n".join(f"{k} = {v}" for k, v in {**defaults, **lines}.items())
    path = write(reported_dir, body + "\n", "r.toml")
    with pytest.raises(ScenarioError) as raised:
        load_reported(path)
    message = str(raised.value)
    assert f"{path}: {key}" in message
    assert fix in message


# -- targets: the user's own async functions ----------------------------------------------------
TARGET_MODULE = '''
import trio

async def writers(n: int = 2) -> None:
    """n tasks increment one counter."""
    box = [0]

    async def bump():
        seen = box[0]
        await trio.lowlevel.checkpoint()
        box[0] = seen + 1

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(bump)
    assert box[0] == n, f"lost update: {box[0]}"
'''


@pytest.fixture
def target_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of the user's own, importable under a name unique to this test."""
    name = f"usercode_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(TARGET_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_target_file_passes_params_and_is_expected_clean_by_default(
    tmp_path: Path, target_module: str
) -> None:
    path = write(tmp_path, f'[scenario]\ntarget = "{target_module}:writers"\n[params]\nn = 3\n')
    scenario = load_scenario(path)
    assert (scenario.target, scenario.expect, scenario.workload_dict) == (
        f"{target_module}:writers",
        "clean",
        {"n": 3},
    )
    assert scenario.description == "n tasks increment one counter."
    result = scenario.explore(strategy="dfs", max_schedules=200)
    assert result.failures and result.failures[0].message.endswith(
        ("lost update: 1", "lost update: 2")
    )
    assert scenario.replay(result.failures[0].token).failure is not None


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ('[scenario]\ntarget = "MOD:writers"\nsystem = "agent_registry"\n', "belongs to a bundled"),
        (
            '[scenario]\ntarget = "MOD:writers"\n[workload]\nn = 2\n',
            "rename [workload] to [params]",
        ),
        ('[scenario]\ntarget = "MOD:writers"\n[params]\ncount = 2\n', "do not fit its signature"),
        ('[scenario]\ntarget = "MOD"\n', "is not module:function"),
        ('[scenario]\ntarget = "MOD:nothing"\n', "has no attribute 'nothing'"),
        ('[scenario]\ntarget = "MOD:writers"\ninstrument = ["a b"]\n', "not a module or package"),
        (
            '[scenario]\nsystem = "agent_registry"\n[params]\nn = 2\n',
            "belongs to a target scenario",
        ),
    ],
)
def test_a_bad_target_file_names_the_key_and_the_fix(
    tmp_path: Path, target_module: str, text: str, phrase: str
) -> None:
    path = write(tmp_path, text.replace("MOD", target_module))
    with pytest.raises(ScenarioError, match=str(path)) as raised:
        load_scenario(path)
    assert phrase in str(raised.value)


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_file_not_in_utf8_is_a_scenario_error(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "case.toml"
    path.write_bytes(GOOD.replace("two users", "zwei Benutzer, Straße").encode(encoding))
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        load_scenario(path)


def test_a_target_fingerprint_changes_with_the_code(tmp_path: Path, target_module: str) -> None:
    path = write(tmp_path, f'[scenario]\ntarget = "{target_module}:writers"\n')
    before = load_scenario(path).fingerprint
    module = tmp_path / f"{target_module}.py"
    module.write_text(module.read_text().replace("box[0] = seen + 1", "box[0] = seen + 1  # x"))
    import importlib
    import sys

    importlib.reload(sys.modules[target_module])
    assert load_scenario(path).fingerprint != before
