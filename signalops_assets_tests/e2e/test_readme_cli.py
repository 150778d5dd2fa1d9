"""README's dagster CLI commands, run as written from the repository root against a running
`make dev`: they address the code location it serves (the sensor then ticks), and `make dev`
starts without a warning."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from signalops_assets_tests.e2e.conftest import REPO, DagsterStack, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

SENSOR_TICKS = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { id sensorState { status ticks(limit: 5) { status skipReason } } }
  }
}
"""
SCHEDULE_STATE = """
query ($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    ... on Schedule { id scheduleState { status } }
  }
}
"""
# Cleanup over GraphQL: another pair of CLI runs (a code server start each) costs minutes.
STOP = """
mutation ($sensor: String!, $schedule: String!) {
  stopSensor(id: $sensor) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
  }
  stopRunningSchedule(id: $schedule) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
  }
}
"""


def readme_commands() -> list[str]:
    """The shell block of README.md that starts the sensor."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    (block,) = [b for b in blocks if "dagster sensor start" in b]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_sensor_and_schedule_commands_reach_make_dev(
    dagster_stack: DagsterStack, tmp_path: Path
) -> None:
    stack = dagster_stack
    assert stack.location == "signalops_assets"
    commands = readme_commands()
    assert commands[0].startswith("export DAGSTER_HOME=")
    # The same commands against this test's instance instead of the checkout's.
    script = "\n".join(
        ["set -e", f"export DAGSTER_HOME={stack.env['DAGSTER_HOME']}", *commands[1:]]
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=stack.env, capture_output=True, text=True, timeout=840
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "draft_edits_sensor" in done.stdout

    def ticked() -> bool:
        data = stack.graphql(
            SENSOR_TICKS, {"selector": stack.selector(sensorName="draft_edits_sensor")}
        )
        state = data["sensorOrError"]["sensorState"]
        return state["status"] == "RUNNING" and bool(state["ticks"])

    wait_for("a draft_edits_sensor tick", ticked, 120, interval=2, on_fail=stack.log_tail())
    data = stack.graphql(
        SCHEDULE_STATE, {"selector": stack.selector(scheduleName="nightly_experiment_analysis")}
    )
    assert data["scheduleOrError"]["scheduleState"]["status"] == "RUNNING"
    # The instance is shared with the other e2e tests, which start from stopped schedules.
    sensor_id = stack.graphql(
        SENSOR_TICKS, {"selector": stack.selector(sensorName="draft_edits_sensor")}
    )["sensorOrError"]["id"]
    stopped = stack.graphql(STOP, {"sensor": sensor_id, "schedule": data["scheduleOrError"]["id"]})
    assert stopped["stopSensor"]["instigationState"]["status"] == "STOPPED", stopped
    assert stopped["stopRunningSchedule"]["scheduleState"]["status"] == "STOPPED", stopped


def test_make_dev_starts_without_warnings(dagster_stack: DagsterStack) -> None:
    log = dagster_stack.log.read_text(errors="replace")
    assert "Found a dagster instance configuration value" not in log
    # Dagster's run-retry daemon says once, on a brand-new instance only, that it starts
    # reading the event log from now ("No cursor for event type ..."): not a problem to fix.
    warnings = [
        line
        for line in log.splitlines()
        if "warning" in line.lower() and "No cursor for event type" not in line
    ]
    assert warnings == [], "\n".join(warnings)
