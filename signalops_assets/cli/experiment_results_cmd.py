from __future__ import annotations

import json

import click

from signalops_assets.cli import common


@click.command("results")
@click.argument("experiment_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def results(experiment_id: str, fmt: str) -> None:
    """Analyse one experiment: the same result the experiment_analysis asset reports."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.experiments.analysis import analyze_experiment
    from signalops_assets.experiments.report import as_text

    with session_scope(common.engine()) as session:
        result = analyze_experiment(session, experiment_id)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        click.echo(as_text(result))
