"""The production path through a real `dagster dev`: jobs launched over GraphQL and run by the
daemon's queue, a reviewer's edit made with the CLI, the sensor (switched on over GraphQL)
re-exporting DPO data, and the nightly schedule switched on."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from signalops_assets_tests.e2e.conftest import REPO, DagsterStack, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

RUN_TIMEOUT_S = 180.0
SENSOR_TIMEOUT_S = 180.0
EDITED_TEXT = (
    "Thanks for the detailed write-up! `spectra trace -- your-service` shows where the p99 time "
    "goes across services and queries; happy to help you set it up. (I work on Spectra.)"
)

SENSORS_QUERY = """
query ($repo: RepositorySelector!) {
  repositoryOrError(repositorySelector: $repo) {
    ... on Repository {
      sensors { name minIntervalSeconds targets { pipelineName } sensorState { status } }
      schedules { name cronSchedule scheduleState { status } }
    }
  }
}
"""

START_SENSOR = """
mutation ($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { name sensorState { status } }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""

START_SCHEDULE = """
mutation ($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""

SCHEDULE_STATE = """
query ($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule { name scheduleState { status } }
  }
}
"""

ASSET_NODES = """
{ assetNodes { assetKey { path } assetMaterializations(limit: 1) { runId } } }
"""

SENSOR_RUNS = """
query ($sensor: String!) {
  runsOrError(filter: {tags: [{key: "dagster/sensor_name", value: $sensor}]}) {
    ... on Runs { results { runId status jobName } }
  }
}
"""


def run_to_success(stack: DagsterStack, job_name: str) -> str:
    """Submit `job_name` through the GraphQL client and poll until it succeeds."""
    from dagster import DagsterRunStatus

    client = stack.client()
    started = time.monotonic()
    run_id: str = client.submit_job_execution(job_name)
    final = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

    def finished() -> DagsterRunStatus | None:
        status: DagsterRunStatus = client.get_run_status(run_id)
        return status if status in final else None

    status = wait_for(f"{job_name} run {run_id}", finished, RUN_TIMEOUT_S, on_fail=stack.log_tail())
    assert status == DagsterRunStatus.SUCCESS, f"{job_name} ended {status}{stack.log_tail()}"
    stack.timings[job_name + "_s"] = time.monotonic() - started
    return run_id


def sample_posts(stack: DagsterStack, count: int = 60) -> Path:
    """The sample's first posts: each run judges and drafts all of them, and no assertion here
    depends on how many there are (only that some are relevant and get a draft)."""
    lines = (REPO / "data" / "sample" / "posts.jsonl").read_text().splitlines()[:count]
    path = stack.root / "posts_sample.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def dpo_files(stack: DagsterStack) -> dict[str, str | None]:
    """The contents of every dpo train/eval file under the export dir (None if missing)."""
    found: dict[str, str | None] = {}
    for name in ("train.jsonl", "eval.jsonl"):
        path = stack.export_dir / "spectra" / "dpo" / name
        found[name] = path.read_text() if path.exists() else None
    return found


def pending_draft_id(listing: str) -> int:
    """The first draft id in `signalops drafts list` output (a table or one draft per line)."""
    for line in listing.splitlines():
        match = re.match(r"\s*#?(\d+)\b", line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"no pending draft in:\n{listing}")


def test_jobs_sensor_and_schedule_through_the_webserver(dagster_stack: DagsterStack) -> None:
    stack = dagster_stack
    repo = {"repositoryLocationName": stack.location, "repositoryName": stack.repository}
    stack.cli("db", "upgrade")  # only `db upgrade` creates a new SQLite file
    imported = stack.cli("posts", "import", str(sample_posts(stack)), "--project", "spectra")
    assert "imported" in imported.stdout

    run_to_success(stack, "judging_job")
    run_to_success(stack, "dpo_export_job")
    before = dpo_files(stack)

    listing = stack.cli("drafts", "list", "--status", "pending", "--project", "spectra").stdout
    draft_id = pending_draft_id(listing)
    stack.cli("drafts", "edit", str(draft_id), "--text", EDITED_TEXT, "--no-collect-dpo")

    # The sensor that requests dpo_export_job, found by its target rather than by name.
    repository = stack.graphql(SENSORS_QUERY, {"repo": repo})["repositoryOrError"]
    sensors = [
        s
        for s in repository["sensors"]
        if "dpo_export_job" in {t["pipelineName"] for t in s["targets"]}
    ]
    assert sensors, f"no sensor targets dpo_export_job: {repository['sensors']}"
    sensor = sensors[0]
    assert sensor["minIntervalSeconds"] == 5, "SIGNALOPS_SENSOR_INTERVAL_S is not honoured"
    started = time.monotonic()
    result = stack.graphql(START_SENSOR, {"selector": stack.selector(sensorName=sensor["name"])})
    assert result["startSensor"]["__typename"] == "Sensor", result
    assert result["startSensor"]["sensorState"]["status"] == "RUNNING"

    def sensor_run_succeeded() -> bool:
        runs = stack.graphql(SENSOR_RUNS, {"sensor": sensor["name"]})["runsOrError"]["results"]
        failed = [r for r in runs if r["status"] in {"FAILURE", "CANCELED"}]
        assert not failed, f"sensor run failed: {failed}{stack.log_tail()}"
        return any(r["status"] == "SUCCESS" for r in runs)

    wait_for("the sensor's run", sensor_run_succeeded, SENSOR_TIMEOUT_S, on_fail=stack.log_tail())
    stack.timings["sensor_to_export_s"] = time.monotonic() - started
    after = dpo_files(stack)
    assert after != before, "dpo_jsonl did not change after the sensor's run"
    exported = "".join(text or "" for text in after.values())
    assert "spectra trace -- your-service" in exported

    schedules = {s["name"]: s for s in repository["schedules"]}
    assert "nightly_experiment_analysis" in schedules
    assert schedules["nightly_experiment_analysis"]["scheduleState"]["status"] == "STOPPED"
    selector = stack.selector(scheduleName="nightly_experiment_analysis")
    started_schedule = stack.graphql(START_SCHEDULE, {"selector": selector})["startSchedule"]
    assert started_schedule["__typename"] == "ScheduleStateResult", started_schedule
    state: dict[str, Any] = stack.graphql(SCHEDULE_STATE, {"selector": selector})
    assert state["scheduleOrError"]["scheduleState"]["status"] == "RUNNING"

    # Every run above wrote its materializations into this instance's storage.
    nodes = stack.graphql(ASSET_NODES)["assetNodes"]
    materialized = {"/".join(n["assetKey"]["path"]): n["assetMaterializations"] for n in nodes}
    for name in ("judged_posts", "ab_results", "drafts", "preference_pairs", "dpo_jsonl"):
        assert materialized.get(name), f"{name} missing or never materialized: {materialized}"
    assert (Path(stack.env["DAGSTER_HOME"]) / "history" / "runs.db").exists()
    print(f"\ne2e timings: {stack.timings}")


MATERIALIZATIONS = """
query ($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 20) {
        runId
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}
"""
# Each chart of the asset page's metadata plots: its title (the metadata key) and the points it
# draws, read from the chart component's props (a canvas has no text to read).
PLOTTED_JS = """
(() => {
  const out = {};
  for (const canvas of document.querySelectorAll('canvas')) {
    let box = canvas;
    for (let i = 0; i < 4 && box.parentElement; i++) box = box.parentElement;
    const title = (box.innerText || '').trim().split('\\n')[0];
    const key = Object.keys(canvas).find(k => k.startsWith('__reactFiber'));
    let fiber = key ? canvas[key] : null;
    for (let i = 0; i < 10 && fiber; i++, fiber = fiber.return) {
      const data = fiber.memoizedProps && fiber.memoizedProps.data;
      if (data && data.datasets) { out[title] = data.datasets[0].data.map(p => p.y); break; }
    }
  }
  return out;
})()
"""
CLICK_PLOTS_JS = """
(() => {
  const plots = [...document.querySelectorAll('button')]
    .filter(b => b.textContent.trim() === 'Plots');
  plots.forEach(b => b.click());
  return plots.length;
})()
"""
ARM_KEY = "spectra/primary/judgments"


def page_text(browser: Any, url: str, wanted: str) -> str:
    from signalops_assets_tests.e2e.test_browser import DISMISS_DIALOG_JS

    browser.call("Page.navigate", url=url)

    def shown() -> str:
        browser.evaluate(DISMISS_DIALOG_JS)
        text = str(browser.evaluate("document.body.innerText") or "")
        return text if wanted in text else ""

    return str(wait_for(f"{wanted!r} on {url}", shown, 90, interval=0.5))


def test_asset_pages_show_arms_plots_and_checks(
    dagster_stack: DagsterStack, browser: Any, tmp_path: Path
) -> None:
    """In Chromium: judged_posts's page shows the per-arm figures of its latest run, plots
    a per-arm figure over every materialization, and its check's page shows the metadata."""
    stack = dagster_stack
    key = {"key": {"path": ["judged_posts"]}}

    def materializations() -> list[dict[str, Any]]:
        found = stack.graphql(MATERIALIZATIONS, key)["assetOrError"]["assetMaterializations"]
        return list(found)

    if not materializations():
        stack.cli("db", "upgrade")
        stack.cli("posts", "import", str(sample_posts(stack)), "--project", "spectra")
    while len(materializations()) < 2:  # the second run judges nothing: totals, not zeros
        run_to_success(stack, "judging_job")
    history = [
        {e["label"]: e.get("intValue") for e in m["metadataEntries"]} for m in materializations()
    ]
    latest = history[0][ARM_KEY]
    assert latest and all(h[ARM_KEY] == latest for h in history)
    try:
        overview = page_text(browser, f"{stack.base_url}/assets/judged_posts", ARM_KEY)
        # The metadata table: the figure with its timestamp, then its value; by_arm's row.
        assert re.search(rf"{re.escape(ARM_KEY)}\s*\n[^\n]+\n\s*{latest}\b", overview), overview
        assert re.search(rf"spectra\s+primary\s+{latest}\b", overview), overview
        assert browser.evaluate(CLICK_PLOTS_JS) >= 1

        def plotted() -> dict[str, list[float]]:
            series: dict[str, list[float]] = browser.evaluate(PLOTTED_JS) or {}
            return series if ARM_KEY in series else {}

        series = wait_for("the metadata plots", plotted, 60, interval=0.5)
        # One point per materialization, the same figure each time (the no-op run kept it).
        assert series[ARM_KEY] == [latest] * len(history), series
        assert "failure_rate" in series

        checks = page_text(
            browser, f"{stack.base_url}/assets/judged_posts?view=checks", "Evaluation result"
        )
        assert "judged_posts_failure_rate" in checks
        assert re.search(r"threshold\s*\n\s*0\.05\b", checks), checks
        assert re.search(r"failure_rate\s*\n\s*0\b", checks), checks
    finally:
        print(f"\nscreenshot: {browser.screenshot(tmp_path / 'asset_page.png')}")
