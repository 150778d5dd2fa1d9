"""`signalops experiment ...` on SQLite and PostgreSQL: scriptable output, one-line errors."""

from __future__ import annotations

import re
import shlex

from click.testing import CliRunner, Result
from sqlalchemy import Engine

from signalops_assets.cli import experiment_cmd
from signalops_assets.cli.main import cli
from signalops_assets.db.models import ABExperiment, Project
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.registry import get_model
from signalops_assets_tests.experiments.conftest import CANARY, PRIMARY

CREATE = f"create --project spectra --primary {PRIMARY} --canary {CANARY}"


def invoke(args: str) -> Result:
    return CliRunner().invoke(cli, ["experiment", *shlex.split(args)])


def one_line_error(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines


def test_create_prints_only_the_id(engine: Engine) -> None:
    result = invoke(f"{CREATE} --canary-pct 0.25 --hypothesis 'canary agrees more' --mode shadow")
    assert result.exit_code == 0, result.output
    experiment_id = result.stdout.strip()
    assert re.fullmatch(r"exp-\d{8}-[0-9a-f]{6}", experiment_id) and result.stdout.count("\n") == 1
    # Unregistered arms are allowed but warned about (on stderr, so scripts keep the id).
    assert f"warning: {PRIMARY} is not in the model registry" in result.stderr
    with session_scope(engine) as session:
        row = session.get(ABExperiment, experiment_id)
        assert row is not None
        assert (row.canary_pct, row.mode, row.hypothesis) == (0.25, "shadow", "canary agrees more")


def test_create_defaults_to_the_configured_canary_pct(engine: Engine) -> None:
    experiment_id = invoke(CREATE).stdout.strip()
    with session_scope(engine) as session:
        row = session.get(ABExperiment, experiment_id)
        assert row is not None and row.canary_pct == 0.1 and row.mode == "split"


def test_create_errors_are_one_line_exit_2(engine: Engine) -> None:
    one_line_error(invoke(f"{CREATE} --canary-pct 1.5"), "strictly between 0 and 1")
    one_line_error(invoke(f"{CREATE} --canary-pct 0"), "strictly between 0 and 1")
    one_line_error(
        invoke(f"create --project spectra --primary {PRIMARY} --canary {PRIMARY}"), "same model"
    )
    one_line_error(
        invoke(f"create --project ghost --primary {PRIMARY} --canary {CANARY} --canary-pct 0.1"),
        "unknown project 'ghost'",
    )
    first = invoke(CREATE).stdout.strip()
    one_line_error(invoke(CREATE), f"project spectra already has an active experiment {first}")


def test_lifecycle_and_list(engine: Engine) -> None:
    first = invoke(f"{CREATE} --canary-pct 0.2").stdout.strip()
    assert invoke(f"pause {first}").output.strip() == f"paused {first}"
    one_line_error(invoke(f"pause {first}"), f"cannot pause experiment {first}: it is paused")
    second = invoke(f"{CREATE} --mode shadow").stdout.strip()
    one_line_error(invoke(f"resume {first}"), f"already has an active experiment {second}")
    assert invoke(f"stop {second}").output.strip() == f"stopped {second}"
    assert invoke(f"resume {first}").output.strip() == f"resumed {first}"

    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    header, _, *lines = listed.output.strip().splitlines()
    assert header.split() == [
        "id", "project", "primary", "canary", "pct", "mode", "status", "primary", "n",
        "canary", "n",
    ]  # fmt: skip
    by_id = {line.split()[0]: line.split() for line in lines}
    assert by_id[first][4:7] == ["20%", "split", "active"]
    assert by_id[second][4:7] == ["all", "shadow", "completed"]
    assert by_id[first][-2:] == ["0", "0"]
    completed = invoke("list --status completed").output
    assert second in completed and first not in completed
    assert invoke("list --project other").output.strip() == "no experiments"
    one_line_error(invoke("stop exp-nope"), "unknown experiment 'exp-nope'")
    one_line_error(invoke(f"resume {second}"), "it is completed")


def test_stop_promote_needs_the_verdict_or_a_recorded_reason(engine: Engine) -> None:
    experiment_id = invoke(CREATE).stdout.strip()
    one_line_error(
        invoke(f"stop {experiment_id} --promote"),
        f"cannot promote {experiment_id}: the verdict is no_decision",
    )
    one_line_error(invoke(f"stop {experiment_id} --promote --force"), "--force needs --reason")
    one_line_error(invoke(f"stop {experiment_id} --reason x"), "--reason goes with --force")
    with session_scope(engine) as session:
        row = session.get(ABExperiment, experiment_id)
        project = session.get(Project, "spectra")
        assert row is not None and row.status == "active"  # refused: nothing changed
        assert project is None or project.judge_model_override is None
    result = invoke(f"stop {experiment_id} --promote --force --reason 'offline gate passed'")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"stopped {experiment_id}",
        f"promoted {CANARY} as the judge of spectra (previously local/keyword-judge)",
    ]
    assert "(promoted)" in invoke("list").output
    with session_scope(engine) as session:
        project = session.get(Project, "spectra")
        assert project is not None and project.judge_model_override == CANARY
        entry = get_model(session, CANARY)
        assert entry is not None and entry.is_active
        row = session.get(ABExperiment, experiment_id)
        assert row is not None
        promoted = row.extra["promoted"]
        assert promoted["forced"] and promoted["reason"] == "offline gate passed"
        assert promoted["verdict"] == "no_decision"
    one_line_error(invoke(f"stop {experiment_id} --promote"), "it is completed")


def test_an_arm_of_an_active_experiment_cannot_be_deactivated(engine: Engine) -> None:
    runner = CliRunner()
    registered = runner.invoke(
        cli, ["model", "register", "--model-id", CANARY, "--provider", "openai", "--type", "judge"]
    )
    assert registered.exit_code == 0, registered.output
    experiment_id = invoke(CREATE).stdout.strip()
    refused = runner.invoke(cli, ["model", "deactivate", CANARY])
    one_line_error(refused, f"is an arm of active experiment {experiment_id}")
    assert invoke(f"pause {experiment_id}").exit_code == 0
    assert runner.invoke(cli, ["model", "deactivate", CANARY]).exit_code == 0
    one_line_error(invoke(f"resume {experiment_id}"), "is deactivated in the registry")


def test_create_refuses_when_experiments_are_disabled(engine: Engine, isolated_env: object) -> None:
    from pathlib import Path

    path = Path(str(isolated_env)) / "projects" / "spectra.yaml"
    path.write_text(path.read_text() + "\nexperiments:\n  enabled: false\n")
    one_line_error(invoke(CREATE), "has experiments disabled")
    with session_scope(engine) as session:
        assert session.query(ABExperiment).count() == 0


def test_results_is_part_of_the_group() -> None:
    assert "results" in experiment_cmd.experiment.commands
