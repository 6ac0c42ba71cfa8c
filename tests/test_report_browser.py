"""The HTML report in a real headless browser (Debian's ``chromium``).

A real failing scenario is explored with ``racesim explore``, and its report.html is loaded from a
file URL. The test asserts what a reader sees: the swimlane and happens-before drawings have been
laid out (non-zero size, a box per step), the replay command is on the page, and no script error
or blocked resource was reported. It saves a screenshot to reports/screenshots/report.png.

Without chromium the test is skipped on a developer machine and fails in CI (``CI`` set): install
it with ``apt-get install -y chromium``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sim import cli

if TYPE_CHECKING:
    from collections.abc import Sequence

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "reports" / "screenshots" / "report.png"

#: A reconnect during a run of the legacy system: the delivered events race (an order failure).
SCENARIO = """
[scenario]
description = "legacy: a reconnect while the agent runs lets a replayed event overtake a live one"
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

#: Injected first in <head>: records script errors and console errors on the root element.
HOOK = """<script>
(function () {
  var errors = [];
  var record = function (text) {
    errors.push(String(text));
    document.documentElement.setAttribute('data-errors', JSON.stringify(errors));
  };
  window.addEventListener('error', function (event) { record(event.message); });
  var original = console.error;
  console.error = function () { record([].join.call(arguments, ' ')); original.apply(console, arguments); };
  document.addEventListener('securitypolicyviolation', function (event) {
    record('blocked ' + event.blockedURI);
  });
})();
</script>"""

#: Injected last in <body>: measures what the browser actually laid out.
PROBE = """<script>
(function () {
  var measure = function (selector) {
    var svg = document.querySelector(selector);
    if (!svg) { return null; }
    var box = svg.getBoundingClientRect();
    return {width: box.width, height: box.height, steps: svg.querySelectorAll('g.step').length,
            nodes: svg.querySelectorAll('g.node').length, lit: svg.querySelectorAll('.lit').length};
  };
  var command = document.getElementById('replay-command');
  document.documentElement.setAttribute('data-probe', JSON.stringify({
    swimlane: measure('svg.swimlane'),
    hb: measure('svg.hbgraph'),
    replay: command ? command.textContent : null,
    replayVisible: command ? command.getBoundingClientRect().width > 0 : false
  }));
})();
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(
                "chromium is required in CI for the report test: apt-get install -y chromium"
            )
        pytest.skip("chromium is not installed (apt-get install -y chromium); required in CI")
    return found


def _browse(browser: str, profile: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    flags: Sequence[str] = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    )
    return subprocess.run(
        [browser, *flags, *extra, url],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "reconnect_during_run.toml").write_text(SCENARIO)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["explore", "--report-dir", "reports"]) == 0
    return tmp_path / "reports" / "reconnect_during_run" / "report.html"


def test_report_renders_in_a_real_browser_without_errors(report: Path, tmp_path: Path) -> None:
    browser = _chromium()
    result = json.loads((report.parent / "result.json").read_text())
    failure = result["failure"]
    assert failure["kind"] == "order"

    page = report.read_text()
    probed = report.with_name("probed.html")
    probed.write_text(
        page.replace("<head>", "<head>" + HOOK, 1).replace("</body>", PROBE + "</body>")
    )
    dom = _browse(browser, tmp_path / "profile-dom", probed.as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    errors = re.search(r'data-errors="([^"]*)"', dom.stdout)
    assert errors is None, errors and errors.group(1)
    probe_text = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert probe_text is not None, dom.stdout[:2000]
    probe = json.loads(probe_text.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    steps = len(failure["trace"]["steps"])
    assert probe["swimlane"]["steps"] == steps
    assert probe["swimlane"]["width"] > 300 and probe["swimlane"]["height"] > 30 * steps
    assert probe["swimlane"]["lit"] >= 2  # the blamed pair is drawn red
    assert probe["hb"]["nodes"] >= steps and probe["hb"]["height"] > 0
    assert probe["replay"] == failure["replay_command"] and probe["replayVisible"]

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shot = _browse(
        browser,
        tmp_path / "profile-shot",
        report.as_uri(),
        f"--screenshot={SCREENSHOT}",
        "--window-size=1280,1600",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert SCREENSHOT.stat().st_size > 20_000
    console = [line for line in shot.stderr.splitlines() if "CONSOLE" in line or "Refused" in line]
    assert not console, console
