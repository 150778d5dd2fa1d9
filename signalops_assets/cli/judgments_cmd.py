from __future__ import annotations

from pathlib import Path

import click

from signalops_assets.cli import common


@click.group()
def judgments() -> None:
    """Human labels for judgments (the ground truth experiments are measured against)."""


@judgments.command("label")
@click.argument("judgment_id", type=common.ROW_ID)
@click.argument("label", type=click.Choice(["relevant", "irrelevant", "maybe"]))
def label(judgment_id: int, label: str) -> None:
    """Set the human label of a judgment (and of its post, for every judge)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.judging.labels import label_judgment

    with session_scope(common.engine()) as session:
        judgment = label_judgment(session, judgment_id, label)
        judge_label = judgment.label
    click.echo(f"judgment {judgment_id}: human label {label} (judge said {judge_label})")


@judgments.command("import-labels")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--project", "project_id", default=None, help="Resolve platform ids in this project")
def import_labels_cmd(file: Path, project_id: str | None) -> None:
    """Import labels from CSV or JSONL (label + judgment_id, post_id or platform_id)."""
    from signalops_assets.db.session import session_scope
    from signalops_assets.judging.labels import import_labels

    with session_scope(common.engine()) as session:
        report = import_labels(session, file, project_id)
    for line_no, message in report.bad_rows[:50]:
        click.echo(common.one_line(f"{file}:{line_no}: skipped: {message}"), err=True)
    if len(report.bad_rows) > 50:
        click.echo(f"... and {len(report.bad_rows) - 50} more bad rows", err=True)
    click.echo(f"applied {report.applied} labels ({len(report.bad_rows)} bad rows)")


@judgments.command("eval-dataset")
@click.option("--project", "project_id", required=True, help="The project whose labels to mirror")
@click.option(
    "--fraction",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=0.2,
    show_default=True,
    help="Share of posts held out for evaluation (stable hash of the post)",
)
def eval_dataset_cmd(project_id: str, fraction: float) -> None:
    """Mirror the held-out human-labelled posts to the Langfuse dataset <project>-judge-eval."""
    from signalops_assets.judging.eval_dataset import eval_dataset_name, mirror_eval_dataset
    from signalops_assets.llm.tracing import get_tracer

    common.project(project_id)
    if not get_tracer().enabled:
        click.echo("Langfuse tracing is off (LANGFUSE_* not set): nothing mirrored")
        return
    sent = mirror_eval_dataset(common.engine(), project_id, fraction)
    click.echo(
        f"{sent} held-out labelled posts in Langfuse dataset {eval_dataset_name(project_id)}"
    )
