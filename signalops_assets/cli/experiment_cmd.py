from __future__ import annotations

import click

from signalops_assets.cli import common
from signalops_assets.cli.experiment_results_cmd import results
from signalops_assets.vocab import ExperimentMode, ExperimentStatus, values


@click.group()
def experiment() -> None:
    """A/B experiments between two judges."""


experiment.add_command(results)


@experiment.command()
@click.option("--project", "project_id", required=True)
@click.option("--primary", required=True, help="The current judge model")
@click.option("--canary", required=True, help="The challenger judge model")
@click.option("--canary-pct", type=float, default=None, help="Share of posts (0-1) to the canary")
@click.option("--hypothesis", default="", help="What you expect the canary to change")
@click.option(
    "--mode", type=click.Choice(values(ExperimentMode)), default="split", show_default=True
)
def create(
    project_id: str,
    primary: str,
    canary: str,
    canary_pct: float | None,
    hypothesis: str,
    mode: str,
) -> None:
    """Start an experiment; prints only its id (for scripts)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.service import create_experiment, unregistered_models

    if canary_pct is None:  # the project's configured default, else 10%
        from signalops_assets.config import load_project, project_config_path

        path_exists = project_config_path(project_id).is_file()
        canary_pct = load_project(project_id).experiments.default_canary_pct if path_exists else 0.1
    with session_scope(common.engine()) as session:
        created = create_experiment(
            session, project_id, primary, canary, canary_pct, hypothesis=hypothesis, mode=mode
        )
        experiment_id = created.experiment_id
        missing = unregistered_models(session, primary, canary)
    for model in missing:
        click.echo(
            f"warning: {model} is not in the model registry, so the posts it was trained on "
            "(if any) cannot be excluded from the analysis (signalops model register "
            "--training-posts)",
            err=True,
        )
    click.echo(experiment_id)


@experiment.command("list")
@click.option("--project", "project_id", default=None)
@click.option("--status", type=click.Choice(values(ExperimentStatus)), default=None)
def list_(project_id: str | None, status: str | None) -> None:
    """Experiments with their judgments per arm so far."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.service import list_experiments
    from signalops_assets.reporting import text_table

    with session_scope(common.engine()) as session:
        found = list_experiments(session, project_id, status)
    if not found:
        click.echo("no experiments")
        return
    headers = [
        "id",
        "project",
        "primary",
        "canary",
        "pct",
        "mode",
        "status",
        "primary n",
        "canary n",
    ]
    rows = [
        [
            e.experiment_id,
            e.project_id,
            e.primary_model,
            e.canary_model,
            f"{e.canary_pct:.0%}" if e.mode == "split" else "all",
            e.mode,
            e.status + (" (promoted)" if "promoted" in e.metadata else ""),
            e.judgments.get("primary", 0),
            e.judgments.get("canary", 0),
        ]
        for e in found
    ]
    click.echo(text_table(headers, rows))


@experiment.command()
@click.argument("experiment_id")
def pause(experiment_id: str) -> None:
    """Route every post to the primary until resumed."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.service import pause_experiment

    with session_scope(common.engine()) as session:
        pause_experiment(session, experiment_id)
    click.echo(f"paused {experiment_id}")


@experiment.command()
@click.argument("experiment_id")
def resume(experiment_id: str) -> None:
    """Resume a paused experiment (fails if its project has another active one)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.service import resume_experiment

    with session_scope(common.engine()) as session:
        resume_experiment(session, experiment_id)
    click.echo(f"resumed {experiment_id}")


@experiment.command()
@click.argument("experiment_id")
@click.option("--promote", is_flag=True, help="Make the canary the project's judge")
@click.option("--force", is_flag=True, help="Promote although the verdict is not promote_canary")
@click.option("--reason", default=None, help="Why --force overrides the verdict (recorded)")
def stop(experiment_id: str, promote: bool, force: bool, reason: str | None) -> None:
    """Complete an experiment; --promote makes the canary the project's judge, only when the
    analysis says promote_canary (--force --reason TEXT overrides, and is recorded)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.errors import SignalOpsError
    from signalops_assets.experiments.service import stop_experiment

    if force and not promote:
        raise SignalOpsError("--force only applies with --promote")
    if force and not (reason or "").strip():
        raise SignalOpsError("--force needs --reason TEXT (it is recorded with the promotion)")
    if reason is not None and not force:
        raise SignalOpsError("--reason goes with --force")
    with session_scope(common.engine()) as session:
        stopped = stop_experiment(
            session, experiment_id, promote=promote, force_reason=reason if force else None
        )
        promoted = stopped.extra.get("promoted") if promote else None
    click.echo(f"stopped {experiment_id}")
    if promoted:
        click.echo(
            f"promoted {promoted['model']} as the judge of {stopped.project_id} "
            f"(previously {promoted['previous_judge']})"
        )
